"""Compiled drivers: seed a dual input, call the user's function, extract.

A driver is generated per (user function, sweep kind, chunk size) as Python
source and compiled with the user's dispatcher bound as a global, so Numba
specialises and inlines the call.  Results are always returned as a flat
``(m, K)`` float array plus the output's shape, whatever the function
returned (a float, a dual, a dual array, a float array, a tuple or a list).
"""

import functools

import numpy as np

from .._compiled.array import DualArrayType, store_row, wrap_dual_array
from .._compiled.dual import DualType, convert_to, make_dual
from .._compiled.compat import numba, overload, types
from .._compiled.buffers import empty, empty_int, zeros
from .diskcache import cached_njit
from .forms import with_defaults

__all__ = ["describe_output", "build_driver"]

_REALS = (types.Integer, types.Float, types.Boolean)
# the drivers allocate through these (cached once per machine: see buffers.py)
_ALLOCATORS = {"zeros": zeros, "empty": empty, "empty_int": empty_int}


# ---------------------------------------------------------------------------
# What the user's function may return
# ---------------------------------------------------------------------------

def _is_scalar_like(t, proto):
    return t == proto or isinstance(t, _REALS)


def describe_output(return_type, proto):
    """None if ``return_type`` is a supported output for duals ``proto``, else
    a sentence saying what was returned."""
    t = return_type
    if _is_scalar_like(t, proto):
        return None
    if isinstance(t, DualArrayType) and t.dtype == proto:
        return None
    if isinstance(t, types.Array) and isinstance(t.dtype, _REALS):
        return None
    if isinstance(t, types.BaseTuple) and len(t) > 0 and all(_is_scalar_like(e, proto) for e in t):
        return None
    if isinstance(t, types.List) and _is_scalar_like(t.dtype, proto):
        return None
    if isinstance(t, DualType):
        return f"a dual number of another kind ({t}, expected {proto})"
    return f"a value of Numba type {t}"


def to_flat(y, proto):
    raise NotImplementedError


def out_shape(y):
    raise NotImplementedError


def _put(out, row, value):
    raise NotImplementedError


@overload(_put)
def _put_impl(out, row, value):
    if isinstance(value, DualType):
        return lambda out, row, value: store_row(out[row], value)
    if isinstance(value, _REALS):
        def impl(out, row, value):
            out[row, 0] = value
        return impl


