"""dd.jit: derivatives as Numba dispatchers, callable from compiled code."""

import math

import numba
import numpy as np
import pytest

import dualdiff as dd
from dualdiff.examples import example, example_derivative, rosenbrock, rosenbrock_gradient

d_example = dd.jit.derivative(example)
grad_rosenbrock = dd.jit.gradient(rosenbrock)


def cubic_minus(x, c):
    return x ** 3 - c


d_cubic = dd.jit.derivative(cubic_minus)
cubic_compiled = numba.njit(cubic_minus)


@numba.njit
def cube_root_by_newton(c):
    x = 1.0
    for _ in range(60):
        x -= cubic_compiled(x, c) / d_cubic(x, c)
    return x


def test_derivative_matches_the_closed_form():
    for x in (-1.3, 0.0, 0.7, 2.5):
        assert d_example(x) == pytest.approx(example_derivative(x), rel=1e-14)
    assert d_example(1) == pytest.approx(example_derivative(1.0), rel=1e-14)  # an int x


def test_gradient_matches_the_closed_form():
    for n in (1, 3, 4, 10, 33):
        x = np.linspace(-1.0, 1.5, n)
        np.testing.assert_allclose(grad_rosenbrock(x), rosenbrock_gradient(x),
                                   rtol=1e-14, atol=1e-12)


def test_extra_arguments_and_use_inside_compiled_code():
    assert d_cubic(2.0, 5.0) == 12.0
    assert cube_root_by_newton(10.0) == pytest.approx(10.0 ** (1 / 3), rel=1e-15)


def test_agrees_with_the_python_api():
    x = np.array([0.3, -1.2, 2.0, 0.5, 0.1])
    np.testing.assert_array_equal(grad_rosenbrock(x), dd.gradient(rosenbrock, x, chunk=4))
    assert d_example(0.4) == dd.derivative(example, 0.4)


def test_input_is_not_modified():
    x = np.array([0.3, -1.2, 2.0])
    before = x.copy()
    grad_rosenbrock(x)
    np.testing.assert_array_equal(x, before)


@numba.njit
def calls_a_jit_derivative(t):
    return d_example(t)


def test_dual_arguments_are_refused_with_a_clear_error():
    # differentiating through a dd.jit derivative would feed it a dual number
    with pytest.raises(numba.core.errors.TypingError, match="plain numbers"):
        dd.jit.derivative(calls_a_jit_derivative)(0.3)


def times(x, y):
    return x * y


d_times = dd.jit.derivative(times)


@numba.njit
def passes_a_dual_through_args(y):
    return d_times(2.0, y)   # d/dy of d/dx (x y) = 1


def test_dual_extra_arguments_are_refused_too():
    # without the check the outer perturbation would be mistaken for the
    # inner one (same tag) and the answer would be 0 instead of 1
    with pytest.raises(numba.core.errors.TypingError, match="extra arguments"):
        dd.jit.derivative(passes_a_dual_through_args)(3.0)


def test_rejects_non_callables():
    with pytest.raises(TypeError, match="callable"):
        dd.jit.derivative(1.0)
    with pytest.raises(ValueError, match="chunk"):
        dd.jit.gradient(rosenbrock, chunk=0)


def constant(x):
    return 2.0


def test_constant_function_and_builtins():
    assert dd.jit.derivative(constant)(3.0) == 0.0
    assert dd.jit.derivative(math.sin)(0.5) == math.cos(0.5)
