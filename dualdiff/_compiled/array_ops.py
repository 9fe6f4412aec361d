"""Elementwise array programming on dual arrays inside compiled code.

Every elementwise operation (``+ - * / **``, unary ``-``, each rule of
:mod:`dualdiff.rules`, ``np.maximum``/``np.minimum``, ``np.clip``,
``np.where``, comparisons, in-place ``+=`` ...) is ONE generated loop kernel
that broadcasts its operands NumPy-style and calls the scalar dual operation
on each element.  The scalar operations are straight-line code that LLVM
inlines, so ``np.tanh(W @ x + b)`` costs about what the same loop written by
hand costs: no temporaries per partial, no NumPy expression on the float
store.  Linear operations and squares take a fast path over the float stores
when no operand is broadcast (same results, bit for bit).

Operands may be dual arrays, float (or int/bool) arrays, Python/NumPy numbers
and scalar duals; an overload applies when at least one operand is an array
and at least one is dual.  Element access goes through the directly lowered
``x[i]``/``x[i, j]`` of :mod:`dualdiff._compiled.array` (no reference counting).

Reductions are in :mod:`dualdiff._compiled.array_reduce`, matrix products in
:mod:`~dualdiff._compiled.array_product`, reshaping, joining and masks in
:mod:`~dualdiff._compiled.array_shape`.
"""

import operator

import numpy as np

from .. import rules
from . import registrar
from .array import DualArrayType, flat_store, load_at, store_at, wrap_dual_array
from .dual import DualType, _zero_of, convert_to, is_lower, primal_value
from .compat import intrinsic, overload, register_jitable, types

__all__ = ["operand_kind", "result_dtype", "elementwise", "zero_like", "contiguous",
           "swap_last"]

_REALS = (types.Integer, types.Float, types.Boolean)
_IEEE = {"error_model": "numpy"}
BROADCAST_MSG = "operands could not be broadcast together"


# ---------------------------------------------------------------------------
# Operand classification
# ---------------------------------------------------------------------------

def operand_kind(t):
    """'darr', 'farr' (real array), 'dual', 'num' or None (not an operand)."""
    if isinstance(t, DualArrayType):
        return "darr"
    if isinstance(t, types.Array) and isinstance(t.dtype, _REALS):
        return "farr"
    if isinstance(t, DualType):
        return "dual"
    if isinstance(t, _REALS):
        return "num"
    return None


def result_dtype(ts):
    """The dual element type of an operation on operands ``ts``, or None if
    no operand is dual or two duals do not mix (different tags)."""
    best = None
    for t in ts:
        d = t.dtype if isinstance(t, DualArrayType) else t if isinstance(t, DualType) else None
        if d is None or d == best:
            continue
        if best is None or is_lower(best, d):
            best = d
        elif not is_lower(d, best):
            return None
    return best


def _applies(ts):
    kinds = [operand_kind(t) for t in ts]
    if None in kinds or not any(k in ("darr", "farr") for k in kinds):
        return False
    return any(k in ("darr", "dual") for k in kinds) and result_dtype(ts) is not None


@intrinsic
def zero_like(typingctx, like):
    """A zero dual of the element type of ``like`` (a dual array or a dual)."""
    dtype = like.dtype if isinstance(like, DualArrayType) else like
    if not isinstance(dtype, DualType):
        return None

    def codegen(context, builder, sig, args):
        return _zero_of(context, builder, dtype)

    return dtype(like), codegen


@register_jitable
def _extent(a):
    # [first byte, last byte] touched by a (strides may be negative)
    lo = a.ctypes.data
    hi = lo
    for d in range(a.ndim):
        span = (a.shape[d] - 1) * a.strides[d]
        if span < 0:
            lo += span
        else:
            hi += span
    return lo, hi + a.itemsize


@register_jitable
def may_overlap(a, b):
    """True if the float arrays ``a`` and ``b`` may share memory."""
    if a.size == 0 or b.size == 0:
        return False
    alo, ahi = _extent(a)
    blo, bhi = _extent(b)
    return alo < bhi and blo < ahi


# Copies by plain loops: NumPy's own ascontiguousarray/transpose copies of
# strided 3-D arrays cost seconds of compile time each (measured: 5.9 s for
# one ``np.ascontiguousarray(a.transpose((0, 2, 1)))``); these cost little.