@overload(to_flat)
def _to_flat(y, proto):
    K = proto.width
    if _is_scalar_like(y, proto):
        def impl(y, proto):
            out = zeros((1, K))
            _put(out, 0, y)
            return out
        return impl
    if isinstance(y, DualArrayType):
        def impl(y, proto):
            data = np.ascontiguousarray(y.data)
            return data.reshape((data.size // K, K))
        return impl
    if isinstance(y, types.Array):
        def impl(y, proto):
            flat = y.ravel()
            out = zeros((flat.size, K))
            for i in range(flat.size):
                out[i, 0] = flat[i]
            return out
        return impl
    if isinstance(y, types.BaseTuple):
        count = len(y)
        lines = ["def impl(y, proto):", f"    out = zeros(({count}, {K}))"]
        lines += [f"    _put(out, {i}, y[{i}])" for i in range(count)]
        lines.append("    return out")
        namespace = {"zeros": zeros, "_put": _put}
        exec("\n".join(lines) + "\n", namespace)
        return namespace["impl"]
    if isinstance(y, types.List):
        def impl(y, proto):
            out = zeros((len(y), K))
            for i in range(len(y)):
                _put(out, i, y[i])
            return out
        return impl


@overload(out_shape)
def _out_shape(y):
    if isinstance(y, (DualType,) + _REALS):
        return lambda y: empty_int(0)
    if isinstance(y, (DualArrayType, types.Array)):
        nd = y.ndim

        def impl(y):
            shape = empty_int(nd)
            for i in range(nd):
                shape[i] = y.shape[i]
            return shape
        return impl
    if isinstance(y, types.BaseTuple):
        count = len(y)
        return lambda y: np.full(1, count, np.int64)
    if isinstance(y, types.List):
        return lambda y: np.full(1, len(y), np.int64)


def scalar_sweep_result(y, proto):
    raise NotImplementedError


def chunked_result(value, jac, shape, y):
    raise NotImplementedError


@overload(scalar_sweep_result)
def _scalar_sweep_result(y, proto):
    # a scalar output comes back as (value, partials tuple): boxing two floats
    # costs far less than boxing three arrays
    if _is_scalar_like(y, proto):
        def impl(y, proto):
            d = convert_to(y, proto)
            return d.value, d.partials
        return impl

    def impl(y, proto):
        flat = to_flat(y, proto)
        return flat[:, 0].copy(), flat[:, 1:].copy(), out_shape(y)
    return impl


@overload(chunked_result)
def _chunked_result(value, jac, shape, y):
    if isinstance(y, (DualType,) + _REALS):
        return lambda value, jac, shape, y: (value[0], jac[0])
    return lambda value, jac, shape, y: (value, jac, shape)


@numba.njit(cache=True)
def check_input_kept(data, x):
    """Drivers that sweep several times reuse one input buffer: refuse a
    function that wrote into its input, whose later sweeps would start from
    the modified x (a wrong derivative otherwise).  (Cached by Numba: it
    depends on nothing of the user's.)"""
    for i in range(x.shape[0]):
        a = data[i, 0]
        b = x[i]
        if a != b and not (a != a and b != b):
            raise ValueError("f modified its input x in place, and dualdiff evaluates f "
                             "several times on the same x: copy it first (x = x.copy()) "
                             "or use mode='reverse'")


# ---------------------------------------------------------------------------
# Driver sources
# ---------------------------------------------------------------------------
# {N}: lanes per sweep; {K} = N + 1 floats per element; {proto}: a zero dual
# of the seeded type, which tells wrap_dual_array and to_flat the element type.

_CHUNKED = """
def driver(x, args):
    n = x.shape[0]
    data = zeros((n, {K}))
    for i in range(n):
        data[i, 0] = x[i]
    proto = {proto}
    for k in range({N}):
        if k < n:
            data[k, 1 + k] = 1.0
    y = f(wrap_dual_array(data, proto), *args)
    flat = to_flat(y, proto)
    shape = out_shape(y)
    m = flat.shape[0]
    value = empty(m)
    jac = empty((m, n))
    for r in range(m):
        value[r] = flat[r, 0]
    start = 0
    while True:
        for r in range(m):
            for k in range({N}):
                if start + k < n:
                    jac[r, start + k] = flat[r, 1 + k]
        for k in range({N}):
            if start + k < n:
                data[start + k, 1 + k] = 0.0
        start += {N}
        if start >= n:
            break
        for k in range({N}):
            if start + k < n:
                data[start + k, 1 + k] = 1.0
        check_input_kept(data, x)
        y = f(wrap_dual_array(data, proto), *args)
        flat = to_flat(y, proto)
        if flat.shape[0] != m:
            raise ValueError("f returned a different number of outputs on another sweep")
    return chunked_result(value, jac, shape, y)
"""

_SEEDED = """
def driver(x, seeds, args):
    n = x.shape[0]
    data = empty((n, {K}))
    for i in range(n):
        data[i, 0] = x[i]
        for k in range({N}):
            data[i, 1 + k] = seeds[i, k]
    proto = {proto}
    y = f(wrap_dual_array(data, proto), *args)
    flat = to_flat(y, proto)
    return flat[:, 0].copy(), flat[:, 1:].copy(), out_shape(y)
"""

_SCALAR = """
def driver(x, seeds, args):
    proto = {proto}
    y = f(make_dual(x, ({seed_items},), 0), *args)
    return scalar_sweep_result(y, proto)
"""

_TEMPLATES = {"chunked": _CHUNKED, "seeded": _SEEDED, "scalar": _SCALAR}


def build_driver(dispatcher, kind, n_lanes):
    """Compile-on-first-call driver for ``dispatcher`` (a Numba dispatcher)."""
    zeros = ", ".join(["0.0"] * n_lanes)
    proto = f"make_dual(0.0, ({zeros},), 0)"
    seed_items = ", ".join(f"seeds[0, {k}]" for k in range(n_lanes))
    src = _TEMPLATES[kind].format(N=n_lanes, K=n_lanes + 1, proto=proto, seed_items=seed_items)
    namespace = {"np": np, "f": dispatcher, "make_dual": make_dual,
                 "wrap_dual_array": wrap_dual_array, "to_flat": to_flat,
                 "check_input_kept": check_input_kept,
                 "out_shape": out_shape, "scalar_sweep_result": scalar_sweep_result,
                 "chunked_result": chunked_result, **_ALLOCATORS}
    exec(compile(src, f"<dualdiff driver {kind} N={n_lanes}>", "exec"), namespace)
    return cached_njit(namespace["driver"], vectorize=True)


@functools.lru_cache(maxsize=None)
def input_type(kind, n_lanes):
    """The Numba type the user's function receives for this kind of sweep."""
    dual = DualType(types.float64, n_lanes)
    if kind == "scalar":
        return dual, dual
    return DualArrayType(dual, 1, "C"), dual


# ---------------------------------------------------------------------------
# Second-order drivers: nested duals Dual[Dual[float64, N1], N2]
# ---------------------------------------------------------------------------
# Row of one element (flattened depth-first, W = N1 + 1 floats per inner dual):
#   [v, d_0 .. d_{N1-1},  then for each outer lane j: e_j, c_{0j} .. c_{N1-1,j}]
# so the inner partial i sits in column 1 + i, the outer partial j in column
# (j + 1) * W and the cross term d2/(dx_i dx_j) in column (j + 1) * W + 1 + i.
# {N1}, {N2}: lanes of the inner and outer dual; {W} = N1 + 1; {K} = width.

# The Hessian by blocks (I, J), I <= J, of N1 = N2 = N inputs each: the inner
# lanes are seeded with the identity on block I, the outer lanes on block J.
# Entry (a, b) with a <= b is always read from the sweep with a in the inner
# and b in the outer lanes, and mirrored, so the result is exactly symmetric.
_HESSIAN = """
def driver(x, args):
    n = x.shape[0]
    data = zeros((n, {K}))
    for i in range(n):
        data[i, 0] = x[i]
    proto = {proto}
    blocks = (n + {N1} - 1) // {N1}
    m = -1
    value = empty(0)
    grad = empty((0, n))
    hess = empty((0, n, n))
    shape = empty_int(0)
    for I in range(blocks):
        for J in range(I, blocks):
            for k in range({N1}):
                if I * {N1} + k < n:
                    data[I * {N1} + k, 1 + k] = 1.0
                if J * {N1} + k < n:
                    data[J * {N1} + k, (k + 1) * {W}] = 1.0
            check_input_kept(data, x)
            y = f(wrap_dual_array(data, proto), *args)
            flat = to_flat(y, proto)
            if m < 0:
                m = flat.shape[0]
                shape = out_shape(y)
                value = empty(m)
                grad = empty((m, n))
                hess = empty((m, n, n))
                for r in range(m):
                    value[r] = flat[r, 0]
            elif flat.shape[0] != m:
                raise ValueError("f returned a different number of outputs on another sweep")
            for r in range(m):
                for i in range({N1}):
                    a = I * {N1} + i
                    if a >= n:
                        break
                    if I == J:
                        grad[r, a] = flat[r, 1 + i]
                    for j in range({N1}):
                        b = J * {N1} + j
                        if b >= n:
                            break
                        if a <= b:
                            h = flat[r, (j + 1) * {W} + 1 + i]
                            hess[r, a, b] = h
                            hess[r, b, a] = h
            for k in range({N1}):
                if I * {N1} + k < n:
                    data[I * {N1} + k, 1 + k] = 0.0
                if J * {N1} + k < n:
                    data[J * {N1} + k, (k + 1) * {W}] = 0.0
    return value, grad, hess, shape
"""

# H v by chunks of N1 inputs: inner lanes seeded with the identity on the
# chunk, the single outer lane with v, so the cross terms are d(grad_i . v).
_HVP = """
def driver(x, v, args):
    n = x.shape[0]
    data = zeros((n, {K}))
    for i in range(n):
        data[i, 0] = x[i]
        data[i, {W}] = v[i]
    proto = {proto}
    m = -1
    value = empty(0)
    grad = empty((0, n))
    hv = empty((0, n))
    shape = empty_int(0)
    for start in range(0, n, {N1}):
        for k in range({N1}):
            if start + k < n:
                data[start + k, 1 + k] = 1.0
        check_input_kept(data, x)
        y = f(wrap_dual_array(data, proto), *args)
        flat = to_flat(y, proto)
        if m < 0:
            m = flat.shape[0]
            shape = out_shape(y)
            value = empty(m)
            grad = empty((m, n))
            hv = empty((m, n))
            for r in range(m):
                value[r] = flat[r, 0]
        elif flat.shape[0] != m:
            raise ValueError("f returned a different number of outputs on another sweep")
        for r in range(m):
            for k in range({N1}):
                if start + k < n:
                    grad[r, start + k] = flat[r, 1 + k]
                    hv[r, start + k] = flat[r, {W} + 1 + k]
        for k in range({N1}):
            if start + k < n:
                data[start + k, 1 + k] = 0.0
    return value, grad, hv, shape
"""

# One sweep with given seed matrices (n, N1) for the inner and (n, N2) for the
# outer lanes; returns the flat (m, K) result (vT H v uses N1 = N2 = 1).
_SEEDED2 = """
def driver(x, inner, outer, args):
    n = x.shape[0]
    data = zeros((n, {K}))
    for i in range(n):
        data[i, 0] = x[i]
        for k in range({N1}):
            data[i, 1 + k] = inner[i, k]
        for j in range({N2}):
            data[i, (j + 1) * {W}] = outer[i, j]
    proto = {proto}
    y = f(wrap_dual_array(data, proto), *args)
    return to_flat(y, proto), out_shape(y)
"""

# A scalar x: the same seeds, as tuples of one row each.
_SCALAR2 = """
def driver(x, inner, outer, args):
    proto = {proto}
    y = f(make_dual(make_dual(x, ({inner_items},), 0), ({outer_items},), 0), *args)
    return to_flat(y, proto), out_shape(y)
"""

# The Hessian of a function returning one number (the common case), lean:
# the output goes into a one-element dual array over the caller's ``flat``
# (1, K) buffer (the setitem is lowered directly, no compile unit), the
# caller allocates every array, and nothing goes through to_flat/out_shape.
# Fewer and smaller compile units (issue 4, Rosenbrock n = 10: the general
# driver and its helpers took 1.7 s of a 3.5 s first call at N = 4, wall
# time from Numba's compile events; this one compiles in 0.3 s of CPU at N = 3).
# ``data`` (n, K) is any buffer: the driver writes x into column 0 and zeros
# the rest (so a caller may reuse it; x itself is never written);
# ``grad`` (n,) and ``hess`` (n, n) are filled and f's value returned.
_HESSIAN_SCALAR = """
def driver(x, data, flat, grad, hess, args):
    n = data.shape[0]
    for i in range(n):
        data[i, 0] = x[i]
        for c in range(1, {K}):
            data[i, c] = 0.0
    proto = {proto}
    out = wrap_dual_array(flat, proto)
    blocks = (n + {N1} - 1) // {N1}
    for I in range(blocks):
        for J in range(I, blocks):
            for k in range({N1}):
                if I * {N1} + k < n:
                    data[I * {N1} + k, 1 + k] = 1.0
                if J * {N1} + k < n:
                    data[J * {N1} + k, (k + 1) * {W}] = 1.0
            check_input_kept(data, x)
            out[0] = f(wrap_dual_array(data, proto), *args)
            for i in range({N1}):
                a = I * {N1} + i
                if a >= n:
                    break
                if I == J:
                    grad[a] = flat[0, 1 + i]
                for j in range({N1}):
                    b = J * {N1} + j
                    if b >= n:
                        break
                    if a <= b:
                        h = flat[0, (j + 1) * {W} + 1 + i]
                        hess[a, b] = h
                        hess[b, a] = h
            for k in range({N1}):
                if I * {N1} + k < n:
                    data[I * {N1} + k, 1 + k] = 0.0
                if J * {N1} + k < n:
                    data[J * {N1} + k, (k + 1) * {W}] = 0.0
    return flat[0, 0]
"""

# H v of a function returning one number, lean as _HESSIAN_SCALAR: ``data``
# arrives zeroed with x in column 0 and v in the outer lane's column W.
_HVP_SCALAR = """
def driver(data, flat, grad, hv, args):
    n = data.shape[0]
    proto = {proto}
    out = wrap_dual_array(flat, proto)
    x = data[:, 0].copy()
    for start in range(0, n, {N1}):
        for k in range({N1}):
            if start + k < n:
                data[start + k, 1 + k] = 1.0
        check_input_kept(data, x)
        out[0] = f(wrap_dual_array(data, proto), *args)
        for k in range({N1}):
            if start + k < n:
                grad[start + k] = flat[0, 1 + k]
                hv[start + k] = flat[0, {W} + 1 + k]
                data[start + k, 1 + k] = 0.0
    return flat[0, 0]
"""

# One sweep (vT H v, derivative(order=2)) of a function returning one number,
# lean in the same way; the caller seeds ``data`` as _SEEDED2 does.
_SEEDED2_SCALAR = """
def driver(data, flat, args):
    proto = {proto}
    out = wrap_dual_array(flat, proto)
    out[0] = f(wrap_dual_array(data, proto), *args)
"""

_SCALAR2_SCALAR = """
def driver(x, inner, outer, flat, args):
    proto = {proto}
    out = wrap_dual_array(flat, proto)
    out[0] = f(make_dual(make_dual(x, ({inner_items},), 0), ({outer_items},), 0), *args)
"""

_SECOND_TEMPLATES = {"hessian": _HESSIAN, "hvp": _HVP, "seeded2": _SEEDED2,
                     "scalar2": _SCALAR2, "hessian_scalar": _HESSIAN_SCALAR,
                     "hvp_scalar": _HVP_SCALAR, "seeded2_scalar": _SEEDED2_SCALAR,
                     "scalar2_scalar": _SCALAR2_SCALAR}


def _nested_proto(n_inner, n_outer):
    zeros = ", ".join(["0.0"] * n_inner)
    inner = f"make_dual(0.0, ({zeros},), 0)"
    outer = ", ".join([inner] * n_outer)
    return f"make_dual({inner}, ({outer},), 0)"


def build_second_driver(dispatcher, kind, n_inner, n_outer):
    """Compile-on-first-call second-order driver (kinds: ``_SECOND_TEMPLATES``)."""
    zeros = ", ".join(["0.0"] * n_inner)
    inner_items = ", ".join(f"inner[0, {k}]" for k in range(n_inner))
    outer_items = ", ".join(f"make_dual(outer[0, {j}], ({zeros},), 0)" for j in range(n_outer))
    src = _SECOND_TEMPLATES[kind].format(
        N1=n_inner, N2=n_outer, W=n_inner + 1, K=(n_inner + 1) * (n_outer + 1),
        proto=_nested_proto(n_inner, n_outer), inner_items=inner_items,
        outer_items=outer_items)
    namespace = {"np": np, "f": dispatcher, "make_dual": make_dual,
                 "wrap_dual_array": wrap_dual_array, "to_flat": to_flat,
                 "check_input_kept": check_input_kept,
                 "out_shape": out_shape, **_ALLOCATORS}
    name = f"<dualdiff driver {kind} N1={n_inner} N2={n_outer}>"
    exec(compile(src, name, "exec"), namespace)
    return cached_njit(namespace["driver"], vectorize=True)


@functools.lru_cache(maxsize=None)
def second_input_type(kind, n_inner, n_outer):
    """The Numba type the user's function receives in a second-order sweep,
    and the nested dual type of its elements."""
    dual = DualType(DualType(types.float64, n_inner), n_outer)
    if kind == "scalar2":
        return dual, dual
    return DualArrayType(dual, 1, "C"), dual


def _returns_one_number(dispatcher, in_type, args, proto):
    signature = with_defaults(dispatcher.py_func,
                              (in_type,) + tuple(numba.typeof(a) for a in args))
    return _is_scalar_like(dispatcher.overloads[signature].signature.return_type, proto)


def build_hessian_driver(dispatcher, n_lanes, args):
    """The Hessian driver for ``dispatcher`` (already compiled for the nested
    dual array of ``n_lanes`` x ``n_lanes`` lanes and the types of ``args``):
    a callable ``(x, args) -> (values (m,), jacobian (m, n), hessians (m, n, n),
    shape)``.  A function returning one number gets the lean driver
    ``_HESSIAN_SCALAR``; any other output the general ``_HESSIAN``."""
    in_type, proto = second_input_type("hessian", n_lanes, n_lanes)
    if not _returns_one_number(dispatcher, in_type, args, proto):
        return build_second_driver(dispatcher, "hessian", n_lanes, n_lanes)
    compiled = build_second_driver(dispatcher, "hessian_scalar", n_lanes, n_lanes)
    width = (n_lanes + 1) ** 2

    def driver(x, args):
        n = x.shape[0]
        grad = np.empty((1, n))
        hess = np.empty((1, n, n))
        value = compiled(x, np.empty((n, width)), np.empty((1, width)), grad[0], hess[0], args)
        return np.array([value]), grad, hess, ()

    # for dd.hessian's per-call fast path: the compiled driver and the width
    # of its ``data`` and ``flat`` buffers
    driver.lean = (compiled, width)
    return driver


def build_hvp_driver(dispatcher, n_lanes, args):
    """The H v driver (``n_lanes`` inner lanes, one outer lane): a callable
    ``(x, v, args) -> (values (m,), jacobian (m, n), hv (m, n), shape)``;
    lean (``_HVP_SCALAR``) for a function returning one number."""
    in_type, proto = second_input_type("hvp", n_lanes, 1)
    if not _returns_one_number(dispatcher, in_type, args, proto):
        return build_second_driver(dispatcher, "hvp", n_lanes, 1)
    compiled = build_second_driver(dispatcher, "hvp_scalar", n_lanes, 1)
    width = 2 * (n_lanes + 1)

    def driver(x, v, args):
        n = x.shape[0]
        data = np.zeros((n, width))
        data[:, 0] = x
        data[:, n_lanes + 1] = v
        grad = np.empty((1, n))
        hv = np.empty((1, n))
        value = compiled(data, np.empty((1, width)), grad[0], hv[0], args)
        return np.array([value]), grad, hv, ()

    return driver


def build_sweep2_driver(dispatcher, kind, n_inner, n_outer, args):
    """One-sweep driver, ``kind`` "seeded2" (x a vector) or "scalar2" (x a
    number): a callable ``(x, inner, outer, args) -> (flat (m, K), shape)``;
    lean for a function returning one number."""
    in_type, proto = second_input_type(kind, n_inner, n_outer)
    if not _returns_one_number(dispatcher, in_type, args, proto):
        return build_second_driver(dispatcher, kind, n_inner, n_outer)
    compiled = build_second_driver(dispatcher, kind + "_scalar", n_inner, n_outer)
    width, w = (n_inner + 1) * (n_outer + 1), n_inner + 1

    def driver(x, inner, outer, args):
        flat = np.empty((1, width))
        if kind == "scalar2":
            compiled(x, inner, outer, flat, args)
            return flat, ()
        data = np.zeros((x.shape[0], width))
        data[:, 0] = x
        data[:, 1:w] = inner
        data[:, w::w] = outer
        compiled(data, flat, args)
        return flat, ()

    return driver
