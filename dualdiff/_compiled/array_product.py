"""Products of dual arrays inside compiled code: ``np.dot``, ``@``,
``x.dot(y)``, ``np.matmul``, ``np.vdot`` and ``np.inner``.

A float matrix times a dual vector or matrix is ONE BLAS call over the value
and every partial: the float store of shape ``(n, K)`` (or ``(n, p*K)``) is
multiplied as a matrix.  Dual times float is one BLAS call on the transposed
store; dual times dual uses the product rule (two BLAS calls) for
first-order duals and a loop for nested ones.
"""

import operator

import numpy as np

from .array import DualArrayType, load_row, wrap_dual_array
from .array_ops import contiguous, operand_kind, result_dtype, swap_last, zero_like
from .array_reduce import _is_dual_array
from .compat import overload, overload_method, register_jitable, types

__all__ = []

_MATMUL_MSG = "matmul: the inner dimensions of the operands differ"


# ---------------------------------------------------------------------------
# Products: dot and matmul
# ---------------------------------------------------------------------------

@register_jitable
def _check_inner(n1, n2):
    if n1 != n2:
        raise ValueError(_MATMUL_MSG)


@register_jitable
def _gemm(A, B):
    # every BLAS call goes through this one signature (2-D C float64 arrays)
    return np.dot(A, B)


def _fmatrix(a, row):
    """The float operand as a 2-D C float64 matrix; a vector becomes one row
    (``row=True``) or one column (compiled only)."""
    raise NotImplementedError


@overload(_fmatrix)
def _fmatrix_impl(a, row):
    if not isinstance(a, types.Array):
        return None
    if a.ndim == 2:
        return lambda a, row: contiguous(a, np.float64)

    def impl(a, row):
        c = contiguous(a, np.float64)
        return c.reshape((1, c.shape[0])) if row else c.reshape((c.shape[0], 1))
    return impl


def _store3(x):
    """The store of a dual matrix (m, n, K), or of a vector as (1, n, K) (compiled only)."""
    raise NotImplementedError


@overload(_store3)
def _store3_impl(x):
    if x.ndim == 2:
        return lambda x: contiguous(x.data)
    return lambda x: contiguous(x.data).reshape((1, x.data.shape[0], x.data.shape[1]))


# float @ dual: linear in the dual operand, so the value and every partial
# are multiplied by the same matrix: ONE BLAS call on the store seen as (n, p*K)

_FLOAT_DUAL = """
def product(a, x):
    A = _fmatrix(a, True)
    d = contiguous(x.data)
    n = d.shape[0]
    K = d.shape[d.ndim - 1]
    _check_inner(A.shape[1], n)
    r = _gemm(A, d.reshape((n, d.size // n)))
    return {result}
"""

# dual @ float: the store (m, n, K) with its last two axes swapped is the
# matrix (m*K, n) of all components; ONE BLAS call, then swap back

_DUAL_FLOAT = """
def product(x, b):
    d = _store3(x)
    m, n, K = d.shape
    B = _fmatrix(b, False)
    _check_inner(n, B.shape[0])
    p = B.shape[1]
    r = swap_last(_gemm(swap_last(d).reshape((m * K, n)), B).reshape((m, K, p)))
    return {result}
"""

_RESULTS = {  # (ndim of the left, ndim of the right) -> result from r
    "float_dual": {(2, 1): "wrap_dual_array(r, x)",
                   (2, 2): "wrap_dual_array(r.reshape((A.shape[0], d.shape[1], K)), x)",
                   (1, 1): "load_row(r.reshape(K), x)",
                   (1, 2): "wrap_dual_array(r.reshape((d.shape[1], K)), x)"},
    "dual_float": {(2, 2): "wrap_dual_array(r, x)",
                   (2, 1): "wrap_dual_array(r.reshape((m, K)), x)",
                   (1, 2): "wrap_dual_array(r.reshape((p, K)), x)",
                   (1, 1): "load_row(r.reshape(K), x)"},
}

_product_cache = {}


def _linear_product(order, nd):
    key = (order, nd)
    if key not in _product_cache:
        template = _FLOAT_DUAL if order == "float_dual" else _DUAL_FLOAT
        ns = {"np": np, "_fmatrix": _fmatrix, "_store3": _store3, "contiguous": contiguous,
              "swap_last": swap_last, "_gemm": _gemm, "_check_inner": _check_inner,
              "wrap_dual_array": wrap_dual_array, "load_row": load_row}
        src = template.format(result=_RESULTS[order][nd])
        exec(compile(src, f"<dualdiff {order} product {nd}>", "exec"), ns)
        _product_cache[key] = register_jitable(ns["product"])
    return _product_cache[key]


def _values(x):
    raise NotImplementedError