def contiguous(a, dtype=None):
    """``a`` itself if C-contiguous (and of ``dtype``), else a C copy (compiled only)."""
    raise NotImplementedError


@overload(contiguous)
def _contiguous(a, dtype=None):
    if not isinstance(a, types.Array) or a.ndim > 3:
        return None
    target = a.dtype if dtype is None or isinstance(dtype, (types.NoneType, types.Omitted)) \
        else types.float64
    if a.layout == "C" and a.dtype == target:
        return lambda a, dtype=None: a
    nd = a.ndim
    loops = [f"    for i{d} in range(a.shape[{d}]):" for d in range(nd)]
    index = ", ".join(f"i{d}" for d in range(nd))
    src = ["def impl(a, dtype=None):", "    out = np.empty(a.shape, np_dtype)"]
    src += ["    " * d + loop for d, loop in enumerate(loops)]
    src += ["    " * nd + f"    out[{index}] = a[{index}]", "    return out"]
    ns = {"np": np, "np_dtype": np.dtype(str(target))}
    exec("\n".join(src) + "\n", ns)
    return ns["impl"]


@register_jitable
def swap_last(d):
    """The C array of shape (m, b, a) holding the 3-D ``d`` (m, a, b) with
    its last two axes swapped."""
    m, a, b = d.shape
    out = np.empty((m, b, a))
    for i in range(m):
        for j in range(a):
            for k in range(b):
                out[i, k, j] = d[i, j, k]
    return out


# ---------------------------------------------------------------------------
# The kernel generator
# ---------------------------------------------------------------------------
# mode: "dual" (a new dual array), "bool" (a new bool array, comparisons),
# "float" (a new float array: a generic rule on plain arrays) or "inplace"
# (write into operand 0, which fixes the shape).

_kernel_cache = {}


def _element(name, kind, ndim, out_ndim, op):
    if kind in ("dual", "num"):
        return name
    first = out_ndim - ndim
    items = [f"i{first + q} * f{op}_{q}" for q in range(ndim)]
    if kind == "darr":
        return f"load_at({name}, {', '.join(items)})"
    return f"{name}[{', '.join(items)}]"


# Fast paths, taken when no operand is broadcast.  They run over the float
# stores with exactly the float operations of the scalar rules, so their
# results are bit-identical to the general loop's.
#
# Linear operations act on every float of an element alike (value and
# partials, at any nesting depth).  Adding or subtracting a plain number
# changes only the innermost primal (column 0 of each row) and copies or
# negates the other floats.  Entries: (body, kinds) -> (expression for every
# float, expression for the primal column or None); A and B are the floats of
# operands 0 and 1 at the same position, a0 and a1 the plain-number operands.
_LINEAR = {
    ("{0} + {1}", ("darr", "darr")): ("A + B", None),
    ("{0} - {1}", ("darr", "darr")): ("A - B", None),
    ("{0} * {1}", ("num", "darr")): ("a0 * B", None),
    ("{0} * {1}", ("darr", "num")): ("A * a1", None),
    ("{0} / {1}", ("darr", "num")): ("A / a1", None),
    ("{0} + {1}", ("num", "darr")): ("B", "a0 + B"),
    ("{0} + {1}", ("darr", "num")): ("A", "A + a1"),
    ("{0} - {1}", ("num", "darr")): ("-B", "a0 - B"),
    ("{0} - {1}", ("darr", "num")): ("A", "A - a1"),
    ("-{0}", ("darr",)): ("-A", None),
}


def _operands(expr, index):
    return expr.replace("A", f"ad[{index}]").replace("B", f"bd[{index}]")


