"""Every rule of the table against mpmath, through every path.

For each rule and each sample point of its domain we check, to 1e-13
relative (a few documented exceptions below):

* the table itself: value, d1 and d2 on floats;
* the Numba path: ``math.f``, ``np.f`` and the generic ``rules.f`` applied to
  a ``Dual[float64, 1]`` (first derivative) and to a nested
  ``Dual[Dual[float64, 1], 1]`` (second derivative, formed by nesting);
* the Python path: the same on ``dualdiff.Dual``.

One compiled function per rule covers all spellings and both orders, which
keeps the compile time of this module near 20 s.
"""

import builtins
import math

import mpmath as mp
import numpy as np
import pytest
import scipy.special

import dualdiff as dd
from dualdiff import rules
from dualdiff._engine.fallback import MATH_SHIM
from dualdiff._compiled.dual import make_dual
from dualdiff._compiled.compat import numba
from dualdiff._compiled.registrar import register_pending

mp.mp.dps = 40

MP_REFERENCE = {
    "sqrt": mp.sqrt, "cbrt": lambda x: mp.sign(x) * mp.cbrt(abs(x)), "exp": mp.exp, "exp2": lambda x: mp.power(2, x),
    "expm1": mp.expm1, "log": mp.log, "log2": lambda x: mp.log(x, 2), "log10": mp.log10,
    "log1p": mp.log1p, "sin": mp.sin, "cos": mp.cos, "tan": mp.tan, "arcsin": mp.asin,
    "arccos": mp.acos, "arctan": mp.atan, "sinh": mp.sinh, "cosh": mp.cosh, "tanh": mp.tanh,
    "arcsinh": mp.asinh, "arccosh": mp.acosh, "arctanh": mp.atanh, "erf": mp.erf,
    "erfc": mp.erfc, "lgamma": mp.loggamma, "digamma": mp.digamma,
    "trigamma": lambda x: mp.polygamma(1, x), "tetragamma": lambda x: mp.polygamma(2, x),
    "square": lambda x: x * x, "reciprocal": lambda x: 1 / x,
    "sinc": lambda x: mp.sin(mp.pi * x) / (mp.pi * x) if x != 0 else mp.mpf(1),
    "absolute": abs, "expit": lambda x: 1 / (1 + mp.exp(-x)),
    "deg2rad": lambda x: x * mp.pi / 180, "rad2deg": lambda x: x * 180 / mp.pi,
}
PIECEWISE_CONSTANT = {"sign": np.sign, "floor": np.floor, "ceil": np.ceil,
                      "trunc": np.trunc, "rint": np.rint}

SMOOTH = [r for r in rules.UNARY if r.name in MP_REFERENCE]
assert {r.name for r in rules.UNARY} == set(MP_REFERENCE) | set(PIECEWISE_CONSTANT), \
    "every rule of the table must have a reference here"

RTOL = 1e-13
# Exceptions, each with its reason:
#  * digamma (lgamma's d1, digamma's value) has a root at 1.4616...; near it
#    the result is small and its relative error unbounded, so the check there
#    is absolute: a few ulps of the terms that cancel (about 2.5).
#  * deg2rad and rad2deg are linear: their second derivative is exactly 0,
#    where mpmath's numerical differentiation at 40 digits leaves ~1e-50.
ABS_FLOOR = {("lgamma", 1): 2e-15, ("digamma", 0): 2e-15,
             ("deg2rad", 2): 1e-40, ("rad2deg", 2): 1e-40}


def sample_points(rule, count=15):
    lo, hi = rule.domain
    t = (np.arange(count) + 0.37) / count  # avoids 0 and the interval ends
    pts = lo + (hi - lo) * t
    if rule.name == "sinc":
        pts = np.concatenate([pts, [0.0, 1e-3, -0.02, 0.049, 0.051]])
    return pts


def reference(rule, x, order):
    f = MP_REFERENCE[rule.name]
    if order == 0:
        return float(f(mp.mpf(x)))
    return float(mp.diff(f, mp.mpf(x), order))


def assert_matches(got, rule, x, order, rtol=RTOL):
    ref = reference(rule, x, order)
    tol = rtol * abs(ref) + ABS_FLOOR.get((rule.name, order), 1e-300)
    assert abs(got - ref) <= tol, (
        f"{rule.name} order {order} at x={x!r}: got {got!r}, mpmath {ref!r}, "
        f"rel err {abs(got - ref) / abs(ref) if ref else abs(got):.2e}")


# ---------------------------------------------------------------------------
# The table on floats
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("rule", SMOOTH, ids=lambda r: r.name)
def test_table_value_and_derivatives(rule):
    for x in sample_points(rule):
        y = rule.generic(x)
        assert_matches(y, rule, x, 0)
        d1 = rule.d1(x, y)
        assert_matches(d1, rule, x, 1)
        if rule.d2 is not None:
            assert_matches(rule.d2(x, y, d1), rule, x, 2)


