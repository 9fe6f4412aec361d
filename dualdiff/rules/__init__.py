"""The rule table: every elementary function once.

Each unary rule gives the value ``f(x)``, the first derivative ``d1(x, y)``
and the second derivative ``d2(x, y, dy)``, where ``y = f(x)`` and
``dy = d1(x, y)`` are passed in so a rule can reuse what is already computed
(``exp`` is its own derivative, ``tanh' = 1 - y**2``).  Binary rules give the
value and the two partial derivatives.  Every number type of dualdiff (the
Numba ``Dual``, the Python-side ``Dual``) is generated from this table; a rule
is never written twice.

Derivative bodies are written with the *generic functions* defined here
(``cos``, ``exp``, ``digamma`` ...), which accept floats, dual numbers of
either side, and dual numbers nested inside dual numbers.  That is what makes
nesting (second and higher derivatives) work from the same table.

Conventions at kinks and ties (documented in the README):

* comparisons, ``min``/``max``, ``abs`` and branches look at the primal value;
* on a tie the *first* argument wins (``max(a, b)`` is ``a`` when ``a == b``),
  so ``abs'(0) = +1`` and ``relu(x) = max(x, 0.0)`` has derivative 1 at 0;
* piecewise-constant functions (``floor``, ``ceil``, ``trunc``, ``sign``,
  ``rint``; marked ``constant``) have derivative 0 everywhere, whatever the
  derivative of their argument (an infinite one included);
* rules marked ``singular`` have infinite derivatives at a domain edge
  (``sqrt'(0)``); their partials are multiplied NaN-safely, so a partial that
  is exactly zero stays zero instead of becoming ``0 * inf = nan``.
"""

import math
import sys
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from numba.extending import register_jitable

from . import polygamma as _special

__all__ = ["UnaryRule", "BinaryRule", "UNARY", "BINARY", "unary_rule", "binary_rule",
           "spelling_names", "spelling", "float_value", "with_value", "power_d_base",
           "power_d_exponent", "power_d_base_base",
           "power_second_partials"]

LN2 = math.log(2.0)
LN10 = math.log(10.0)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
PI = math.pi


@dataclass(frozen=True)
class UnaryRule:
    """One elementary function of one argument.

    ``math_name``/``numpy_name`` are its spellings in the two modules (None if
    that module lacks it), ``also`` any further ones (see :func:`spellings`);
    ``domain`` is the interval the tests sample.
    """

    name: str
    value: Callable
    d1: Callable
    d2: Optional[Callable]
    domain: tuple
    math_name: Optional[str] = None
    numpy_name: Optional[str] = None
    singular: bool = False
    #: piecewise constant (floor, sign ...): every partial of the result is
    #: exactly 0, even where the argument's is inf (floor(sqrt(x)) at 0)
    constant: bool = False
    #: further spellings, dotted ("numpy.radians", "scipy.special.expit")
    also: tuple = ()
    generic: Optional[Callable] = None  # filled in below


@dataclass(frozen=True)
class BinaryRule:
    """One elementary function of two arguments: value and both partials."""

    name: str
    value: Callable
    d_first: Callable   # df/da (a, b, z)
    d_second: Callable  # df/db (a, b, z)
    domain: tuple
    math_name: Optional[str] = None
    numpy_name: Optional[str] = None
    singular: bool = False
    #: second partials ``(a, b, z) -> (d2f/da2, d2f/da db, d2f/db2)``, for
    #: reverse-mode Hessian tapes (forward mode gets them by nesting)
    d2: Optional[Callable] = None
    also: tuple = ()
    #: df/db is identically zero (copysign takes only the sign of b): the b
    #: term is left out, not multiplied by 0, so a nan or inf derivative of b
    #: (arctan2 at the origin) cannot reach the result
    constant_second: bool = False
    generic: Optional[Callable] = None


# ---------------------------------------------------------------------------
# Generic functions: one per rule, callable on floats and on dual numbers.
# ---------------------------------------------------------------------------
# The Python bodies handle floats and Python-side duals; the Numba typing of
# each generic function is registered by ``_compiled/dual.py`` (floats go to the plain
# value function, Numba duals to the generated dual implementation).

_GENERIC = {}