def _linear_lines(body, kinds, ndims, layouts, width):
    """The fast path of a linear operation, or []."""
    entry = _LINEAR.get((body, tuple(kinds)))
    if entry is None:
        return []
    every, primal = entry
    dual_arrays = [k for k, kind in enumerate(kinds) if kind == "darr"]
    if len(dual_arrays) == 2 and ndims[0] != ndims[1]:
        return []
    nd = max(ndims)
    cond = "a0.shape == a1.shape" if len(dual_arrays) == 2 else "True"
    lines = [f"    if {cond}:"]
    if all(layouts[k] == "C" for k in dual_arrays):
        # one flat loop over the C-contiguous stores, vectorised by LLVM
        # across elements (measured 0.9 us instead of 2.5 us for x + y,
        # n = 1000, K = 9; a loop per element of K floats is not)
        lines.append("        od = flat_store(out)")
        lines += [f"        {'ab'[k]}d = flat_store(a{k})" for k in dual_arrays]
        if primal is None:
            lines += ["        for j in range(od.size):",
                      f"            od[j] = {_operands(every, 'j')}"]
        else:
            lines += [f"        for i in range(od.size // {width}):",
                      f"            r = i * {width}",
                      f"            od[r] = {_operands(primal, 'r')}",
                      f"            for k in range(1, {width}):",
                      f"                od[r + k] = {_operands(every, 'r + k')}"]
    else:
        # strided stores: a loop over the K floats of each element
        lines.append("        od = out.data")
        lines += [f"        {'ab'[k]}d = a{k}.data" for k in dual_arrays]
        for d in range(nd):
            lines.append("    " * (d + 2) + f"for i{d} in range(n{d}):")
        row = ", ".join(f"i{d}" for d in range(nd))
        indent = "    " * (nd + 2)
        lines += [indent + f"for k in range(od.shape[{nd}]):",
                  indent + f"    od[{row}, k] = {_operands(every, f'{row}, k')}"]
        if primal is not None:
            lines.append(indent + f"od[{row}, 0] = {_operands(primal, f'{row}, 0')}")
    return lines


def _square_lines(body, kinds, layouts, dtype):
    """The fast path of x ** 2 on a C-contiguous first-order dual array, or []:
    value v * v, each partial p * (v + v), as the scalar square rule.

    Squares are the most common power (squared residuals); without the
    broadcast index arithmetic and element loads and stores of the general
    loop this costs about 20% less (1.4 us instead of 1.7 us for n = 1000,
    K = 9; 0.18 us instead of 0.24 us for n = 100).
    """
    if body != "{0} ** 2" or kinds[0] != "darr" or layouts[0] != "C" \
            or isinstance(dtype.base, DualType):
        return []
    width = dtype.width
    return ["    if True:",
            "        od = flat_store(out)",
            "        ad = flat_store(a0)",
            f"        for i in range(od.size // {width}):",
            f"            r = i * {width}",
            "            v = ad[r]",
            "            t = v + v",
            "            od[r] = v * v",
            f"            for k in range(1, {width}):",
            "                od[r + k] = ad[r + k] * t"]


def _fast_lines(body, kinds, ndims, layouts, dtype, mode):
    """The lines of a kernel's fast path (ending in its return), or []."""
    if mode not in ("dual", "inplace"):
        return []
    lines = (_linear_lines(body, kinds, ndims, layouts, dtype.width)
             or _square_lines(body, kinds, layouts, dtype))
    if lines:
        lines.append("        return " + ("a0" if mode == "inplace" else "out"))
    return lines


