"""Second order: hessian, hvp, vhv and derivative(order=2) against closed forms,
mpmath, the Python fallback, jacobian-of-gradient and SciPy's optimizers.

Compiles are the cost here (each (function, block size) pair compiles once),
so the problems are module-level and their sizes chosen to share block sizes:
n = 2 uses blocks of 2, n = 4..50 blocks of 4 (MAX_AUTO_HESSIAN_CHUNK).
"""

import math

import mpmath
import numpy as np
import pytest

import dualdiff as dd
from functions import (
    NESTED_DD, NO_NUMBA_TYPE, broyden, example, on_the_python_path, rosenbrock,
    rosenbrock_gradient,
)

RNG = np.random.default_rng(20261122)


# ---------------------------------------------------------------------------
# Problems, as users write them, and their closed-form Hessians
# ---------------------------------------------------------------------------

def rosenbrock_hessian(x):
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200.0 * x[i] ** 2 - 400.0 * x[i + 1] + 2.0
        H[i, i + 1] = H[i + 1, i] = -400.0 * x[i]
        H[i + 1, i + 1] += 200.0
    return H


def quadratic(x, A):
    """½ xᵀ A x with loops (A not symmetric): H = (A + Aᵀ) / 2."""
    s = 0.0
    for i in range(len(x)):
        for j in range(len(x)):
            s += 0.5 * A[i, j] * x[i] * x[j]
    return s


def logsumexp_affine(x, A):
    """log(sum(exp(A @ x))) with loops: H = Aᵀ (diag(p) - p pᵀ) A, p = softmax(A x)."""
    s = 0.0
    for i in range(A.shape[0]):
        z = 0.0
        for j in range(len(x)):
            z += A[i, j] * x[j]
        s += math.exp(z)
    return math.log(s)


def logsumexp_hessian(x, A):
    z = A @ x
    p = np.exp(z - z.max())
    p /= p.sum()
    return A.T @ (np.diag(p) - np.outer(p, p)) @ A


def mixed(x):
    """exp, sin, log1p, atan2 and tanh of four variables."""
    return (math.exp(x[0] * x[1]) * math.sin(x[2]) + math.log1p(x[1] ** 2 + x[3] ** 2)
            + math.atan2(x[0], x[3]) * math.tanh(x[1] + x[2]))


def mixed_mp(x0, x1, x2, x3):
    return (mpmath.exp(x0 * x1) * mpmath.sin(x2) + mpmath.log1p(x1 ** 2 + x3 ** 2)
            + mpmath.atan2(x0, x3) * mpmath.tanh(x1 + x2))


def mixed_hessian_mpmath(x):
    """Reference by mpmath's differentiation at 40 digits."""
    n = len(x)
    H = np.empty((n, n))
    with mpmath.workdps(40):
        point = [mpmath.mpf(float(v)) for v in x]
        for i in range(n):
            for j in range(i, n):
                orders = [0] * n
                orders[i] += 1
                orders[j] += 1
                H[i, j] = H[j, i] = float(mpmath.diff(mixed_mp, point, orders))
    return H


def with_table(x, table):
    """A dict argument: Numba cannot type it, so the Python path runs."""
    return table["scale"] * mixed(x)


def example_with_table(x, table):
    return table["scale"] * example(x)


def assert_close(got, expected, rtol=1e-12):
    scale = max(np.max(np.abs(expected)), 1e-300)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


X_MIXED = np.array([0.3, -0.7, 1.1, 0.9])
A_8 = RNG.normal(size=(6, 8)) * 0.5


@pytest.fixture(scope="module")
def mixed_reference():
    return mixed_hessian_mpmath(X_MIXED)


# ---------------------------------------------------------------------------
# Hessians against closed forms
# ---------------------------------------------------------------------------

