"""Singular points: every mode gives forward mode's answer (issue 22).

A random-program fuzzer found reverse-mode Hessians of NaN where the Hessian
is 0: a second partial that is exactly 0 (a linear node) met the infinite
adjoint of ``cbrt`` or ``sqrt`` at 0.  Related cases found while fixing it: a
backward sweep that meets ``inf - inf`` where forward mode's tangent cancels
to exactly 0 (``cbrt(sin(x0) - sin(x0))``), and forward mode's own
``0 * inf`` in ``floor(sqrt(x0))`` at 0.  The rule (README, Conventions):
an exactly-zero factor keeps a product zero, piecewise-constant functions
have zero partials whatever their argument's, and a reverse-mode result that
holds an inf or nan is recomputed in forward mode.  A 10,000-comparison fuzz
run then found more, each a program below: ``tanh''`` as ``inf / inf`` past
|x| = 355 in nested duals, ``copysign`` multiplying the nan derivative of
``arctan2(0, 0)`` by its zero b-partial, and zero adjoints that are rounded
(``1 / inf``) skipping infinite partials in reverse mode, which answered 0
where forward mode (and the truth, 800) disagree.

One compiled function with a selector serves every program (one compile per
mode); entries of x past the second add ``sum x_i**2``, so a long x takes the
tape in ``mode="auto"`` too.
"""

import math

import numpy as np
import pytest

import dualdiff as dd
from dualdiff import rules


def program(x, sel):
    if sel == 0:
        s = math.cbrt(x[0] - x[0]) + x[1]
    elif sel == 1:
        s = math.sqrt(np.floor(x[0])) + x[1]
    elif sel == 2:
        s = np.cbrt(np.ceil(x[0]))
    elif sel == 3:
        s = math.cbrt(math.sin(x[0]) - math.sin(x[0])) + x[1]
    elif sel == 4:
        s = np.floor(math.sqrt(x[0])) + x[1] * x[1]
    elif sel == 5:    # tanh'' was 1 / cosh**2 nested: inf / inf past |x| = 355
        s = math.tanh(x[0]) * x[1]
    elif sel == 6:    # copysign ignores b's derivative, nan at the origin
        s = np.copysign(x[1], np.arctan2(x[1], x[0]))
    elif sel == 7:    # expm1 overflows: the zero adjoint of log is 1 / inf
        s = np.log(np.expm1(800.0 * x[0])) + x[1]
    else:             # trigamma' at inf is 0, sinh' at -796 is inf (the fuzzer's)
        s = abs(rules.trigamma(x[0] * rules.sinh(800.0 * x[1])))
    for i in range(2, len(x)):
        s += x[i] * x[i]
    return s


# (program, point, gradient of the first two entries, their Hessian)
CASES = [
    (0, [0.3, 1.0], [0.0, 1.0], [[0.0, 0.0], [0.0, 0.0]]),
    (1, [0.5, 1.0], [0.0, 1.0], [[0.0, 0.0], [0.0, 0.0]]),
    (2, [-0.5, 1.0], [0.0, 0.0], [[0.0, 0.0], [0.0, 0.0]]),
    (3, [0.3, 1.0], [0.0, 1.0], [[0.0, 0.0], [0.0, 0.0]]),
    (4, [0.0, 1.0], [0.0, 2.0], [[0.0, 0.0], [0.0, 2.0]]),
    (5, [400.0, 1.0], [0.0, 1.0], [[0.0, 0.0], [0.0, 0.0]]),
    (6, [0.0, 0.0], [0.0, 1.0], [[0.0, 0.0], [0.0, 0.0]]),
    # the value is inf: no mode may answer 0 (the exact slope is 800)
    (7, [1.134, 1.0], [np.nan, 1.0], [[np.nan, 0.0], [0.0, 0.0]]),
    (8, [-2.0, -0.995], [np.nan, np.nan], [[np.nan, 0.0], [0.0, np.nan]]),
]
IDS = ["cbrt(x0-x0)", "sqrt(floor)", "cbrt(ceil)", "cbrt(sin-sin)", "floor(sqrt)",
       "tanh(400)", "copysign(atan2(0,0))", "log(expm1(overflow))", "trigamma(sinh(-796))"]


