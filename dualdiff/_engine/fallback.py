"""Running a user's function on Python-side duals when Numba cannot compile it.

NumPy functions already accept :class:`~dualdiff.numbers.dual.Dual` (through
``__array_ufunc__`` and the ufunc-named methods), but ``math.sin(dual)`` would
call ``float(dual)``.  So the function is re-created with the same code and a
copy of its globals in which the ``math`` module and its functions are
replaced by the generic functions of the rule table.  Helper functions it
calls from the same globals get the same treatment.
"""

import math
import operator
import types as pytypes

from .. import rules
from ..numbers.dual import Dual, primal

__all__ = ["pythonize", "jit_helpers", "MATH_SHIM"]


def _log(x, base=None):
    if base is None:
        return rules.log(x)
    return rules.log(x) / rules.log(base)


def _predicate(fn):
    def check(x):
        return fn(primal(x)) if isinstance(x, Dual) else fn(x)
    check.__name__ = fn.__name__
    return check


# every math. spelling of the rule table, and the hand-written ones: log with
# a base, pow, and the predicates that look at the primal value
_MATH_NAMES = {rule.math_name: rule.generic for rule in rules.UNARY + rules.BINARY
               if rule.math_name}
_MATH_NAMES.update({
    "log": _log, "pow": operator.pow,
    "isnan": _predicate(math.isnan), "isinf": _predicate(math.isinf),
    "isfinite": _predicate(math.isfinite),
})

def _without_rule(name, fn):
    def guarded(*args):
        if any(isinstance(a, Dual) for a in args):
            raise TypeError(f"math.{name} has no derivative rule in dualdiff (the rules are "
                            "listed in the README); write it with functions that have one")
        return fn(*args)
    guarded.__name__ = name
    return guarded


MATH_SHIM = pytypes.ModuleType("dualdiff_math_shim", "math, with dual-aware functions")
MATH_SHIM.__dict__.update({k: (_without_rule(k, v) if callable(v) else v)
                           for k, v in vars(math).items() if not k.startswith("__")})
MATH_SHIM.__dict__.update(_MATH_NAMES)

_BY_IDENTITY = {id(getattr(math, name)): fn for name, fn in _MATH_NAMES.items()}


def _is_dispatcher(obj):
    return hasattr(obj, "py_func") and hasattr(obj, "overloads")


def _swap(value, memo, rewrite):
    if value is math:
        return MATH_SHIM
    if id(value) in _BY_IDENTITY and callable(value):
        return _BY_IDENTITY[id(value)]
    if _is_dispatcher(value) or isinstance(value, pytypes.FunctionType):
        return pythonize(value, memo, rewrite)
    return value


def _names_used(code):
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, pytypes.CodeType):
            names |= _names_used(const)
    return names


def pythonize(fn, memo=None, rewrite=None):
    """Return a pure-Python version of ``fn`` that works on Python duals
    (``rewrite`` as for :func:`jit_helpers`)."""
    if memo is None:
        memo = {}
    if _is_dispatcher(fn):
        fn = fn.py_func
    if not isinstance(fn, pytypes.FunctionType):
        return _swap(fn, memo, rewrite) if id(fn) in _BY_IDENTITY else fn
    if id(fn) in memo:
        return memo[id(fn)]
    key = id(fn)
    if rewrite is not None:
        fn = rewrite(fn) or fn
    new_globals = dict(fn.__globals__)
    memo[key] = fn  # guards recursion while globals are rewritten
    for name in _names_used(fn.__code__):
        if name in new_globals:
            new_globals[name] = _swap(new_globals[name], memo, rewrite)
    closure = None
    if fn.__closure__:
        cells = []
        for cell in fn.__closure__:
            try:
                cells.append(pytypes.CellType(_swap(cell.cell_contents, memo, rewrite)))
            except ValueError:  # empty cell
                cells.append(cell)
        closure = tuple(cells)
    clone = pytypes.FunctionType(fn.__code__, new_globals, fn.__name__,
                                 fn.__defaults__, closure)
    clone.__kwdefaults__ = fn.__kwdefaults__
    clone.__dict__.update(fn.__dict__)
    memo[key] = clone
    return clone


# ---------------------------------------------------------------------------
# The other direction: helpers for the compiled path
# ---------------------------------------------------------------------------
# Numba compiles a function only if every function it calls is compiled too.
# Users of dualdiff should not have to decorate their helpers, so the plain
# Python functions a user function calls (from the user's own modules, never
# from libraries) are jitted along with it.

_LIBRARY_PREFIXES = ("numpy", "scipy", "math", "numba", "dualdiff", "builtins", "_")


def _is_user_function(value):
    if not isinstance(value, pytypes.FunctionType):
        return False
    module = getattr(value, "__module__", None) or ""
    if module in ("__main__", "dualdiff.examples"):  # scripts, notebooks, our examples
        return True
    return not module.startswith(_LIBRARY_PREFIXES)


def jit_helpers(fn, jit, memo=None, rewrite=None):
    """``fn`` with the user-defined plain functions it calls replaced by
    ``jit(helper)`` (recursively; a helper that calls itself calls its own
    jitted version); ``fn`` itself is not jitted.  With ``rewrite`` (a
    function returning a new function or None), ``fn`` and every helper are
    first replaced by ``rewrite(f)`` where that is not None."""
    if memo is None:
        memo = {}
    if not isinstance(fn, pytypes.FunctionType):
        return fn
    clone, helpers = _clone(fn, rewrite)
    for name, helper in helpers:
        clone.__globals__[name] = _jitted(helper, jit, memo, rewrite)
    return clone


def _jitted(helper, jit, memo, rewrite):
    """``jit`` of the helper's clone, registered before its own helpers are,
    so that recursion (direct or mutual) finds it."""
    if id(helper) in memo:
        return memo[id(helper)]
    clone, helpers = _clone(helper, rewrite)
    memo[id(helper)] = dispatcher = jit(clone)
    for name, inner in helpers:
        clone.__globals__[name] = _jitted(inner, jit, memo, rewrite)
    return dispatcher


def _clone(fn, rewrite):
    """``(clone of fn with globals of its own, [(name, user helper)])``."""
    if rewrite is not None:
        fn = rewrite(fn) or fn
    helpers = [(n, fn.__globals__[n]) for n in _names_used(fn.__code__)
               if n in fn.__globals__ and _is_user_function(fn.__globals__[n])]
    if not helpers:
        return fn, []
    clone = pytypes.FunctionType(fn.__code__, dict(fn.__globals__), fn.__name__,
                                 fn.__defaults__, fn.__closure__)
    clone.__kwdefaults__ = fn.__kwdefaults__
    return clone, helpers