@pytest.mark.parametrize("name", sorted(PIECEWISE_CONSTANT))
def test_piecewise_constant_rules_have_zero_derivative(name):
    rule = rules.unary_rule(name)
    for x in [-2.5, -1.0, -0.3, 0.0, 0.7, 2.5, 3.0]:
        assert rule.generic(x) == PIECEWISE_CONSTANT[name](x)
        assert rule.d1(x, rule.generic(x)) == 0.0
        d = rule.generic(dd.Dual(x, 1.0))
        assert d.value == PIECEWISE_CONSTANT[name](x) and d.partials[0] == 0.0


# ---------------------------------------------------------------------------
# Numba path: one compiled function per rule, all spellings, orders 1 and 2
# ---------------------------------------------------------------------------

def _spellings(rule):
    """Every spelling of the table for ``rule``, as source text."""
    names = [f"rules.{rule.name}"] + rules.spelling_names(rule)
    return [name.replace("numpy.", "np.").replace("builtins.", "") for name in names]


# Spellings of modules dualdiff does not import are registered on first use
# of an operator; these tests compile with numba.njit directly.
register_pending()


_compiled = {}


def compiled_rule(rule):
    """njit function: points -> (values, first derivatives, second derivatives)
    for each spelling, columns in the order of _spellings(rule)."""
    if rule.name not in _compiled:
        spellings = _spellings(rule)
        lines = ["def run(xs):",
                 f"    out = np.empty((len(xs), {len(spellings)}, 3))",
                 "    for i in range(len(xs)):",
                 "        d = make_dual(xs[i], (1.0,), 0)",
                 "        dd2 = make_dual(make_dual(xs[i], (1.0,), 0), "
                 "(make_dual(1.0, (0.0,), 0),), 0)"]
        for k, fn in enumerate(spellings):
            lines += [f"        y = {fn}(d)",
                      f"        y2 = {fn}(dd2)",
                      f"        out[i, {k}, 0] = y.value",
                      f"        out[i, {k}, 1] = y.partials[0]",
                      f"        out[i, {k}, 2] = y2.partials[0].partials[0]"]
        lines.append("    return out")
        ns = {"np": np, "math": math, "rules": rules, "make_dual": make_dual, "scipy": scipy}
        exec("\n".join(lines), ns)
        _compiled[rule.name] = numba.njit(ns["run"])
    return _compiled[rule.name]


@pytest.mark.parametrize("rule", SMOOTH, ids=lambda r: r.name)
def test_numba_dual_all_spellings(rule):
    xs = sample_points(rule)
    out = compiled_rule(rule)(xs)
    for i, x in enumerate(xs):
        for k in range(out.shape[1]):
            assert_matches(out[i, k, 0], rule, x, 0)
            assert_matches(out[i, k, 1], rule, x, 1)
            if rule.name != "tetragamma":  # needs pentagamma's derivative
                assert_matches(out[i, k, 2], rule, x, 2, rtol=5 * RTOL)


# ---------------------------------------------------------------------------
# Python path: dualdiff.Dual through the generic function, NumPy and math shim
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("rule", SMOOTH, ids=lambda r: r.name)
def test_python_dual_all_spellings(rule):
    fns = [rule.generic]
    for name in rules.spelling_names(rule):
        module, _, attribute = name.rpartition(".")
        fns.append(getattr({"math": MATH_SHIM, "numpy": np, "builtins": builtins,
                            "scipy.special": scipy.special}[module], attribute))
    for x in sample_points(rule, count=7):
        for fn in fns:
            y = fn(dd.Dual(x, 1.0))
            assert_matches(y.value, rule, x, 0)
            assert_matches(y.partials[0], rule, x, 1)
            if rule.name != "tetragamma":
                inner = dd.Dual(x, 1.0, tag=1)
                y2 = fn(dd.Dual(inner, dd.Dual(1.0, 0.0, tag=1), tag=2))
                assert_matches(y2.partials[0].partials[0], rule, x, 2, rtol=5 * RTOL)


# ---------------------------------------------------------------------------
# Binary rules
# ---------------------------------------------------------------------------

MP_BINARY = {"arctan2": mp.atan2, "hypot": lambda a, b: mp.sqrt(a * a + b * b),
             "logaddexp": lambda a, b: mp.log(mp.exp(a) + mp.exp(b)),
             "logaddexp2": lambda a, b: mp.log(mp.power(2, a) + mp.power(2, b), 2),
             "pow": lambda a, b: mp.power(abs(a), b)}
BINARY_POINTS = [(0.7, 1.3), (-2.0, 0.5), (3.0, -4.0), (-0.1, -0.2), (25.0, 24.0)]


@numba.njit
def _binary_numba(a, b):
    da = make_dual(a, (1.0, 0.0), 0)
    db = make_dual(b, (0.0, 1.0), 0)
    out = np.empty((5, 3))
    ys = (math.atan2(da, db), np.hypot(da, db), np.logaddexp(da, db), abs(da) ** db,
          np.logaddexp2(da, db))
    for k in range(5):
        out[k, 0], out[k, 1], out[k, 2] = ys[k].value, ys[k].partials[0], ys[k].partials[1]
    return out