def _kernel_source(body, kinds, ndims, layouts, dtype, mode, like, params, fast_ok=True):
    nd = max(ndims)
    width = dtype.width if dtype is not None else 1
    names = [f"a{k}" for k in range(len(kinds))]
    lines = [f"def kernel({', '.join(params)}):"]
    lines += [f"    a{k} = {p}" for k, p in enumerate(params)]
    arrays = [k for k, kind in enumerate(kinds) if kind in ("darr", "farr")]
    if mode == "inplace":
        lines += [f"    n{d} = a0.shape[{d}]" for d in range(nd)]
        for k in arrays[1:]:
            for q in range(ndims[k]):
                d = nd - ndims[k] + q
                lines += [f"    s = a{k}.shape[{q}]",
                          f"    if s != 1 and s != n{d}:",
                          "        raise ValueError(BROADCAST_MSG)"]
            if kinds[k] == "darr":
                lines.append(f"    a{k} = a{k}.copy() if may_overlap(a0.data, a{k}.data) "
                             f"else a{k}")
    else:
        lines += [f"    n{d} = 1" for d in range(nd)]
        for k in arrays:
            for q in range(ndims[k]):
                d = nd - ndims[k] + q
                lines += [f"    s = a{k}.shape[{q}]",
                          "    if s != 1:",
                          f"        if n{d} == 1:",
                          f"            n{d} = s",
                          f"        elif n{d} != s:",
                          "            raise ValueError(BROADCAST_MSG)"]
    for k in arrays:
        for q in range(ndims[k]):
            lines.append(f"    f{k}_{q} = 0 if a{k}.shape[{q}] == 1 else 1")
    shape = ", ".join(f"n{d}" for d in range(nd))
    if like is not None:
        lines.append(f"    z = zero_like(a{like})")
    if mode == "dual":
        lines.append(f"    out = wrap_dual_array(np.empty(({shape}, {width})), a{like})")
    elif mode == "bool":
        lines.append(f"    out = np.empty(({shape},), np.bool_)")
    elif mode == "float":
        lines.append(f"    out = np.empty(({shape},))")
    else:
        lines.append("    out = a0")
    if fast_ok:
        lines += _fast_lines(body, kinds, ndims, layouts, dtype, mode)
    for d in range(nd):
        lines.append("    " * (d + 1) + f"for i{d} in range(n{d}):")
    elems = [_element(names[k], kinds[k], ndims[k], nd, k) for k in range(len(kinds))]
    index = ", ".join(f"i{d}" for d in range(nd))
    if mode in ("dual", "inplace"):
        lines.append("    " * (nd + 1) + f"store_at(out, {body.format(*elems)}, {index})")
    else:
        lines.append("    " * (nd + 1) + f"out[{index}] = {body.format(*elems)}")
    if mode != "inplace":
        lines.append("    return out")
    else:
        lines.append("    return a0")
    return "\n".join(lines) + "\n"


def elementwise(body, ts, mode="dual", namespace=None, params=None):
    """A kernel applying ``body`` (a format string over the elements ``{0}``,
    ``{1}`` ...) to operands of types ``ts`` with broadcasting.

    Returned as a plain Python function whose parameters are named ``params``
    (default ``a, b, c``), so an overload can return it as its implementation
    directly (one compiled function per operation, not two); wrap it with
    ``register_jitable`` to call it from other compiled code.
    """
    params = tuple(params or ("a", "b", "c")[:len(ts)])
    kinds = [operand_kind(t) for t in ts]
    ndims = [t.ndim if k in ("darr", "farr") else 0 for t, k in zip(ts, kinds)]
    layouts = [t.layout if k in ("darr", "farr") else None for t, k in zip(ts, kinds)]
    dtype = result_dtype(ts)
    like = None
    if dtype is not None:
        like = next(k for k, t in enumerate(ts)
                    if (t.dtype if isinstance(t, DualArrayType) else t) == dtype)
    # the fast paths index every store with the result's width: only when all
    # dual arrays hold elements of the result type (not a lower nesting depth,
    # as inside a Hessian sweep)
    fast_ok = all(t.dtype == dtype for t in ts if isinstance(t, DualArrayType))
    key = (body, tuple(kinds), tuple(ndims), tuple(layouts), dtype, mode, like, params, fast_ok,
           tuple(sorted((namespace or {}).items(), key=lambda kv: kv[0])))
    try:
        cached = _kernel_cache.get(key)
    except TypeError:  # an unhashable namespace entry
        key, cached = None, None
    if cached is not None:
        return cached
    src = _kernel_source(body, kinds, ndims, layouts, dtype, mode, like, params, fast_ok)
    ns = {"np": np, "wrap_dual_array": wrap_dual_array, "zero_like": zero_like,
          "load_at": load_at, "store_at": store_at, "flat_store": flat_store,
          "may_overlap": may_overlap, "BROADCAST_MSG": BROADCAST_MSG, "_pv": primal_value,
          "_conv": convert_to}
    ns.update(namespace or {})
    exec(compile(src, f"<dualdiff kernel {body}>", "exec"), ns)
    kernel = ns["kernel"]
    if key is not None:
        _kernel_cache[key] = kernel
    return kernel


# ---------------------------------------------------------------------------
# Arithmetic operators and their ufunc spellings
# ---------------------------------------------------------------------------