def _expected(case, n):
    sel, head, grad, hess = case
    x = np.concatenate([head, np.linspace(0.5, 1.5, n - 2)])
    g = np.concatenate([grad, 2.0 * x[2:]])
    H = np.zeros((n, n))
    H[:2, :2] = hess
    H[range(2, n), range(2, n)] = 2.0
    return sel, x, g, H


def assert_hessian(actual, H):
    """Exactly H, except that an input whose second derivative is nan (an
    overflow) may carry nan through its whole row and column: nested duals
    keep a nan in one lane from the others only at first order (README,
    Conventions).  A number there other than the exact one fails."""
    poisoned = np.isnan(np.diag(H))
    loose = poisoned[:, None] | poisoned[None, :]
    np.testing.assert_array_equal(np.where(loose & np.isnan(actual), H, actual), H)


@pytest.fixture(params=[2, 24], ids=["n2", "n24"])
def n(request):
    return request.param


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("mode", ["forward", "reverse", "auto"])
def test_gradients_and_hessians_in_every_mode(case, mode, n):
    sel, x, g, H = _expected(case, n)
    before = x.copy()
    for _ in range(2):  # the second call takes the per-call fast paths
        np.testing.assert_array_equal(dd.gradient(program, x, args=(sel,), mode=mode), g)
        assert_hessian(dd.hessian(program, x, args=(sel,), mode=mode), H)
    value, grad = dd.value_and_gradient(program, x, args=(sel,), mode=mode)
    np.testing.assert_array_equal(grad, g)
    np.testing.assert_array_equal(dd.jacobian(program, x, args=(sel,), mode=mode), g)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_products_with_a_direction(case, mode, n):
    sel, x, g, H = _expected(case, n)
    v = np.linspace(1.0, 2.0, n)
    Hv = np.where(np.isnan(H), 0.0, H) @ v
    Hv[np.isnan(np.diag(H))] = np.nan
    np.testing.assert_array_equal(dd.hvp(program, x, v, args=(sel,), mode=mode), Hv)
    value, gv = dd.vjp(program, x, 1.0, args=(sel,), mode=mode)
    np.testing.assert_array_equal(gv, g)
    value, jv = dd.jvp(program, x, v, args=(sel,))
    if np.isnan(g @ v):
        assert np.isnan(jv)
    else:
        assert jv == pytest.approx(g @ v, rel=1e-15)


def test_python_side_numbers_follow_the_same_rule():
    """The Python-side Dual and HyperDual (the fallback path) agree."""
    x = dd.Dual(0.0, 1.0)
    assert dd.primal(np.floor(np.sqrt(x))) == 0.0
    assert np.floor(np.sqrt(x)).partials.tolist() == [0.0]
    h = dd.HyperDual(0.0, 1.0, 1.0, 0.0)
    y = np.floor(np.sqrt(h))
    assert (y.eps1, y.eps2, y.eps12) == (0.0, 0.0, 0.0)


def test_a_genuine_singularity_stays_visible():
    """The rule only removes 0 * inf: sqrt at 0 still has an infinite slope."""
    def f(x):
        return math.sqrt(x[0]) + x[1]

    x = np.array([0.0, 1.0])
    for mode in ("forward", "reverse"):
        np.testing.assert_array_equal(dd.gradient(f, x, mode=mode), [np.inf, 1.0])


def sum_of_squares(x):
    s = 0.0
    for i in range(len(x)):
        s += x[i] * x[i] / 2.0 + x[i] ** 2 / 2.0
    return s


def overflowing(x):
    return x[0] * math.exp(-x[1])


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_a_nan_in_x_reaches_only_what_depends_on_it(mode):
    """First order, every mode (issue 18): products and quotients of partials
    follow the zero rule, so a NaN value does not spread to other partials."""
    x = np.array([1.0, np.nan, 2.0])
    np.testing.assert_array_equal(dd.gradient(sum_of_squares, x, mode=mode), [2.0, np.nan, 4.0])
    # an overflow: the exact partials are e^1000 and -e^1000
    np.testing.assert_array_equal(dd.gradient(overflowing, np.array([1.0, -1000.0]), mode=mode),
                                  [np.inf, -np.inf])