def float_value(rule, x):
    """``rule``'s value at the float x with Numba's IEEE edges, as compiled
    code gives it: ``log(0.0)`` is -inf and ``sqrt(-1.0)`` nan, where
    ``math`` would raise."""
    if rule.numpy_name is not None:
        with np.errstate(all="ignore"):
            return float(getattr(np, rule.numpy_name)(x))
    try:
        return float(rule.value(x))
    except (ValueError, ZeroDivisionError):
        return math.inf if rule.name == "lgamma" else math.nan
    except OverflowError:
        return math.inf


def _python_dispatch_unary(rule, x):
    if isinstance(x, (float, int, np.floating, np.integer)):
        return float_value(rule, float(x))
    apply = getattr(x, "_dd_apply_unary", None)
    if apply is not None:
        return apply(rule)
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            return np.array([_python_dispatch_unary(rule, xi) for xi in x.ravel()],
                            dtype=object).reshape(x.shape)
        if rule.numpy_name is not None:
            return getattr(np, rule.numpy_name)(x)
        return np.vectorize(rule.value, otypes=[float])(x)
    raise TypeError(f"{rule.name}() expects a real number or a dual number, "
                    f"got {type(x).__name__}")


def _python_dispatch_binary(rule, a, b):
    apply = getattr(a, "_dd_apply_binary", None) or getattr(b, "_dd_apply_binary", None)
    if apply is not None:
        return apply(rule, a, b)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if rule.numpy_name is not None and np.asarray(a).dtype != object \
                and np.asarray(b).dtype != object:
            return getattr(np, rule.numpy_name)(a, b)
        return np.frompyfunc(lambda u, v: _python_dispatch_binary(rule, u, v), 2, 1)(a, b)
    return rule.value(float(a), float(b))


def _generic_unary(name):
    def generic(x):
        return _python_dispatch_unary(_UNARY_BY_NAME[name], x)
    generic.__name__ = generic.__qualname__ = name
    generic.__doc__ = f"``{name}(x)`` for floats and dual numbers (see dualdiff.rules)."
    _GENERIC[name] = generic
    return generic


def _generic_binary(name):
    def generic(a, b):
        return _python_dispatch_binary(_BINARY_BY_NAME[name], a, b)
    generic.__name__ = generic.__qualname__ = name
    generic.__doc__ = f"``{name}(a, b)`` for floats and dual numbers (see dualdiff.rules)."
    _GENERIC[name] = generic
    return generic


sqrt = _generic_unary("sqrt")
cbrt = _generic_unary("cbrt")
exp = _generic_unary("exp")
exp2 = _generic_unary("exp2")
expm1 = _generic_unary("expm1")
log = _generic_unary("log")
log2 = _generic_unary("log2")
log10 = _generic_unary("log10")
log1p = _generic_unary("log1p")
sin = _generic_unary("sin")
cos = _generic_unary("cos")
tan = _generic_unary("tan")
arcsin = _generic_unary("arcsin")
arccos = _generic_unary("arccos")
arctan = _generic_unary("arctan")
sinh = _generic_unary("sinh")
cosh = _generic_unary("cosh")
tanh = _generic_unary("tanh")
arcsinh = _generic_unary("arcsinh")
arccosh = _generic_unary("arccosh")
arctanh = _generic_unary("arctanh")
erf = _generic_unary("erf")
erfc = _generic_unary("erfc")
lgamma = _generic_unary("lgamma")
digamma = _generic_unary("digamma")
trigamma = _generic_unary("trigamma")
tetragamma = _generic_unary("tetragamma")
square = _generic_unary("square")
reciprocal = _generic_unary("reciprocal")
sinc = _generic_unary("sinc")
absolute = _generic_unary("absolute")
sign = _generic_unary("sign")
floor = _generic_unary("floor")
ceil = _generic_unary("ceil")
trunc = _generic_unary("trunc")
rint = _generic_unary("rint")

arctan2 = _generic_binary("arctan2")
hypot = _generic_binary("hypot")
copysign = _generic_binary("copysign")
logaddexp = _generic_binary("logaddexp")


# ---------------------------------------------------------------------------
# Value functions on floats (Numba-compilable; used on the float path)
# ---------------------------------------------------------------------------

@register_jitable
def _sign_value(x):
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return x  # keeps 0.0, -0.0 and nan


@register_jitable
def _sinc_value(x):
    if x == 0.0:
        return 1.0
    px = PI * x
    return math.sin(px) / px