_ARITHMETIC = {
    "{0} + {1}": ((operator.add, np.add), (operator.iadd,)),
    "{0} - {1}": ((operator.sub, np.subtract), (operator.isub,)),
    "{0} * {1}": ((operator.mul, np.multiply), (operator.imul,)),
    "{0} / {1}": ((operator.truediv, np.true_divide), (operator.itruediv,)),
}


def _pow_body(b):
    # a literal integer exponent stays literal, so x ** 2 on each element takes
    # the scalar square path (one product, an exact doubling)
    if isinstance(b, types.IntegerLiteral):
        return f"{{0}} ** {int(b.literal_value)}"
    return "{0} ** {1}"


def _register_binary(fns, body_of, mode="dual", literal=False):
    def typer(a, b):
        if _applies((a, b)):
            return elementwise(body_of(a, b), (a, b), mode)
    for fn in fns:
        overload(fn, prefer_literal=literal, jit_options=_IEEE)(typer)


def _register_inplace(fns, body_of, literal=False):
    def typer(a, b):
        if isinstance(a, DualArrayType) and _applies((a, b)) and result_dtype((a, b)) == a.dtype:
            return elementwise(body_of(a, b), (a, b), "inplace")
    for fn in fns:
        overload(fn, prefer_literal=literal, jit_options=_IEEE)(typer)


for _body, (_fns, _ifns) in _ARITHMETIC.items():
    _register_binary(_fns, lambda a, b, body=_body: body)
    _register_inplace(_ifns, lambda a, b, body=_body: body)
_register_binary((operator.pow, np.power, pow), lambda a, b: _pow_body(b), literal=True)
_register_inplace((operator.ipow,), lambda a, b: _pow_body(b), literal=True)


@overload(operator.neg, jit_options=_IEEE)
def _neg(a):
    if isinstance(a, DualArrayType):
        return elementwise("-{0}", (a,))


@overload(np.negative, jit_options=_IEEE)
def _np_negative(a):
    if isinstance(a, DualArrayType):
        return elementwise("-{0}", (a,))


@overload(operator.pos)
def _pos(a):
    if isinstance(a, DualArrayType):
        return lambda a: a.copy()


# ---------------------------------------------------------------------------
# The rule table, elementwise
# ---------------------------------------------------------------------------
# The NumPy spelling and the generic function ``dualdiff.rules.<name>`` of
# each rule.  ``math.<name>`` is not registered for arrays: NumPy rejects
# ``math.exp(array)``, and code valid on duals should stay valid on floats.

def _register_unary_rule(rule):
    ns = {"_f": rule.generic}

    def typer(a):
        if isinstance(a, DualArrayType):
            return elementwise("_f({0})", (a,), "dual", ns)

    def generic_typer(a):
        if isinstance(a, DualArrayType):
            return elementwise("_f({0})", (a,), "dual", ns)
        if operand_kind(a) == "farr":
            return elementwise("_f({0})", (a,), "float", ns)

    overload(rule.generic, jit_options=_IEEE)(generic_typer)
    _TYPERS[1, rule.name] = typer, generic_typer


def _register_binary_rule(rule):
    ns = {"_f": rule.generic}

    def typer(a, b):
        if _applies((a, b)):
            return elementwise("_f({0}, {1})", (a, b), "dual", ns)

    def generic_typer(a, b):
        if _applies((a, b)):
            return elementwise("_f({0}, {1})", (a, b), "dual", ns)
        kinds = (operand_kind(a), operand_kind(b))
        if None not in kinds and "dual" not in kinds and "farr" in kinds:
            return elementwise("_f({0}, {1})", (a, b), "float", ns)

    overload(rule.generic, jit_options=_IEEE)(generic_typer)
    _TYPERS[2, rule.name] = typer, generic_typer


# (arity, rule name) -> (typer of dual arrays, typer that also takes float
# arrays: for spellings Numba does not know, such as scipy.special.expit)
_TYPERS = {}


def _register_spelling(arity):
    def register(rule, function, native):
        typer, generic_typer = _TYPERS[arity, rule.name]
        overload(function, jit_options=_IEEE)(typer if native else generic_typer)
    return register


for _rule in rules.UNARY:
    _register_unary_rule(_rule)
for _rule in rules.BINARY:
    _register_binary_rule(_rule)
registrar.each_spelling(1, True, _register_spelling(1))
registrar.each_spelling(2, True, _register_spelling(2))