def power(x):
    return x[0] ** x[1] + np.power(x[2], x[3] - x[2])


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_a_zero_exponent_keeps_its_own_derivative(mode):
    """d/dx0 x0**x1 is x1 x0**(x1 - 1): 0 at x1 = 0, but its derivative in x1
    is 1/x0, which a Hessian needs (forward over forward lost it)."""
    x = np.array([2.0, 0.0, 3.0, 3.0])
    ln2, ln3 = math.log(2.0), math.log(3.0)
    H = np.array([[0.0, 0.5, 0.0, 0.0],
                  [0.5, ln2 * ln2, 0.0, 0.0],
                  [0.0, 0.0, ln3 * ln3 - 2.0 / 3.0, 1.0 / 3.0 - ln3 * ln3],
                  [0.0, 0.0, 1.0 / 3.0 - ln3 * ln3, ln3 * ln3]])
    np.testing.assert_allclose(dd.hessian(power, x, mode=mode), H, rtol=1e-15, atol=0)
    np.testing.assert_allclose(dd.gradient(power, x, mode=mode), [0.0, ln2, -ln3, ln3],
                               rtol=1e-15, atol=0)


def rounding(x):
    return np.floor(x[0]) + np.ceil(x[1]) + np.trunc(x[2]) + np.rint(x[0]) + x[1]


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_rounding_past_the_int64_range_keeps_the_value(mode):
    """np.floor and friends return floats: their value at 1e19 is 1e19 (it
    went through an int64 and came back as -9.2e18)."""
    x = np.array([1e19, -3e19, 5e300])
    value, grad = dd.value_and_gradient(rounding, x, mode=mode)
    assert value == rounding(x)
    np.testing.assert_array_equal(grad, [0.0, 1.0, 0.0])


def overflowing_array(x):
    return np.sum(np.log(np.expm1(800.0 * x)))


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_an_overflow_in_an_array_expression_is_nan_not_zero(mode):
    """The elementwise blocks of the tape follow the backward sweep's rule."""
    grad = dd.gradient(overflowing_array, np.array([1.134, 0.001]), mode=mode)
    assert np.isnan(grad[0])
    assert grad[1] == pytest.approx(800.0 / -math.expm1(-0.8), rel=1e-14)


def powers_of_x1(x):
    s = 0.0
    for i in range(len(x)):
        s += x[0] * x[1] ** i
    return s


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_a_zero_exponent_of_a_tiny_base_does_not_divide_by_zero(mode):
    """x1 ** 0 at x1 = 1e-300 in nested duals took x1 ** -2 = 1 / 0 (a
    ZeroDivisionError) on the way to d/dp (p x1 ** (p - 1)) (the fuzzer's)."""
    x = np.array([1.5, 1e-300])
    np.testing.assert_array_equal(dd.hessian(powers_of_x1, x, mode=mode),
                                  [[0.0, 1.0], [1.0, 0.0]])


def log_of_exp(x):
    return rules.log(np.exp(0.5 * x[0])) + x[1] * x[1]


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_an_underflowed_second_partial_is_not_dropped(mode):
    """log'' = -1/y**2 underflows to 0 at y = exp(500) while y's tangent is
    huge: the tape Hessian lost a term of order 1 (0.25 where the Hessian of
    0.5 x0 is 0; the fuzzer's).  It now leaves such calls to forward mode."""
    x = np.array([1000.0, 1.5])
    np.testing.assert_array_equal(dd.hessian(log_of_exp, x, mode=mode), [[0.0, 0.0], [0.0, 2.0]])
    np.testing.assert_array_equal(dd.hvp(log_of_exp, x, np.array([1.0, 1.0]), mode=mode),
                                  [0.0, 2.0])