@register_jitable
def _square_value(x):
    return x * x


@register_jitable
def _reciprocal_value(x):
    return 1.0 / x


@register_jitable
def _exp2_value(x):
    return 2.0 ** x


@register_jitable
def _cbrt_value(x):
    return np.cbrt(x)


@register_jitable
def _rint_value(x):
    return np.rint(x)


@register_jitable
def _floor_value(x):
    return np.floor(x)  # a float: math.floor gives an int64, which overflows past 2**63


@register_jitable
def _ceil_value(x):
    return np.ceil(x)  # a float: math.ceil gives an int64, which overflows past 2**63


@register_jitable
def _trunc_value(x):
    return np.trunc(x)  # a float: math.trunc gives an int64, which overflows past 2**63


@register_jitable
def _logaddexp_value(a, b):
    return np.logaddexp(a, b)


@register_jitable
def _logaddexp2_value(a, b):
    return np.logaddexp2(a, b)


@register_jitable
def _expit_value(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@register_jitable
def _deg2rad_value(x):
    return x * (PI / 180.0)


@register_jitable
def _rad2deg_value(x):
    return x * (180.0 / PI)


# ---------------------------------------------------------------------------
# Helpers used by derivative bodies
# ---------------------------------------------------------------------------

@register_jitable
def _tie_sign(x):
    # derivative of abs: +1 on the tie x == 0 (first-argument rule)
    return 1.0 if x >= 0.0 else -1.0


@register_jitable
def _copysign_factor(a, b):
    return math.copysign(1.0, a) * math.copysign(1.0, b)


@register_jitable(error_model="numpy")
def _sech2(x):
    # 1 - tanh(x)**2 cancels for |x| > ~5 (tanh'(15) = 3.7e-13 would keep only
    # three digits).  4 e / (1 + e)**2 with e = exp(-2|x|) keeps full relative
    # accuracy and never overflows: 1 / cosh(x)**2 did, and nested (a Hessian)
    # its derivative became inf / inf = nan for |x| > 355 where it is 0.  The
    # kink of |x| at 0 is harmless: the factor 1 - e of every derivative is 0.
    e = exp(-2.0 * absolute(x))
    s = 1.0 + e
    return 4.0 * e / (s * s)


def _sinc_d1(x, y):
    # (cos(pi x) - sinc(x)) / x cancels near 0: use the Taylor series there,
    # written as a polynomial so it still differentiates under nesting.
    if absolute(x) < 0.05:
        p2 = PI * PI
        x2 = x * x
        return x * p2 * (-2.0 / 6.0 + x2 * p2 * (4.0 / 120.0 + x2 * p2 * (
            -6.0 / 5040.0 + x2 * p2 * (8.0 / 362880.0 + x2 * p2 * (
                -10.0 / 39916800.0 + x2 * p2 * (12.0 / 6227020800.0))))))
    return (cos(PI * x) - y) / x


def _sinc_d2(x, y, dy):
    if absolute(x) < 0.05:
        p2 = PI * PI
        x2 = x * x
        return p2 * (-2.0 / 6.0 + x2 * p2 * (12.0 / 120.0 + x2 * p2 * (
            -30.0 / 5040.0 + x2 * p2 * (56.0 / 362880.0 + x2 * p2 * (
                -90.0 / 39916800.0 + x2 * p2 * (132.0 / 6227020800.0))))))
    return -PI * PI * y - 2.0 * dy / x


# ---------------------------------------------------------------------------
# The table
# ---------------------------------------------------------------------------
# name, value, d1(x, y), d2(x, y, dy), test domain, spellings, singular?

UNARY = [
    UnaryRule("sqrt",    math.sqrt,   lambda x, y: 0.5 / y,                     lambda x, y, dy: -0.5 * dy / x,                  (1e-3, 1e3), "sqrt", "sqrt", singular=True),
    UnaryRule("cbrt",    _cbrt_value, lambda x, y: 1.0 / (3.0 * y * y),         lambda x, y, dy: -2.0 * dy / (3.0 * x),          (-1e2, 1e2), "cbrt", "cbrt", singular=True),
    UnaryRule("exp",     math.exp,    lambda x, y: y,                           lambda x, y, dy: y,                              (-30, 30),   "exp", "exp"),
    UnaryRule("exp2",    _exp2_value, lambda x, y: LN2 * y,                     lambda x, y, dy: LN2 * dy,                       (-30, 30),   "exp2", "exp2"),
    UnaryRule("expm1",   math.expm1,  lambda x, y: exp(x),                      lambda x, y, dy: dy,                             (-30, 30),   "expm1", "expm1"),
    UnaryRule("log",     math.log,    lambda x, y: 1.0 / x,                     lambda x, y, dy: -dy / x,                        (1e-3, 1e3), "log", "log", singular=True),
    UnaryRule("log2",    math.log2,   lambda x, y: 1.0 / (LN2 * x),             lambda x, y, dy: -dy / x,                        (1e-3, 1e3), "log2", "log2", singular=True),
    UnaryRule("log10",   math.log10,  lambda x, y: 1.0 / (LN10 * x),            lambda x, y, dy: -dy / x,                        (1e-3, 1e3), "log10", "log10", singular=True),
    UnaryRule("log1p",   math.log1p,  lambda x, y: 1.0 / (1.0 + x),             lambda x, y, dy: -dy * dy,                       (-0.99, 1e3), "log1p", "log1p", singular=True),
    UnaryRule("sin",     math.sin,    lambda x, y: cos(x),                      lambda x, y, dy: -y,                             (-10, 10),   "sin", "sin"),
    UnaryRule("cos",     math.cos,    lambda x, y: -sin(x),                     lambda x, y, dy: -y,                             (-10, 10),   "cos", "cos"),
    UnaryRule("tan",     math.tan,    lambda x, y: 1.0 + y * y,                 lambda x, y, dy: 2.0 * y * dy,                   (-1.5, 1.5), "tan", "tan"),
    UnaryRule("arcsin",  math.asin,   lambda x, y: 1.0 / sqrt((1.0 - x) * (1.0 + x)),  lambda x, y, dy: x * dy * dy * dy,        (-0.99, 0.99), "asin", "arcsin", singular=True),
    UnaryRule("arccos",  math.acos,   lambda x, y: -1.0 / sqrt((1.0 - x) * (1.0 + x)), lambda x, y, dy: x * dy * dy * dy,        (-0.99, 0.99), "acos", "arccos", singular=True),
    UnaryRule("arctan",  math.atan,   lambda x, y: 1.0 / (1.0 + x * x),         lambda x, y, dy: -2.0 * x * dy * dy,             (-1e2, 1e2), "atan", "arctan"),
    UnaryRule("sinh",    math.sinh,   lambda x, y: cosh(x),                     lambda x, y, dy: y,                              (-20, 20),   "sinh", "sinh"),
    UnaryRule("cosh",    math.cosh,   lambda x, y: sinh(x),                     lambda x, y, dy: y,                              (-20, 20),   "cosh", "cosh"),
    UnaryRule("tanh",    math.tanh,   lambda x, y: _sech2(x),                   lambda x, y, dy: -2.0 * y * dy,                  (-15, 15),   "tanh", "tanh"),
    UnaryRule("arcsinh", math.asinh,  lambda x, y: 1.0 / hypot(x, 1.0),         lambda x, y, dy: -x * dy * dy * dy,              (-1e2, 1e2), "asinh", "arcsinh"),
    UnaryRule("arccosh", math.acosh,  lambda x, y: 1.0 / sqrt((x - 1.0) * (x + 1.0)), lambda x, y, dy: -x * dy * dy * dy,        (1.01, 1e2), "acosh", "arccosh", singular=True),
    UnaryRule("arctanh", math.atanh,  lambda x, y: 1.0 / ((1.0 - x) * (1.0 + x)), lambda x, y, dy: 2.0 * x * dy * dy,            (-0.99, 0.99), "atanh", "arctanh", singular=True),
    UnaryRule("erf",     math.erf,    lambda x, y: TWO_OVER_SQRT_PI * exp(-x * x),  lambda x, y, dy: -2.0 * x * dy,              (-5, 5),     "erf", None, also=("scipy.special.erf",)),
    UnaryRule("erfc",    math.erfc,   lambda x, y: -TWO_OVER_SQRT_PI * exp(-x * x), lambda x, y, dy: -2.0 * x * dy,              (-5, 5),     "erfc", None, also=("scipy.special.erfc",)),
    UnaryRule("lgamma",  math.lgamma, lambda x, y: digamma(x),                  lambda x, y, dy: trigamma(x),                    (1e-2, 1e2), "lgamma", None, also=("scipy.special.gammaln",)),
    UnaryRule("digamma", _special.digamma, lambda x, y: trigamma(x),            lambda x, y, dy: tetragamma(x),                  (1e-2, 1e2), None, None, also=("scipy.special.psi", "scipy.special.digamma")),
    UnaryRule("trigamma", _special.trigamma, lambda x, y: tetragamma(x),        lambda x, y, dy: _special.pentagamma(x),                  (1e-2, 1e2), None, None),
    UnaryRule("tetragamma", _special.tetragamma, lambda x, y: _special.pentagamma(x), None,                                      (1e-2, 1e2), None, None),
    UnaryRule("square",  _square_value, lambda x, y: 2.0 * x,                   lambda x, y, dy: 2.0,                            (-1e2, 1e2), None, "square"),
    UnaryRule("reciprocal", _reciprocal_value, lambda x, y: -y * y,             lambda x, y, dy: -2.0 * y * dy,                  (0.01, 1e2), None, "reciprocal", singular=True),
    UnaryRule("sinc",    _sinc_value, _sinc_d1,                                 _sinc_d2,                                        (-5, 5),     None, "sinc"),
    UnaryRule("absolute", abs,        lambda x, y: _tie_sign(x),                lambda x, y, dy: 0.0,                            (-1e2, 1e2), "fabs", "absolute"),
    UnaryRule("sign",    _sign_value, lambda x, y: 0.0,                         lambda x, y, dy: 0.0,                            (-1e2, 1e2), None, "sign", constant=True),
    UnaryRule("floor",   _floor_value, lambda x, y: 0.0,                        lambda x, y, dy: 0.0,                            (-1e2, 1e2), None, "floor", constant=True),
    UnaryRule("ceil",    _ceil_value, lambda x, y: 0.0,                         lambda x, y, dy: 0.0,                            (-1e2, 1e2), None, "ceil", constant=True),
    UnaryRule("trunc",   _trunc_value, lambda x, y: 0.0,                        lambda x, y, dy: 0.0,                            (-1e2, 1e2), None, "trunc", constant=True),
    UnaryRule("rint",    _rint_value, lambda x, y: 0.0,                         lambda x, y, dy: 0.0,                            (-1e2, 1e2), None, "rint", constant=True),
    UnaryRule("expit",   _expit_value, lambda x, y: y * expit(-x),              lambda x, y, dy: -dy * tanh(0.5 * x),            (-30, 30),   None, None, also=("scipy.special.expit",)),  # noqa: F821 (generic made below)
    UnaryRule("deg2rad", _deg2rad_value, lambda x, y: PI / 180.0,               lambda x, y, dy: 0.0,                            (-1e3, 1e3), "radians", "deg2rad", also=("numpy.radians",)),
    UnaryRule("rad2deg", _rad2deg_value, lambda x, y: 180.0 / PI,               lambda x, y, dy: 0.0,                            (-1e2, 1e2), "degrees", "rad2deg", also=("numpy.degrees",)),
]

# Second partials of the binary rules, on floats (reverse-mode Hessian tapes).
def _atan2_d2(a, b, z):
    r2 = a * a + b * b
    s = 1.0 / (r2 * r2)
    return -2.0 * a * b * s, (a - b) * (a + b) * s, 2.0 * a * b * s


def _hypot_d2(a, b, z):
    s = 1.0 / (z * z * z)
    return b * b * s, -a * b * s, a * a * s


def _logaddexp_d2(a, b, z):
    pq = math.exp(a - z) * math.exp(b - z)  # p (1 - p) with p + q = 1
    return pq, -pq, pq


def _logaddexp2_d2(a, b, z):
    pq = LN2 * 2.0 ** (a - z) * 2.0 ** (b - z)
    return pq, -pq, pq


# name, value, d/da(a, b, z), d/db(a, b, z), test domain (for both arguments), spellings
BINARY = [
    BinaryRule("arctan2",   math.atan2,       lambda a, b, z: b / (a * a + b * b),     lambda a, b, z: -a / (a * a + b * b),   (-10, 10), "atan2", "arctan2", singular=True, d2=_atan2_d2),
    BinaryRule("hypot",     math.hypot,       lambda a, b, z: a / z,                   lambda a, b, z: b / z,                  (-10, 10), "hypot", "hypot", singular=True, d2=_hypot_d2),
    BinaryRule("copysign",  math.copysign,    lambda a, b, z: _copysign_factor(a, b),  lambda a, b, z: 0.0,                    (-10, 10), "copysign", "copysign", d2=lambda a, b, z: (0.0, 0.0, 0.0), constant_second=True),
    BinaryRule("logaddexp", _logaddexp_value, lambda a, b, z: exp(a - z),              lambda a, b, z: exp(b - z),             (-30, 30), None, "logaddexp", d2=_logaddexp_d2),
    BinaryRule("logaddexp2", _logaddexp2_value, lambda a, b, z: exp2(a - z),           lambda a, b, z: exp2(b - z),            (-30, 30), None, "logaddexp2", d2=_logaddexp2_d2),
]

_UNARY_BY_NAME = {r.name: r for r in UNARY}
_BINARY_BY_NAME = {r.name: r for r in BINARY}

# A rule whose generic function no derivative body needs gets it here, so a
# new rule is one line of the table (dualdiff.rules.expit and the like)
for _rule in UNARY:
    if _rule.name not in _GENERIC:
        globals()[_rule.name] = _generic_unary(_rule.name)
        __all__.append(_rule.name)
for _rule in BINARY:
    if _rule.name not in _GENERIC:
        globals()[_rule.name] = _generic_binary(_rule.name)
        __all__.append(_rule.name)

# Make every callable of the table Numba-compilable, and attach the generic
# function to its rule (frozen dataclass: use object.__setattr__ once, here).
# IEEE semantics inside rules (1/0 is inf, not ZeroDivisionError), as in NumPy.
_jitable = register_jitable(error_model="numpy")
for _rule in UNARY:
    object.__setattr__(_rule, "d1", _jitable(_rule.d1))
    if _rule.d2 is not None:
        object.__setattr__(_rule, "d2", _jitable(_rule.d2))
    object.__setattr__(_rule, "generic", _GENERIC[_rule.name])
for _rule in BINARY:
    object.__setattr__(_rule, "d_first", _jitable(_rule.d_first))
    object.__setattr__(_rule, "d_second", _jitable(_rule.d_second))
    if _rule.d2 is not None:
        object.__setattr__(_rule, "d2", _jitable(_rule.d2))
    object.__setattr__(_rule, "generic", _GENERIC[_rule.name])
del _rule


def unary_rule(name):
    """Return the :class:`UnaryRule` called ``name`` (KeyError if none)."""
    return _UNARY_BY_NAME[name]


# ---------------------------------------------------------------------------
# Spellings: every function a user may call for a rule
# ---------------------------------------------------------------------------

def spelling_names(rule, arrays=False):
    """The dotted names of the functions users call for ``rule``: its
    ``math.`` name (not for ``arrays``: NumPy rejects ``math.exp(array)``),
    its ``numpy.`` name, the names in ``rule.also``, and ``builtins.abs``
    for ``absolute``.  Every number type registers its implementation for
    each of them (:mod:`dualdiff._compiled.registrar`).

    Examples
    --------
    >>> from dualdiff import rules
    >>> rules.spelling_names(rules.unary_rule("deg2rad"))
    ['math.radians', 'numpy.deg2rad', 'numpy.radians']
    """
    names = []
    if rule.math_name and not arrays:
        names.append(f"math.{rule.math_name}")
    if rule.numpy_name:
        names.append(f"numpy.{rule.numpy_name}")
    names += list(rule.also)
    if rule.name == "absolute":
        names.append("builtins.abs")
    return names


def spelling(name):
    """``(function, numba_knows_floats)`` for a dotted spelling name, or None
    while its module is not imported (``scipy.special`` is imported by the
    user's code, not by dualdiff: it costs 0.3 s).  Numba compiles ``math``,
    ``numpy`` and builtin spellings on floats itself; for others the number
    types register the float implementation too."""
    module_name, _, attribute = name.rpartition(".")
    module = sys.modules.get(module_name)
    if module is None:
        return None
    return getattr(module, attribute), module_name in ("math", "numpy", "builtins")


def binary_rule(name):
    """Return the :class:`BinaryRule` called ``name`` (KeyError if none)."""
    return _BINARY_BY_NAME[name]


# ---------------------------------------------------------------------------
# Hand-written selections, shared by both number types
# ---------------------------------------------------------------------------
# They pick one operand (its value and its derivatives), comparing primal
# values; on a tie the first argument wins.  ``a != a`` is the NaN test that
# works on floats and on duals of either side.

@register_jitable
def select_max(a, b):
    return b if b > a else a


@register_jitable
def select_min(a, b):
    return b if b < a else a


@register_jitable
def select_fmax(a, b):
    if b != b:
        return a
    if a != a:
        return b
    return b if b > a else a


@register_jitable
def select_fmin(a, b):
    if b != b:
        return a
    if a != a:
        return b
    return b if b < a else a


@register_jitable
def select_clip(x, lo, hi):
    return select_min(select_max(x, lo), hi)


# ---------------------------------------------------------------------------
# The power rule: z = v ** p, its partials once for every number type
# ---------------------------------------------------------------------------
# Hand-written because of its edges, which no "derivative times partials" rule
# of the table can state: d/dv at p == 0 and d/dp at v == 0 < p are limits,
# not 0 * inf.  Generic (floats, and duals of either side nested to any
# depth), so the Numba dual, the tape's Var, the Python Dual and HyperDual all
# take their first and second partials from here.  IEEE semantics (1/0 = inf).

@register_jitable(error_model="numpy")
def power_d_base(v, p):
    """dz/dv = p v**(p - 1); exactly 0 for p == 0 at v == 0 (not 0 * inf).
    Where p's value is 0 it is p / v, not 0: when p is itself a dual (a
    Hessian), d/dp of p v**(p - 1) is 1/v.  (Written p / v because v ** -1 of
    a nested dual takes v ** -2, which is 1 / 0 for tiny v.)"""
    if p == 0:
        return 0.0 * v if v == 0 else p / v
    return p * v ** (p - 1)


def with_value(x, value):
    """``x`` with its primal value (the innermost, for nested duals) replaced
    by the float ``value`` and every partial kept: how a rule states a limit
    whose value and derivatives no formula gives together (see
    :func:`power_d_exponent`).  A float gives ``value``.  (Numba duals: an
    overload in :mod:`dualdiff._compiled.dual`.)"""
    if isinstance(x, (float, int, np.floating, np.integer)):
        return float(value)
    return x._dd_with_value(value)


@register_jitable(error_model="numpy")
def power_d_exponent(z, v, p):
    """dz/dp = z log v (z = v ** p, passed in); its limit 0 at v == 0 < p.
    There, d/dv of it is v**(p - 1) (p log v + 1): its limit is 0 for p > 1
    and -inf for p <= 1 (a Hessian's cross term), while d/dp of it, z log**2
    v, tends to 0.  For p <= 1 the partials are those of -log(v) (-inf times
    v's partials, a zero one kept zero: log is singular) under the value 0."""
    if v == 0 and p > 0:
        if p > 1:
            return 0.0 * z
        return with_value(-log(v), 0.0)
    return z * log(v)


@register_jitable(error_model="numpy")
def power_d_base_base(v, p):
    """d2z/dv2 = p (p - 1) v**(p - 2), exactly 0 for p == 0 and p == 1."""
    return 0.0 * v if p == 0 else p * power_d_base(v, p - 1)


@register_jitable(error_model="numpy")
def power_second_partials(z, v, p):
    """``(d2z/dv2, d2z/dv dp, d2z/dp2)`` of z = v ** p, for numbers (the
    tape's and HyperDual's second partials; nested duals get the same by
    differentiating :func:`power_d_base` and :func:`power_d_exponent`)."""
    vv = power_d_base_base(v, p)
    w = v ** (p - 1)  # d/dp (p w) = w + p dw/dp
    vp = w + p * power_d_exponent(w, v, p - 1)
    pp = power_d_exponent(power_d_exponent(z, v, p), v, p)
    return vv, vp, pp


# The other hand-written special cases live in the number types themselves
# because they need more than "derivative times partials":
#   + - * /            exact formulas; division is not multiplication by 1/b
#   ** (pow)           integer / float / dual exponents (partials: above)
#   min, max, fmin, fmax, np.clip, np.maximum, np.minimum   select one operand
#   comparisons        compare primal values
#   float()            refuses (it would silently drop derivatives)
#   int(), math.floor/ceil/trunc   return Python ints of the primal value
#   isnan/isinf/isfinite           look at the primal value