# Both algorithms: hyper-duals (forward over forward) and the second-order
# tape (forward over reverse, what mode="auto" picks for these functions).
MODES = ["forward", "reverse"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("n", [2, 10, 50])
def test_rosenbrock_hessian(n, mode):
    x = RNG.uniform(-2, 2, n)
    H = dd.hessian(rosenbrock, x, mode=mode)
    assert_close(H, rosenbrock_hessian(x))
    assert np.array_equal(H, H.T)


@pytest.mark.parametrize("mode", MODES)
def test_quadratic_hessian_is_the_symmetric_part(mode):
    A = RNG.normal(size=(7, 7))
    H = dd.hessian(quadratic, RNG.normal(size=7), args=(A,), mode=mode)
    assert_close(H, 0.5 * (A + A.T))
    assert np.array_equal(H, H.T)


@pytest.mark.parametrize("mode", MODES)
def test_logsumexp_hessian(mode):
    x = RNG.normal(size=8)
    H = dd.hessian(logsumexp_affine, x, args=(A_8,), mode=mode)
    assert_close(H, logsumexp_hessian(x, A_8))
    assert np.array_equal(H, H.T)


@pytest.mark.parametrize("mode", MODES)
def test_mixed_elementary_functions_against_mpmath(mixed_reference, mode):
    H = dd.hessian(mixed, X_MIXED, mode=mode)
    assert_close(H, mixed_reference)
    assert np.array_equal(H, H.T)


def test_blocks_that_do_not_divide_n_and_explicit_chunks():
    # n = 7 with blocks of 3 (chunk=3): three blocks, the last one partial
    x = RNG.uniform(-2, 2, 7)
    H = dd.hessian(rosenbrock, x, chunk=3)
    assert_close(H, rosenbrock_hessian(x))
    assert np.array_equal(H, H.T)


@pytest.mark.parametrize("mode", MODES)
def test_value_gradient_and_hessian_from_the_same_sweeps(mode):
    x = RNG.uniform(-2, 2, 10)
    value, grad, H = dd.value_gradient_and_hessian(rosenbrock, x, mode=mode)
    assert value == pytest.approx(rosenbrock(x), rel=1e-15)
    assert_close(grad, rosenbrock_gradient(x), rtol=1e-14)
    assert_close(H, rosenbrock_hessian(x))


def test_curried_hessian_and_hvp():
    x = RNG.uniform(-2, 2, 10)
    np.testing.assert_array_equal(dd.hessian(rosenbrock)(x), dd.hessian(rosenbrock, x))
    H = dd.hessian(logsumexp_affine)(x[:8], A_8)  # SciPy's (x, *args)
    np.testing.assert_array_equal(H, dd.hessian(logsumexp_affine, x[:8], args=(A_8,)))
    v = RNG.normal(size=8)
    assert_close(dd.hvp(logsumexp_affine)(x[:8], v, A_8), H @ v)


def test_lean_scalar_driver_matches_the_general_driver_bit_for_bit():
    # a 1-tuple output takes the general driver (to_flat), a number the lean one
    x = RNG.uniform(-2, 2, 10)
    H1 = dd.hessian(rosenbrock_as_tuple, x)
    assert H1.shape == (1, 10, 10)
    np.testing.assert_array_equal(H1[0], dd.hessian(rosenbrock, x, mode="forward"))


def constant(x):
    return 3


def test_a_function_returning_a_plain_number():
    # the int becomes a constant dual on the way out: everything is zero
    value, grad, H = dd.value_gradient_and_hessian(constant, np.ones(4))
    assert value == 3.0 and not grad.any() and not H.any()
    assert not dd.hvp(constant, np.ones(4), np.ones(4)).any()
    assert dd.vhv(constant, np.ones(4), np.ones(4)) == 0.0
    assert dd.derivative(constant, 1.0, order=2) == 0.0


# ---------------------------------------------------------------------------
# Vector-valued functions: one Hessian per output
# ---------------------------------------------------------------------------

def rosenbrock_as_tuple(x):
    return (rosenbrock(x),)


def three_outputs(x):
    """Tuple output of n = 4 inputs (blocks of 2, as the mixed problem)."""
    return (x[0] * x[1] * x[2] * x[3],
            math.sin(x[0]) * x[1] ** 2 + x[3],
            math.exp(x[2]) * x[0])


def three_outputs_hessians(x):
    a, b, c, d = x
    H = np.zeros((3, 4, 4))
    H[0] = [[0, c * d, b * d, b * c], [c * d, 0, a * d, a * c],
            [b * d, a * d, 0, a * b], [b * c, a * c, a * b, 0]]
    H[1, 0, 0] = -math.sin(a) * b ** 2
    H[1, 0, 1] = H[1, 1, 0] = 2 * b * math.cos(a)
    H[1, 1, 1] = 2 * math.sin(a)
    H[2, 2, 2] = math.exp(c) * a
    H[2, 0, 2] = H[2, 2, 0] = math.exp(c)
    return H


def three_outputs_with_table(x, table):
    return (table["scale"] * x[0] * x[1] * x[2] * x[3],
            table["scale"] * (math.sin(x[0]) * x[1] ** 2 + x[3]),
            table["scale"] * math.exp(x[2]) * x[0])


def test_hessian_of_a_tuple_valued_function():
    x = np.array([0.4, -1.1, 0.8, 1.7])
    H = dd.hessian(three_outputs, x)
    assert H.shape == (3, 4, 4)
    assert_close(H, three_outputs_hessians(x))
    for k in range(3):
        assert np.array_equal(H[k], H[k].T)
    value, jac, H2 = dd.value_gradient_and_hessian(three_outputs, x)
    np.testing.assert_array_equal(H2, H)
    np.testing.assert_array_equal(value, three_outputs(x))
    np.testing.assert_array_equal(jac, dd.jacobian(three_outputs, x))


def test_hessian_of_an_array_valued_function():
    # Broyden: F_i = (3 - 2 x_i) x_i - x_{i-1} - 2 x_{i+1} + 1, so d2F_i/dx_i2 = -4
    x = RNG.uniform(-1, 1, 6)
    H = dd.hessian(broyden, x)
    expected = np.zeros((6, 6, 6))
    for i in range(6):
        expected[i, i, i] = -4.0
    np.testing.assert_array_equal(H, expected)


def test_vector_hvp_and_vhv():
    x = np.array([0.4, -1.1, 0.8, 1.7])
    v = RNG.normal(size=4)
    ref = three_outputs_hessians(x)
    assert_close(dd.hvp(three_outputs, x, v), ref @ v)
    assert dd.hvp(three_outputs, x, v).shape == (3, 4)
    assert_close(dd.vhv(three_outputs, x, v), np.einsum("i,kij,j->k", v, ref, v))


def test_vector_hessian_through_the_python_fallback():
    x = np.array([0.4, -1.1, 0.8, 1.7])
    with pytest.warns(dd.FallbackWarning):
        H = dd.hessian(three_outputs_with_table, x, args=({"scale": 1.0},))
    np.testing.assert_array_equal(H, dd.hessian(three_outputs, x))
    for k in range(3):
        assert np.array_equal(H[k], H[k].T)


# ---------------------------------------------------------------------------
# Hessian-vector products and quadratic forms
# ---------------------------------------------------------------------------

def test_hvp_and_vhv_match_the_hessian(mixed_reference):
    v = RNG.normal(size=4)
    H = dd.hessian(mixed, X_MIXED)
    assert_close(dd.hvp(mixed, X_MIXED, v), H @ v)
    assert dd.vhv(mixed, X_MIXED, v) == pytest.approx(v @ mixed_reference @ v, rel=1e-12)


def test_hvp_of_rosenbrock_in_chunks():
    x = RNG.uniform(-2, 2, 10)
    v = RNG.normal(size=10)
    ref = rosenbrock_hessian(x)
    assert_close(dd.hvp(rosenbrock, x, v, chunk=4), ref @ v)
    assert dd.vhv(rosenbrock, x, v) == pytest.approx(v @ ref @ v, rel=1e-12)


def test_hvp_rejects_a_direction_of_the_wrong_shape():
    with pytest.raises(ValueError, match="shape of x"):
        dd.hvp(rosenbrock, np.ones(3), np.ones(4))


# ---------------------------------------------------------------------------
# derivative(order=2)
# ---------------------------------------------------------------------------

def example_mp(t):
    u = t ** 2 + mpmath.exp(t ** 2)
    return mpmath.sqrt(u) + mpmath.cos(u)


@pytest.mark.parametrize("x", [-1.3, -0.2, 0.0, 0.7, 1.5])
def test_second_derivative_of_example_against_mpmath(x):
    with mpmath.workdps(40):
        expected = float(mpmath.diff(example_mp, mpmath.mpf(x), 2))
    assert dd.derivative(example, x, order=2) == pytest.approx(expected, rel=1e-12)


def sin_and_cube(t):
    return (math.sin(t), t ** 3)


def sin_cube_constant_list(t):
    return [math.sin(t), t ** 3, 2.0]


def test_second_derivative_of_a_vector_function_and_curried_form():
    np.testing.assert_allclose(dd.derivative(sin_and_cube, 0.4, order=2),
                               [-math.sin(0.4), 2.4], rtol=1e-15)
    d2 = dd.derivative(sin_cube_constant_list, 0.4, order=2)
    assert d2.shape == (3,)
    np.testing.assert_allclose(d2, [-math.sin(0.4), 2.4, 0.0], rtol=1e-15)
    d2 = dd.derivative(example, order=2)
    assert d2(0.7) == dd.derivative(example, 0.7, order=2)


def test_order_3_is_not_available():
    with pytest.raises(NotImplementedError, match="order"):
        dd.derivative(example, 0.5, order=3)


# ---------------------------------------------------------------------------
# The Python fallback gives the same numbers
# ---------------------------------------------------------------------------
# Tests of the Python path itself: a dict argument has no Numba type, so
# these functions cannot compile (the first test asserts the warning; the
# others accept it for that reason only: on_the_python_path).  Nested dd calls
# below run on the Python path too.

def test_fallback_hessian_hvp_vhv_match_the_compiled_path(mixed_reference):
    table = {"scale": 1.0}
    with pytest.warns(dd.FallbackWarning, match="no Numba type"):
        value, grad, H = dd.value_gradient_and_hessian(with_table, X_MIXED, args=(table,))
    assert value == pytest.approx(mixed(X_MIXED), rel=1e-15)
    # the same operations as the compiled forward-over-forward path
    np.testing.assert_array_equal(H, dd.hessian(mixed, X_MIXED, mode="forward"))
    assert_close(H, mixed_reference)
    assert_close(grad, dd.gradient(mixed, X_MIXED), rtol=1e-14)
    assert np.array_equal(H, H.T)
    v = RNG.normal(size=4)
    with on_the_python_path(NO_NUMBA_TYPE):
        assert_close(dd.hvp(with_table, X_MIXED, v, args=(table,)), dd.hvp(mixed, X_MIXED, v))
        assert dd.vhv(with_table, X_MIXED, v, args=(table,)) == pytest.approx(
            dd.vhv(mixed, X_MIXED, v), rel=1e-12)


def rosenbrock_with_table(x, table):
    return table["scale"] * rosenbrock(x)


def logsumexp_with_table(x, A, table):
    return table["scale"] * logsumexp_affine(x, A)


def test_fallback_hessians_are_identical_to_the_compiled_ones():
    table = {"scale": 1.0}
    x = RNG.uniform(-2, 2, 10)
    # (forward over forward, compiled: the same operations in the same order)
    with on_the_python_path(NO_NUMBA_TYPE):
        np.testing.assert_array_equal(dd.hessian(rosenbrock_with_table, x, args=(table,)),
                                      dd.hessian(rosenbrock, x, mode="forward"))
        x = RNG.normal(size=8)
        np.testing.assert_array_equal(dd.hessian(logsumexp_with_table, x, args=(A_8, table)),
                                      dd.hessian(logsumexp_affine, x, args=(A_8,), mode="forward"))


def test_fallback_second_derivative():
    with on_the_python_path(NO_NUMBA_TYPE):
        got = dd.derivative(example_with_table, 0.7, order=2, args=({"scale": 1.0},))
    assert got == pytest.approx(dd.derivative(example, 0.7, order=2), rel=1e-12)


# ---------------------------------------------------------------------------
# One mode against another: the Jacobian of the gradient
# ---------------------------------------------------------------------------

def gradient_of_mixed(x):
    return dd.gradient(mixed, x)


def test_perturbation_confusion():
    with on_the_python_path(NESTED_DD):
        # d/dx [x * d/dy (x + y)] = d/dx [x * 1] = 1, not 2
        assert dd.derivative(lambda x: x * dd.derivative(lambda y: x + y, 1.0), 1.0) == 1.0
        # d/dx [x * d/dy (x y)] = d/dx x^2 = 2 x
        assert dd.derivative(lambda x: x * dd.derivative(lambda y: x * y, 2.0), 1.5) == 3.0


def squared_gradient_norm(x):
    """|grad g|^2 for g = x0^2 x1 + sin(x1): calls dd.gradient inside."""
    g = dd.gradient(lambda z: z[0] ** 2 * z[1] + math.sin(z[1]), x)
    return g[0] ** 2 + g[1] ** 2


def test_gradient_of_a_function_that_calls_gradient():
    a, b = 0.5, 1.2
    s = a ** 2 + math.cos(b)  # grad g = (2 a b, a^2 + cos b)
    expected = [8 * a * b ** 2 + 4 * a * s, 8 * a ** 2 * b - 2 * s * math.sin(b)]
    with on_the_python_path(NESTED_DD):
        got = dd.gradient(squared_gradient_norm, np.array([a, b]))
    assert_close(got, np.array(expected), rtol=1e-14)


def test_jacobian_of_gradient_agrees_with_hessian():
    with on_the_python_path(NESTED_DD):
        J = dd.jacobian(gradient_of_mixed, X_MIXED)
    assert_close(J, dd.hessian(mixed, X_MIXED))


# ---------------------------------------------------------------------------
# SciPy's second-order optimizers
# ---------------------------------------------------------------------------

def test_minimize_rosenbrock_with_trust_exact():
    from scipy.optimize import minimize
    x0 = np.array([-1.2, 1.0, -1.2, 1.0])
    result = minimize(rosenbrock, x0, jac=dd.gradient(rosenbrock), hess=dd.hessian(rosenbrock),
                      method="trust-exact", options={"gtol": 1e-10})
    np.testing.assert_allclose(result.x, np.ones(4), atol=1e-8)


def test_minimize_rosenbrock_with_newton_cg_and_hvp():
    from scipy.optimize import minimize
    x0 = np.array([-1.2, 1.0, -1.2, 1.0])
    result = minimize(rosenbrock, x0, jac=dd.gradient(rosenbrock), hessp=dd.hvp(rosenbrock),
                      method="Newton-CG", options={"xtol": 1e-12})
    np.testing.assert_allclose(result.x, np.ones(4), atol=1e-7)