def _binary_reference(name, a, b):
    f = MP_BINARY[name]
    a, b = mp.mpf(a), mp.mpf(b)
    return [float(f(a, b)), float(mp.diff(f, (a, b), (1, 0))), float(mp.diff(f, (a, b), (0, 1)))]


@pytest.mark.parametrize("a,b", BINARY_POINTS)
def test_binary_rules_numba_and_python(a, b):
    got_numba = _binary_numba(a, b)
    da, db = dd.Dual(a, 1.0, 0.0), dd.Dual(b, 0.0, 1.0)
    python = [rules.arctan2(da, db), np.hypot(da, db), np.logaddexp(da, db), abs(da) ** db,
              np.logaddexp2(da, db)]
    for k, name in enumerate(["arctan2", "hypot", "logaddexp", "pow", "logaddexp2"]):
        ref = _binary_reference(name, a, b)
        got_py = [python[k].value, python[k].partials[0], python[k].partials[1]]
        for j in range(3):
            tol = RTOL * abs(ref[j]) + 1e-300
            assert abs(got_numba[k, j] - ref[j]) <= tol, (name, j, got_numba[k, j], ref[j])
            assert abs(got_py[j] - ref[j]) <= tol, (name, j, got_py[j], ref[j])


def test_copysign_partials():
    y = rules.copysign(dd.Dual(2.0, 1.0, 0.0), dd.Dual(-3.0, 0.0, 1.0))
    assert y.value == -2.0 and list(y.partials) == [-1.0, 0.0]
    y = rules.copysign(dd.Dual(-2.0, 1.0, 0.0), -1.0)
    assert y.value == -2.0 and list(y.partials) == [1.0, 0.0]


# ---------------------------------------------------------------------------
# The power rule: one formula (rules.power_*) for every number type
# ---------------------------------------------------------------------------

def power_of_two(x):
    return x[0] ** x[1]


def _power_hessian_mpmath(v, p):
    with mp.workdps(40):
        V, P = mp.mpf(v), mp.mpf(p)
        z = V ** P
        return np.array([[float(P * (P - 1) * V ** (P - 2)), float(V ** (P - 1) * (1 + P * mp.log(V)))],
                         [float(V ** (P - 1) * (1 + P * mp.log(V))), float(z * mp.log(V) ** 2)]])


def _nested_python_hessian(v, p):
    """The Hessian of v ** p from nested Python Duals (the fallback's numbers)."""
    D = dd.Dual
    a = D(D(v, 1.0, 0.0), D(1.0, 0.0, 0.0), D(0.0, 0.0, 0.0))
    b = D(D(p, 0.0, 1.0), D(0.0, 0.0, 0.0), D(1.0, 0.0, 0.0))
    z = a ** b
    return np.array([[z.partials[j].partials[i] for j in range(2)] for i in range(2)])


@pytest.mark.parametrize("v, p, exact", [
    (2.0, 1.5, None), (0.7, -2.0, None), (3.0, 1.0, None), (2.0, 0.0, None), (1.3, 2.0, None),
    (0.0, 2.0, [[2.0, 0.0], [0.0, 0.0]]), (0.0, 3.0, [[0.0, 0.0], [0.0, 0.0]]),
    # d2/dv dp = v**(p-1) (1 + p log v) -> -inf at v = 0 for p <= 1
    (0.0, 1.0, [[0.0, -np.inf], [-np.inf, 0.0]]), (0.0, 0.5, [[-np.inf, -np.inf], [-np.inf, 0.0]])])
def test_power_partials_agree_in_every_number_type(v, p, exact):
    """Hyper-duals (compiled), the second-order tape, the Python path and
    nested Python Duals all take v ** p's partials from the rule table's power
    rule: they agree, with mpmath where v > 0 and with the exact limits at
    v == 0 < p (p == 0 and p == 1 included, where the formulas branch)."""
    x = np.array([v, p])
    forward = dd.hessian(power_of_two, x, mode="forward")
    tape = dd.hessian(power_of_two, x, mode="reverse")
    with pytest.warns(dd.FallbackWarning):   # a dict argument: the Python path, on purpose
        python = dd.hessian(lambda x, unused: x[0] ** x[1], x, args=({},))
    nested = _nested_python_hessian(v, p)
    reference = _power_hessian_mpmath(v, p) if exact is None else np.array(exact)
    for got in (forward, tape):
        np.testing.assert_allclose(got, reference, rtol=2e-15, atol=0)
    for got in (python, nested):
        if v == 0 and p <= 1:
            # Python duals nested in Python duals hold their partials in object
            # arrays, multiplied without the NaN-safe product: 0 * inf is nan
            # there.  A nan, never another number.
            known = ~np.isnan(got)
            np.testing.assert_array_equal(got[known], reference[known])
            if p == 1:
                assert got[0, 1] == got[1, 0] == -np.inf
        else:
            np.testing.assert_allclose(got, reference, rtol=2e-15, atol=0)