# selections: ties go to the first operand, NaN as in the scalar rules
for _fn, _sel in ((np.maximum, rules.select_max), (np.minimum, rules.select_min),
                  (np.fmax, rules.select_fmax), (np.fmin, rules.select_fmin)):
    _ns = {"_sel": _sel}

    def _make(fn, ns):
        @overload(fn, jit_options=_IEEE)
        def typer(a, b):
            if _applies((a, b)):
                return elementwise("_sel({0}, {1})", (a, b), "dual", ns)
    _make(_fn, _ns)


@overload(np.clip, jit_options=_IEEE)
def _clip(a, lo, hi):
    if _applies((a, lo, hi)):
        ns = {"_clip": rules.select_clip}
        return elementwise("_clip({0}, {1}, {2})", (a, lo, hi), "dual", ns, ("a", "lo", "hi"))


# ---------------------------------------------------------------------------
# Comparisons (on the primal value) and np.where
# ---------------------------------------------------------------------------

for _op, _sym in ((operator.lt, "<"), (operator.le, "<="), (operator.gt, ">"),
                  (operator.ge, ">="), (operator.eq, "=="), (operator.ne, "!=")):
    _register_binary((_op,), lambda a, b, s=_sym: f"_pv({{0}}) {s} _pv({{1}})", mode="bool")


@overload(np.where, jit_options=_IEEE)
def _where(cond, a, b):
    ck = operand_kind(cond)
    if ck not in ("farr", "num") or (ck == "farr" and not isinstance(cond.dtype, types.Boolean)):
        return None
    if not any(operand_kind(t) in ("darr", "dual") for t in (a, b)):
        return None
    if result_dtype((a, b)) is None or None in (operand_kind(a), operand_kind(b)):
        return None
    body = "_conv({1}, z) if {0} else _conv({2}, z)"
    if any(operand_kind(t) in ("darr", "farr") for t in (cond, a, b)):
        return elementwise(body, (cond, a, b), params=("cond", "a", "b"))
    # all scalars: a scalar dual of the higher of the two types
    if result_dtype((a, b)) == a:
        return lambda cond, a, b: a if cond else convert_to(b, a)
    return lambda cond, a, b: convert_to(a, b) if cond else b


# ---------------------------------------------------------------------------
# Assignment into views: X[i] = row, X[:, j] = v, x[1:] = float_array ...
# ---------------------------------------------------------------------------

def _view_index(arr, idx):
    """True for an index that selects a sub-array (not one element) and is not
    lowered by :mod:`.array` itself."""
    def part(t):
        return isinstance(t, (types.Integer, types.SliceType))
    if isinstance(idx, types.BaseTuple):
        if not (0 < len(idx) <= arr.ndim and all(part(t) for t in idx)):
            return False
        return not (len(idx) == arr.ndim and all(isinstance(t, types.Integer) for t in idx))
    if isinstance(idx, types.Integer):
        return arr.ndim >= 2
    return isinstance(idx, types.SliceType)


@overload(operator.setitem)
def _setitem_view(arr, idx, value):
    if not isinstance(arr, DualArrayType) or not _view_index(arr, idx):
        return None
    if arr.ndim == 1 and isinstance(idx, types.SliceType) and (
            operand_kind(value) in ("dual", "num")
            or (isinstance(value, DualArrayType) and value.dtype == arr.dtype)):
        return None  # handled in array.py
    if operand_kind(value) is None:
        return None
    view_type = arr.copy(ndim=arr.ndim - _int_count(idx), layout="A")
    if result_dtype((view_type, value)) != arr.dtype:
        return None
    kernel = _jitted(elementwise("{1}", (view_type, value), "inplace"))

    def impl(arr, idx, value):
        kernel(arr[idx], value)
    return impl


_jitted_cache = {}


def _jitted(fn):
    """``register_jitable(fn)``, once per function."""
    if fn not in _jitted_cache:
        _jitted_cache[fn] = register_jitable(**_IEEE)(fn)
    return _jitted_cache[fn]


def _int_count(idx):
    if isinstance(idx, types.BaseTuple):
        return sum(isinstance(t, types.Integer) for t in idx)
    return int(isinstance(idx, types.Integer))
