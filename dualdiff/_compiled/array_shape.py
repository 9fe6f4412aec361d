"""Shape operations on dual arrays inside compiled code.

``reshape`` (method and ``np.reshape``), ``.T``/``transpose``, ``ravel``/
``flatten``, ``np.concatenate`` and ``np.stack`` (of dual arrays, and float
arrays lifted to constant duals), boolean-mask and integer-array indexing of
1-D and 2-D dual arrays.  Everything works on the float store: the trailing
axis (value and partials) is never reshaped or transposed.
"""

import operator

import numpy as np

from .array import DualArrayType, wrap_dual_array
from .array_ops import contiguous, operand_kind, result_dtype
from .array_reduce import _axis, _no_axis
from .compat import (
    lower_builtin, overload, overload_attribute, overload_method, register_jitable, types,
)

__all__ = []


def _shape_tuple(shape):
    """Source of the new store shape for a reshape argument type, or None."""
    if isinstance(shape, types.Integer):
        return "(shape, K)"
    if isinstance(shape, types.BaseTuple) and len(shape) > 0 \
            and all(isinstance(t, types.Integer) for t in shape):
        items = ", ".join(f"shape[{i}]" for i in range(len(shape)))
        return f"({items}, K)"
    return None


def _reshape_impl(x, shape):
    new = _shape_tuple(shape)
    if not isinstance(x, DualArrayType) or new is None:
        return None
    src = ("def impl(x, shape):\n"
           "    d = contiguous(x.data)\n"
           f"    return wrap_dual_array(d.reshape({new.replace('K', str(x.width))}), x)\n")
    ns = {"np": np, "wrap_dual_array": wrap_dual_array, "contiguous": contiguous}
    exec(compile(src, "<dualdiff reshape>", "exec"), ns)
    return ns["impl"]


@overload(np.reshape)
def _np_reshape(x, shape):
    return _reshape_impl(x, shape)


@overload_method(DualArrayType, "reshape")
def _reshape(x, shape, n1=None):
    if _no_axis(n1):
        impl = _reshape_impl(x, shape)
        if impl is not None:
            impl = register_jitable(impl)
            return lambda x, shape, n1=None: impl(x, shape)
    elif isinstance(shape, types.Integer) and isinstance(n1, types.Integer):
        impl = register_jitable(_reshape_impl(x, types.UniTuple(types.intp, 2)))
        return lambda x, shape, n1=None: impl(x, (shape, n1))


def _transpose_impl(x):
    if not isinstance(x, DualArrayType) or x.ndim > 2:
        return None
    if x.ndim == 1:
        return lambda x: x
    return lambda x: wrap_dual_array(x.data.transpose((1, 0, 2)), x)


overload_attribute(DualArrayType, "T")(_transpose_impl)
overload_method(DualArrayType, "transpose")(_transpose_impl)
overload(np.transpose)(_transpose_impl)


def _ravel_impl(x):
    if isinstance(x, DualArrayType):
        K = x.width
        return lambda x: wrap_dual_array(contiguous(x.data).reshape((-1, K)), x)


overload_method(DualArrayType, "ravel")(_ravel_impl)


# Numba's own typing of np.ravel accepts any type with a ``copy(ndim, layout)``
# method (as DualArrayType has), so np.ravel(dual_array) is typed there and
# only its lowering is ours.
@lower_builtin(np.ravel, DualArrayType)
def _np_ravel(context, builder, sig, args):
    return context.compile_internal(builder, lambda x: x.ravel(), sig, args)


@overload_method(DualArrayType, "flatten")
def _flatten(x):
    if isinstance(x, DualArrayType):
        K = x.width
        return lambda x: wrap_dual_array(x.data.copy().reshape((-1, K)), x)


# ---------------------------------------------------------------------------
# Joining: np.concatenate, np.stack
# ---------------------------------------------------------------------------

def store_of(a, like):
    """The float store of ``a`` as duals of ``like``'s type (compiled only)."""
    raise NotImplementedError


@overload(store_of)
def _store_of(a, like):
    if isinstance(a, DualArrayType) and a.dtype == like.dtype:
        return lambda a, like: a.data
    if operand_kind(a) == "farr":
        K = like.width

        def impl(a, like):
            flat = np.zeros((a.size, K))
            flat[:, 0] = contiguous(a).reshape(a.size)
            return flat.reshape(a.shape + (K,))
        return impl


# Numba's np.concatenate of a tuple of differently-typed arrays compiles in
# time that grows faster than the tuple (8 s for 16 parts, measured); these
# copy each part with one small loop helper per part type.

@register_jitable
def _put2(out, s, ax, off):
    # a 1-D dual store s (n, K) into out at offset off along axis 0
    for i in range(s.shape[0]):
        for k in range(s.shape[1]):
            out[off + i, k] = s[i, k]
    return off + s.shape[0]


