"""Never a stale answer: values Numba freezes at compile time (issue 18).

Numba bakes the globals a function names, its closure cells and the helpers
it calls into the compiled code.  After a user rebinds such a global,
mutates such an array or redefines such a helper, every operator must give
the derivative of the function as it is now, on its first call and on the
per-call fast paths of later calls.  Expected values are closed forms.
"""

import math
import warnings

import numpy as np
import pytest

import dualdiff as dd

SCALE = 2.0
WEIGHTS = np.array([1.0, 2.0, 3.0])


def _cube(t):
    return t ** 3


def scaled(x):
    return SCALE * _cube(x[0]) + WEIGHTS[1] * x[1] * x[1]


X = np.array([1.5, -0.5])


def expected(scale, weight, power=3):
    """Value, gradient and Hessian of ``scaled`` at X."""
    x0, x1 = X
    value = scale * x0 ** power + weight * x1 * x1
    grad = np.array([scale * power * x0 ** (power - 1), 2.0 * weight * x1])
    hess = np.diag([scale * power * (power - 1) * x0 ** (power - 2), 2.0 * weight])
    return value, grad, hess


V = np.array([0.25, 2.0])

# each operator as a function of (expected value, gradient, Hessian) -> (got, want)
OPERATORS = {
    "gradient forward": (lambda: dd.gradient(scaled, X, mode="forward"), lambda e: e[1]),
    "gradient reverse": (lambda: dd.gradient(scaled, X, mode="reverse"), lambda e: e[1]),
    "value_and_gradient": (lambda: np.append(*dd.value_and_gradient(scaled, X)),
                           lambda e: np.append(e[0], e[1])),
    "jacobian reverse": (lambda: dd.jacobian(scaled, X, mode="reverse"), lambda e: e[1]),
    "hessian forward": (lambda: dd.hessian(scaled, X, mode="forward"), lambda e: e[2]),
    "hessian reverse": (lambda: dd.hessian(scaled, X, mode="reverse"), lambda e: e[2]),
    "hvp reverse": (lambda: dd.hvp(scaled, X, V, mode="reverse"), lambda e: e[2] @ V),
    "hvp forward": (lambda: dd.hvp(scaled, X, V, mode="forward"), lambda e: e[2] @ V),
    "jvp": (lambda: dd.jvp(scaled, X, V)[1], lambda e: e[1] @ V),
    "vjp reverse": (lambda: dd.vjp(scaled, X, 2.0, mode="reverse")[1], lambda e: 2.0 * e[1]),
    "curried gradient": (lambda: dd.gradient(scaled)(X), lambda e: e[1]),
    "differentiable call": (lambda: dd.differentiable(scaled)(X), lambda e: e[0]),
    "differentiable hessian": (lambda: dd.differentiable(scaled).hessian(X), lambda e: e[2]),
}


@pytest.fixture
def restore_globals():
    yield
    global SCALE, _cube
    SCALE = 2.0
    WEIGHTS[:] = [1.0, 2.0, 3.0]
    _cube = _original_cube


_original_cube = _cube


def _check(name, scale, weight, power=3):
    run, want = OPERATORS[name]
    for _ in range(2):  # the full path, then the per-call fast path
        np.testing.assert_allclose(run(), want(expected(scale, weight, power)), rtol=1e-14)


@pytest.mark.parametrize("name", OPERATORS)
def test_every_operator_sees_a_rebound_global_and_a_mutated_array(name, restore_globals):
    global SCALE
    with warnings.catch_warnings():
        warnings.simplefilter("error", dd.FallbackWarning)
        _check(name, 2.0, 2.0)
        SCALE = 5.0
        _check(name, 5.0, 2.0)
        WEIGHTS[1] = -3.0
        _check(name, 5.0, -3.0)


def test_a_redefined_helper_is_compiled_afresh(restore_globals):
    global _cube
    _check("gradient forward", 2.0, 2.0)
    _check("hessian reverse", 2.0, 2.0)

    def _cube(t):  # noqa: F811 (a notebook cell run again with new code)
        return t ** 2

    _check("gradient forward", 2.0, 2.0, power=2)
    _check("hessian reverse", 2.0, 2.0, power=2)


def _closure(k):
    coefficients = np.array([k, 1.0])

    def g(x):
        return coefficients[0] * math.sin(x[0]) + coefficients[1] * x[1] ** 2

    return g, coefficients


def test_a_mutated_closure_array_is_seen():
    g, coefficients = _closure(1.0)
    x = np.array([0.3, 2.0])
    for mode in ("forward", "reverse"):
        np.testing.assert_allclose(dd.gradient(g, x, mode=mode), [math.cos(0.3), 4.0])
    coefficients[:] = [3.0, -1.0]
    for mode in ("forward", "reverse"):
        for _ in range(2):
            np.testing.assert_allclose(dd.gradient(g, x, mode=mode), [3.0 * math.cos(0.3), -4.0])
    np.testing.assert_allclose(dd.hessian(g, x), np.diag([-3.0 * math.sin(0.3), -2.0]))


def test_an_unchanged_function_is_not_recompiled():
    """The check is by value: assigning an equal value keeps the compiled code."""
    global SCALE
    from dualdiff._engine.target import target_of
    dd.gradient(scaled, X)
    target = target_of(scaled)
    SCALE = float(SCALE)  # a new float object of the same value
    WEIGHTS[1] = WEIGHTS[1]
    dd.gradient(scaled, X)
    assert target_of(scaled) is target


def test_nan_and_tuples_compare_by_value():
    from dualdiff._engine.frozen import _contents, _differs
    assert not _differs(math.nan, None, float("nan"))
    assert _differs(1.0, None, math.nan)
    assert _differs(1.0, None, 1)  # an int compiles differently from a float
    pair = (np.array([1.0]), 2.0)
    contents = _contents(pair)
    assert not _differs(pair, contents, pair)
    pair[0][0] = 2.0
    assert _differs(pair, contents, pair)
    big = np.zeros(10 ** 5)  # compared by np.array_equal, not as bytes
    contents = _contents(big)
    assert not _differs(big, contents, big)
    big[-1] = 1.0
    assert _differs(big, contents, big)
