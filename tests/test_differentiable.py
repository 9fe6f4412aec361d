"""The @dd.differentiable decorator: one function, its derivatives attached."""

import math

import numpy as np
import pytest

import dualdiff as dd


@dd.differentiable
def spring_energy(x, k):
    s = 0.0
    for i in range(len(x) - 1):
        s += 0.5 * k * (x[i + 1] - x[i]) ** 2
    return s + math.cos(x[0])


@dd.differentiable
def curve(t):
    return math.sin(t) * t ** 2


@dd.differentiable
def vector_field(x):
    out = np.empty_like(x)
    out[0] = x[0] * x[1]
    out[1] = math.exp(x[0])
    return out


X = np.array([0.3, -0.2, 0.9])


def spring_gradient(x, k):
    g = np.zeros_like(x)
    for i in range(len(x) - 1):
        d = k * (x[i + 1] - x[i])
        g[i] -= d
        g[i + 1] += d
    g[0] -= math.sin(x[0])
    return g


def test_still_computes_the_function():
    assert spring_energy(X, 2.0) == pytest.approx(
        0.5 * 2.0 * ((-0.5) ** 2 + 1.1 ** 2) + math.cos(0.3), rel=1e-15)
    assert spring_energy.__name__ == "spring_energy"


def test_first_order_methods():
    np.testing.assert_allclose(spring_energy.gradient(X, 2.0), spring_gradient(X, 2.0),
                               rtol=1e-14)
    value, g = spring_energy.value_and_gradient(X, 2.0)
    assert value == spring_energy(X, 2.0)
    np.testing.assert_array_equal(g, spring_energy.gradient(X, 2.0))
    t = 0.7
    assert curve.derivative(t) == pytest.approx(math.cos(t) * t ** 2 + 2 * t * math.sin(t),
                                                rel=1e-15)
    J = vector_field.jacobian(np.array([0.5, 2.0]))
    np.testing.assert_allclose(J, [[2.0, 0.5], [math.exp(0.5), 0.0]], rtol=1e-15)


def test_directional_and_second_order_methods():
    v = np.array([1.0, 0.0, -1.0])
    _, jv = spring_energy.jvp(X, v, 2.0)
    assert jv == pytest.approx(spring_gradient(X, 2.0) @ v, rel=1e-14)
    H = spring_energy.hessian(X, 2.0)
    expected = 2.0 * np.array([[1.0, -1, 0], [-1, 2, -1], [0, -1, 1]])
    expected[0, 0] -= math.cos(0.3)
    np.testing.assert_allclose(H, expected, rtol=1e-14)
    np.testing.assert_allclose(spring_energy.hvp(X, v, 2.0), expected @ v, rtol=1e-14)
    assert curve.derivative(0.7, order=2) == pytest.approx(
        (2 - 0.49) * math.sin(0.7) + 4 * 0.7 * math.cos(0.7), rel=1e-14)


def test_check_picks_the_right_comparison():
    assert spring_energy.check(X, 2.0).passed
    assert curve.check(0.7).passed
    assert vector_field.check(np.array([0.5, 2.0])).passed


def test_the_decorated_function_works_with_the_plain_api():
    np.testing.assert_array_equal(dd.gradient(spring_energy, X, args=(2.0,)),
                                  spring_energy.gradient(X, 2.0))


def test_rejects_non_callables():
    with pytest.raises(TypeError, match="expects a function"):
        dd.differentiable(3.0)