@register_jitable
def _put3(out, s, ax, off):
    # a 2-D dual store s (n0, n1, K) into out at offset off along axis ax
    n0, n1, K = s.shape
    if (ax == 0 and n1 != out.shape[1]) or (ax == 1 and n0 != out.shape[0]):
        raise ValueError("all the input array dimensions except for the "
                         "concatenation axis must match exactly")
    for i in range(n0):
        for j in range(n1):
            for k in range(K):
                if ax == 0:
                    out[off + i, j, k] = s[i, j, k]
                else:
                    out[i, off + j, k] = s[i, j, k]
    return off + (n0 if ax == 0 else n1)


@register_jitable
def _with_unit_axis(s, ax):
    # the store of a 1-D dual array (n, K) as (1, n, K) or (n, 1, K)
    c = contiguous(s)
    shape = (1, c.shape[0], c.shape[1]) if ax == 0 else (c.shape[0], 1, c.shape[1])
    return c.reshape(shape)


def _join(arrays, stack):
    if not isinstance(arrays, types.BaseTuple) or len(arrays) == 0:
        return None
    if not all(operand_kind(t) in ("darr", "farr") for t in arrays):
        return None
    if not any(isinstance(t, DualArrayType) for t in arrays):
        return None
    ndims = {t.ndim for t in arrays}
    dtype = result_dtype(tuple(arrays))
    if len(ndims) != 1 or dtype is None or any(
            isinstance(t, DualArrayType) and t.dtype != dtype for t in arrays):
        return None
    nd = ndims.pop()
    if nd + stack > 2:
        return None
    out_nd = nd + stack
    like = next(i for i, t in enumerate(arrays) if isinstance(t, DualArrayType))
    count = len(arrays)
    lines = ["def impl(arrays, axis=0):", f"    ax = _axis(axis, {out_nd})"]
    for i in range(count):
        store = f"store_of(arrays[{i}], arrays[{like}])"
        lines.append(f"    s{i} = _with_unit_axis({store}, ax)" if stack else f"    s{i} = {store}")
    total = " + ".join(f"s{i}.shape[ax]" for i in range(count))
    K = dtype.width
    if out_nd == 1:
        lines.append(f"    out = np.empty(({total}, {K}))")
    else:
        lines.append(f"    total = {total}")
        lines.append(f"    shape = (total, s0.shape[1], {K}) if ax == 0 "
                     f"else (s0.shape[0], total, {K})")
        lines.append("    out = np.empty(shape)")
    lines.append("    off = 0")
    put = "_put2" if out_nd == 1 else "_put3"
    lines += [f"    off = {put}(out, s{i}, ax, off)" for i in range(count)]
    lines.append(f"    return wrap_dual_array(out, arrays[{like}])")
    ns = {"np": np, "wrap_dual_array": wrap_dual_array, "store_of": store_of, "_axis": _axis,
          "_put2": _put2, "_put3": _put3, "_with_unit_axis": _with_unit_axis}
    exec(compile("\n".join(lines) + "\n", "<dualdiff join>", "exec"), ns)
    return ns["impl"]


@overload(np.concatenate)
def _concatenate(arrays, axis=0):
    return _join(arrays, 0)


@overload(np.stack)
def _stack(arrays, axis=0):
    return _join(arrays, 1)


# ---------------------------------------------------------------------------
# Masks and index arrays
# ---------------------------------------------------------------------------

@overload(operator.getitem)
def _getitem_array(x, idx):
    if not isinstance(x, DualArrayType) or not isinstance(idx, types.Array):
        return None
    K = x.width
    if isinstance(idx.dtype, types.Boolean) and idx.ndim == x.ndim:
        def mask_impl(x, idx):
            if idx.shape != x.shape:
                raise IndexError("boolean index does not match the dual array's shape")
            flat = contiguous(x.data).reshape((-1, K))
            m = contiguous(idx).reshape(-1)
            out = np.empty((np.count_nonzero(m), K))
            r = 0
            for i in range(m.size):
                if m[i]:
                    out[r, :] = flat[i, :]
                    r += 1
            return wrap_dual_array(out, x)
        return mask_impl
    if isinstance(idx.dtype, types.Integer) and idx.ndim == 1:
        def take_impl(x, idx):
            n = x.shape[0]
            rows = np.empty(len(idx), np.intp)
            for i in range(len(idx)):
                j = idx[i] + n if idx[i] < 0 else idx[i]
                if j < 0 or j >= n:
                    raise IndexError("index out of range for dual array")
                rows[i] = j
            return wrap_dual_array(x.data[rows], x)
        return take_impl
    return None
