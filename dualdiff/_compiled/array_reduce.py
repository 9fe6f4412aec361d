"""Reductions of dual arrays inside compiled code.

* ``np.sum``, ``np.prod``, ``np.mean``, ``np.max``/``np.min`` (``np.amax``,
  ``np.amin``), ``np.argmax``/``np.argmin`` and ``np.cumsum``, with and
  without ``axis``, and the same as methods (``x.sum(axis=0)``);
  ``max``/``min`` select by primal value, the first of equal values wins and
  a NaN primal propagates, as in NumPy.
* ``np.linalg.norm`` (every vector p-norm, ord = 0, 1, 2, inf, -inf or any p; the
  Frobenius norm of a matrix).

Products (``np.dot``, ``@``) are in :mod:`dualdiff._compiled.array_product`.
All loops read elements through the directly lowered ``x[i]``/``x[i, j]``.
"""

import numpy as np

from .. import rules
from .array import DualArrayType, load_at, wrap_dual_array
from .array_ops import zero_like
from .dual import primal_value
from .compat import overload, overload_method, register_jitable, types

__all__ = []

_EMPTY_MSG = "zero-size dual array has no maximum or minimum"


def _no_axis(axis):
    return axis is None or isinstance(axis, (types.NoneType, types.Omitted))


def _is_dual_array(x, ndims=(1, 2)):
    return isinstance(x, DualArrayType) and x.ndim in ndims


@register_jitable
def _axis(axis, ndim):
    ax = axis + ndim if axis < 0 else axis
    if ax < 0 or ax >= ndim:
        raise ValueError("axis out of range for the dual array")
    return ax


# ---------------------------------------------------------------------------
# Folds: sum and prod (generated from one template per operator)
# ---------------------------------------------------------------------------

_FOLD = """
def fold1(x):
    s = {init}
    for i in range(len(x)):
        s = s {op} load_at(x, i)
    return s

def fold2(x):
    s = {init}
    n0, n1 = x.shape
    for i in range(n0):
        for j in range(n1):
            s = s {op} load_at(x, i, j)
    return s

def fold2_axis(x, axis):
    ax = _axis(axis, 2)
    n0, n1 = x.shape
    K = x.data.shape[2]
    if ax == 0:
        out = wrap_dual_array(np.empty((n1, K)), x)
        for j in range(n1):
            out[j] = {init}
        for i in range(n0):
            for j in range(n1):
                out[j] = out[j] {op} load_at(x, i, j)
        return out
    out = wrap_dual_array(np.empty((n0, K)), x)
    for i in range(n0):
        s = {init}
        for j in range(n1):
            s = s {op} load_at(x, i, j)
        out[i] = s
    return out
"""


def _folds(op, init):
    ns = {"np": np, "zero_like": zero_like, "wrap_dual_array": wrap_dual_array,
          "_axis": _axis, "load_at": load_at}
    exec(compile(_FOLD.format(op=op, init=init), f"<dualdiff fold {op}>", "exec"), ns)
    return tuple(register_jitable(error_model="numpy")(ns[k])
                 for k in ("fold1", "fold2", "fold2_axis"))


_SUM = _folds("+", "zero_like(x)")
_PROD = _folds("*", "(zero_like(x) + 1.0)")
_sum1, _sum2, _sum2_axis = _SUM


def _fold_impl(folds, x, axis):
    fold1, fold2, fold2_axis = folds
    if x.ndim == 1:
        if _no_axis(axis):
            return lambda x, axis=None: fold1(x)

        def impl1(x, axis=None):
            _axis(axis, 1)
            return fold1(x)
        return impl1
    if _no_axis(axis):
        return lambda x, axis=None: fold2(x)
    return lambda x, axis=None: fold2_axis(x, axis)


def _register_fold(fns, method, folds):
    def typer(x, axis=None):
        if _is_dual_array(x) and (_no_axis(axis) or isinstance(axis, types.Integer)):
            return _fold_impl(folds, x, axis)
    for fn in fns:
        overload(fn)(typer)
    overload_method(DualArrayType, method)(typer)