@overload(_values)
def _values_impl(x):
    # the primal values of a first-order dual array, as a C float array
    if isinstance(x, DualArrayType):
        if x.ndim == 1:
            def impl1(x):
                out = np.empty(len(x))
                for i in range(len(x)):
                    out[i] = x.data[i, 0]
                return out
            return impl1

        def impl2(x):
            m, n = x.shape
            out = np.empty((m, n))
            for i in range(m):
                for j in range(n):
                    out[i, j] = x.data[i, j, 0]
            return out
        return impl2


@register_jitable
def _add_partials(t1, t2):
    # (X @ Y)' = X' @ Y + X @ Y': t1 = X @ values(Y) carries X's partials and
    # the value, t2 = values(X) @ Y carries Y's; the value is counted once
    a = t1.reshape((-1, t1.shape[t1.ndim - 1]))
    b = t2.reshape((-1, t2.shape[t2.ndim - 1]))
    out = np.empty(a.shape)
    for i in range(a.shape[0]):
        out[i, 0] = a[i, 0]
        for k in range(1, a.shape[1]):
            out[i, k] = a[i, k] + b[i, k]
    return out.reshape(t1.shape)


def _blas_product(a, b):
    """The BLAS implementation for operand types ``a @ b`` (ndim 1 or 2), or None."""
    ka, kb = operand_kind(a), operand_kind(b)
    if not (ka in ("darr", "farr") and kb in ("darr", "farr") and a.ndim in (1, 2)
            and b.ndim in (1, 2)):
        return None
    nd = (a.ndim, b.ndim)
    if (ka, kb) == ("farr", "darr"):
        return _linear_product("float_dual", nd)
    if (ka, kb) == ("darr", "farr"):
        return _linear_product("dual_float", nd)
    if (ka, kb) == ("darr", "darr") and a.dtype == b.dtype \
            and isinstance(a.dtype.base, types.Float) and nd != (1, 1):
        left = _linear_product("dual_float", nd)
        right = _linear_product("float_dual", nd)

        def product_rule(x, y):
            t1 = left(x, _values(y))
            t2 = right(_values(x), y)
            return wrap_dual_array(_add_partials(t1.data, t2.data), x)
        return register_jitable(product_rule)
    return None


_LOOP_PRODUCT = {
    (1, 1): """
def product(a, b):
    _check_inner(len(a), len(b))
    s = z0
    for k in range(len(a)):
        s = s + a[k] * b[k]
    return s
""",
    (2, 1): """
def product(a, b):
    m, n = a.shape
    _check_inner(n, len(b))
    out = wrap_dual_array(np.empty((m, K)), LIKE)
    for i in range(m):
        s = z0
        for k in range(n):
            s = s + a[i, k] * b[k]
        out[i] = s
    return out
""",
    (1, 2): """
def product(a, b):
    n, p = b.shape
    _check_inner(len(a), n)
    out = wrap_dual_array(np.empty((p, K)), LIKE)
    for j in range(p):
        s = z0
        for k in range(n):
            s = s + a[k] * b[k, j]
        out[j] = s
    return out
""",
    (2, 2): """
def product(a, b):
    m, n = a.shape
    n2, p = b.shape
    _check_inner(n, n2)
    out = wrap_dual_array(np.empty((m, p, K)), LIKE)
    for i in range(m):
        for j in range(p):
            s = z0
            for k in range(n):
                s = s + a[i, k] * b[k, j]
            out[i, j] = s
    return out
""",
}


def _loop_product(a, b):
    """Loops over scalar dual products: any mix of element types, nested duals."""
    if not (operand_kind(a) in ("darr", "farr") and operand_kind(b) in ("darr", "farr")
            and a.ndim in (1, 2) and b.ndim in (1, 2)):
        return None
    dtype = result_dtype((a, b))
    if dtype is None:
        return None
    like = "a" if isinstance(a, DualArrayType) and a.dtype == dtype else "b"
    src = _LOOP_PRODUCT[(a.ndim, b.ndim)].replace("z0", f"zero_like({like})")
    src = src.replace("LIKE", like).replace("K)", f"{dtype.width})")
    ns = {"np": np, "zero_like": zero_like, "wrap_dual_array": wrap_dual_array,
          "_check_inner": _check_inner}
    exec(compile(src, f"<dualdiff loop product {a.ndim}x{b.ndim}>", "exec"), ns)
    return register_jitable(error_model="numpy")(ns["product"])


def _product(a, b):
    if not (isinstance(a, DualArrayType) or isinstance(b, DualArrayType)):
        return None
    kernel = _blas_product(a, b) or _loop_product(a, b)
    if kernel is not None:
        return lambda a, b: kernel(a, b)


overload(np.dot)(_product)
overload_method(DualArrayType, "dot")(_product)


@overload(np.matmul)
@overload(operator.matmul)
def _matmul(a, b):
    return _product(a, b)


@overload(np.vdot)
def _vdot(a, b):
    if _is_dual_array(a, (1,)) or _is_dual_array(b, (1,)):
        if getattr(a, "ndim", 0) == 1 and getattr(b, "ndim", 0) == 1:
            return _product(a, b)


@overload(np.inner)
def _inner(a, b):
    return _vdot(a, b)

