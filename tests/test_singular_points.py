"""Singular points: every mode gives forward mode's answer (issue 22).

A random-program fuzzer found reverse-mode Hessians of NaN where the Hessian
is 0: a second partial that is exactly 0 (a linear node) met the infinite
adjoint of ``cbrt`` or ``sqrt`` at 0.  Related cases found while fixing it: a
backward sweep that meets ``inf - inf`` where forward mode's tangent cancels
to exactly 0 (``cbrt(sin(x0) - sin(x0))``), and forward mode's own
``0 * inf`` in ``floor(sqrt(x0))`` at 0.  The rule (README, Conventions):
an exactly-zero factor keeps a product zero, piecewise-constant functions
have zero partials whatever their argument's, and a reverse-mode result that
holds an inf or nan is recomputed in forward mode.

One compiled function with a selector serves every program (one compile per
mode); entries of x past the second add ``sum x_i**2``, so a long x takes the
tape in ``mode="auto"`` too.
"""

import math

import numpy as np
import pytest

import dualdiff as dd


def program(x, sel):
    if sel == 0:
        s = math.cbrt(x[0] - x[0]) + x[1]
    elif sel == 1:
        s = math.sqrt(np.floor(x[0])) + x[1]
    elif sel == 2:
        s = np.cbrt(np.ceil(x[0]))
    elif sel == 3:
        s = math.cbrt(math.sin(x[0]) - math.sin(x[0])) + x[1]
    else:
        s = np.floor(math.sqrt(x[0])) + x[1] * x[1]
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
]
IDS = ["cbrt(x0-x0)", "sqrt(floor)", "cbrt(ceil)", "cbrt(sin-sin)", "floor(sqrt)"]


def _expected(case, n):
    sel, head, grad, hess = case
    x = np.concatenate([head, np.linspace(0.5, 1.5, n - 2)])
    g = np.concatenate([grad, 2.0 * x[2:]])
    H = np.zeros((n, n))
    H[:2, :2] = hess
    H[range(2, n), range(2, n)] = 2.0
    return sel, x, g, H


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
        np.testing.assert_array_equal(dd.hessian(program, x, args=(sel,), mode=mode), H)
    value, grad = dd.value_and_gradient(program, x, args=(sel,), mode=mode)
    np.testing.assert_array_equal(grad, g)
    np.testing.assert_array_equal(dd.jacobian(program, x, args=(sel,), mode=mode), g)
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_products_with_a_direction(case, mode, n):
    sel, x, g, H = _expected(case, n)
    v = np.linspace(1.0, 2.0, n)
    np.testing.assert_array_equal(dd.hvp(program, x, v, args=(sel,), mode=mode), H @ v)
    value, gv = dd.vjp(program, x, 1.0, args=(sel,), mode=mode)
    np.testing.assert_array_equal(gv, g)
    value, jv = dd.jvp(program, x, v, args=(sel,))
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