_register_fold((np.sum,), "sum", _SUM)
_register_fold((np.prod,), "prod", _PROD)


@register_jitable
def _mean1(x):
    return _sum1(x) / len(x)


@register_jitable
def _mean2(x):
    return _sum2(x) / x.size


@register_jitable
def _mean2_axis(x, axis):
    s = _sum2_axis(x, axis)
    n = x.shape[_axis(axis, 2)]
    for i in range(len(s)):
        s[i] = s[i] / n
    return s


def _mean(x, axis=None):
    if not (_is_dual_array(x) and (_no_axis(axis) or isinstance(axis, types.Integer))):
        return None
    if x.ndim == 1:
        if _no_axis(axis):
            return lambda x, axis=None: _mean1(x)

        def impl1(x, axis=None):
            _axis(axis, 1)
            return _mean1(x)
        return impl1
    if _no_axis(axis):
        return lambda x, axis=None: _mean2(x)
    return lambda x, axis=None: _mean2_axis(x, axis)


overload(np.mean)(_mean)
overload_method(DualArrayType, "mean")(_mean)


# ---------------------------------------------------------------------------
# Selections by primal value: max, min, argmax, argmin
# ---------------------------------------------------------------------------

@register_jitable
def _wins_max(c, b):
    return c > b or (c != c and b == b)


@register_jitable
def _wins_min(c, b):
    return c < b or (c != c and b == b)


_SELECT = """
def arg1(x):
    n = len(x)
    if n == 0:
        raise ValueError(EMPTY)
    best = 0
    bv = _pv(x[0])
    for i in range(1, n):
        v = _pv(x[i])
        if wins(v, bv):
            best = i
            bv = v
    return best

def arg2(x):
    n0, n1 = x.shape
    if n0 * n1 == 0:
        raise ValueError(EMPTY)
    bi = 0
    bj = 0
    bv = _pv(x[0, 0])
    for i in range(n0):
        for j in range(n1):
            v = _pv(x[i, j])
            if wins(v, bv):
                bi = i
                bj = j
                bv = v
    return bi, bj

def arg2_axis(x, axis):
    ax = _axis(axis, 2)
    n0, n1 = x.shape
    if n0 * n1 == 0:
        raise ValueError(EMPTY)
    m = n1 if ax == 0 else n0
    out = np.zeros(m, np.intp)
    for r in range(m):
        if ax == 0:
            bv = _pv(x[0, r])
            for i in range(1, n0):
                v = _pv(x[i, r])
                if wins(v, bv):
                    out[r] = i
                    bv = v
        else:
            bv = _pv(x[r, 0])
            for j in range(1, n1):
                v = _pv(x[r, j])
                if wins(v, bv):
                    out[r] = j
                    bv = v
    return out

def select1(x):
    return x[arg1(x)]

def select2(x):
    i, j = arg2(x)
    return x[i, j]

def select2_axis(x, axis):
    ax = _axis(axis, 2)
    idx = arg2_axis(x, ax)
    K = x.data.shape[2]
    out = wrap_dual_array(np.empty((len(idx), K)), x)
    for r in range(len(idx)):
        if ax == 0:
            out[r] = x[idx[r], r]
        else:
            out[r] = x[r, idx[r]]
    return out

def flat2(x):
    i, j = arg2(x)
    return i * x.shape[1] + j
"""


def _selections(wins):
    ns = {"np": np, "wins": wins, "_pv": primal_value, "_axis": _axis, "EMPTY": _EMPTY_MSG,
          "wrap_dual_array": wrap_dual_array}
    exec(compile(_SELECT, "<dualdiff selections>", "exec"), ns)
    jit = register_jitable(error_model="numpy")
    names = ("arg1", "arg2", "arg2_axis", "select1", "select2", "select2_axis", "flat2")
    for name in names:   # in order: later functions call the jitted earlier ones
        ns[name] = jit(ns[name])
    return {name: ns[name] for name in names}


def _register_selection(fns, method, sel, arg=False):
    one, two, two_axis = (("arg1", "flat2", "arg2_axis") if arg
                          else ("select1", "select2", "select2_axis"))

    def typer(x, axis=None):
        if not (_is_dual_array(x) and (_no_axis(axis) or isinstance(axis, types.Integer))):
            return None
        f1, f2, f2a = sel[one], sel[two], sel[two_axis]
        if x.ndim == 1:
            if _no_axis(axis):
                return lambda x, axis=None: f1(x)

            def impl1(x, axis=None):
                _axis(axis, 1)
                return f1(x)
            return impl1
        if _no_axis(axis):
            return lambda x, axis=None: f2(x)
        return lambda x, axis=None: f2a(x, axis)

    for fn in fns:
        overload(fn)(typer)
    overload_method(DualArrayType, method)(typer)


_MAX = _selections(_wins_max)
_MIN = _selections(_wins_min)
_register_selection((np.max, np.amax), "max", _MAX)
_register_selection((np.min, np.amin), "min", _MIN)
_register_selection((np.argmax,), "argmax", _MAX, arg=True)
_register_selection((np.argmin,), "argmin", _MIN, arg=True)


# ---------------------------------------------------------------------------
# Cumulative sum
# ---------------------------------------------------------------------------

@register_jitable(error_model="numpy")
def _cumsum1(x):
    out = wrap_dual_array(np.empty(x.data.shape), x)
    s = zero_like(x)
    for i in range(len(x)):
        s = s + x[i]
        out[i] = s
    return out


@register_jitable(error_model="numpy")
def _cumsum2_axis(x, axis):
    ax = _axis(axis, 2)
    n0, n1 = x.shape
    out = wrap_dual_array(np.empty(x.data.shape), x)
    if ax == 0:
        for j in range(n1):
            s = zero_like(x)
            for i in range(n0):
                s = s + x[i, j]
                out[i, j] = s
    else:
        for i in range(n0):
            s = zero_like(x)
            for j in range(n1):
                s = s + x[i, j]
                out[i, j] = s
    return out


def _cumsum(x, axis=None):
    if not (_is_dual_array(x) and (_no_axis(axis) or isinstance(axis, types.Integer))):
        return None
    if x.ndim == 1:
        if _no_axis(axis):
            return lambda x, axis=None: _cumsum1(x)

        def impl1(x, axis=None):
            _axis(axis, 1)
            return _cumsum1(x)
        return impl1
    if _no_axis(axis):
        return lambda x, axis=None: _cumsum1(x.ravel())   # NumPy: over the flattened array
    return lambda x, axis=None: _cumsum2_axis(x, axis)


overload(np.cumsum)(_cumsum)
overload_method(DualArrayType, "cumsum")(_cumsum)


# ---------------------------------------------------------------------------
# Norm
# ---------------------------------------------------------------------------

@overload(np.linalg.norm)
def _norm(x, ord=None):
    if not _is_dual_array(x):
        return None
    if not (_no_axis(ord) or (x.ndim == 1 and isinstance(ord, (types.Integer, types.Float)))):
        return None
    fold = _sum1 if x.ndim == 1 else _sum2
    if _no_axis(ord):
        return lambda x, ord=None: rules.sqrt(fold(x * x))

    def impl(x, ord=None):  # a vector p-norm, as np.linalg.norm(x, p)
        p = float(ord)
        n = x.shape[0]
        if p == 2.0 or n == 0:
            return rules.sqrt(fold(x * x))
        if p == 0.0:  # the count of nonzero entries: a constant
            count = 0.0
            for i in range(n):
                if x[i] != 0.0:
                    count += 1.0
            return x[0] * 0.0 + count
        if p == np.inf or p == -np.inf:  # the largest or smallest |x_i|
            best = abs(x[0])
            for i in range(1, n):
                a = abs(x[i])
                if (a > best) if p > 0.0 else (a < best):
                    best = a
            return best
        if p == 1.0:
            s = abs(x[0])
            for i in range(1, n):
                s += abs(x[i])
            return s
        s = abs(x[0]) ** p
        for i in range(1, n):
            s += abs(x[i]) ** p
        return s ** (1.0 / p)
    return impl
