"""Scratch arrays (issue 18): ``h = np.empty(n); h[j] = tanh(...)`` compiles in every mode.

dualdiff rewrites the dtype-less allocations of a function that does not
compile for dual numbers, so the arrays hold the numbers the function is
called with.  Every test here turns FallbackWarning into an error: the point
is that these compile.
"""

import math

import numpy as np
import pytest

import dualdiff as dd

pytestmark = pytest.mark.filterwarnings("error::dualdiff.FallbackWarning")

N_IN, N_HIDDEN = 3, 5


def hidden_layer(theta, n_hidden, x_row):
    n_in = x_row.shape[0]
    out = np.empty(n_hidden)
    for j in range(n_hidden):
        s = theta[n_hidden * n_in + j]
        for k in range(n_in):
            s += theta[j * n_in + k] * x_row[k]
        out[j] = math.tanh(s)
    return out


def mlp_loss(theta, X, y):
    """A loop MLP 3-5-1 with tanh, keeping activations in np.empty/np.zeros."""
    n_in, n_hidden = X.shape[1], N_HIDDEN
    total = 0.0
    for i in range(X.shape[0]):
        h = hidden_layer(theta, n_hidden, X[i])
        z = np.zeros(1)
        for j in range(n_hidden):
            z[0] += theta[n_hidden * n_in + n_hidden + j] * h[j]
        total += (z[0] - y[i]) ** 2
    return total / X.shape[0]


def backprop(theta, X, y):
    """The gradient of mlp_loss by hand."""
    n_in, n_hidden = X.shape[1], N_HIDDEN
    W = theta[:n_hidden * n_in].reshape((n_hidden, n_in))
    b = theta[n_hidden * n_in:n_hidden * n_in + n_hidden]
    w2 = theta[n_hidden * n_in + n_hidden:]
    H = np.tanh(X @ W.T + b)
    r = 2.0 * (H @ w2 - y) / X.shape[0]
    delta = r[:, None] * w2[None, :] * (1.0 - H ** 2)
    return np.concatenate([(delta.T @ X).ravel(), delta.sum(axis=0), H.T @ r])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(6, N_IN))
    y = rng.normal(size=6)
    theta = rng.normal(size=N_HIDDEN * N_IN + 2 * N_HIDDEN)
    return theta, X, y


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_a_loop_mlp_with_scratch_arrays_matches_backprop(data, mode):
    theta, X, y = data
    before = theta.copy()
    value, grad = dd.value_and_gradient(mlp_loss, theta, args=(X, y), mode=mode)
    assert value == pytest.approx(mlp_loss(theta, X, y), rel=1e-14)
    np.testing.assert_allclose(grad, backprop(theta, X, y), rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(theta, before)


def test_its_hessian_agrees_across_modes(data):
    theta, X, y = data
    forward = dd.hessian(mlp_loss, theta, args=(X, y), mode="forward")
    reverse = dd.hessian(mlp_loss, theta, args=(X, y), mode="reverse")
    np.testing.assert_allclose(reverse, forward, rtol=1e-12, atol=1e-14)
    # and the Hessian is the Jacobian of the hand-written gradient
    fd = dd.jacobian(lambda t: backprop_in_loops(t, X, y), theta)
    np.testing.assert_allclose(forward, fd, rtol=1e-11, atol=1e-13)


def backprop_in_loops(theta, X, y):
    """backprop written with scratch arrays too, so dualdiff differentiates it."""
    n_in, n_hidden, m = X.shape[1], N_HIDDEN, X.shape[0]
    grad = np.zeros(theta.shape[0])
    for i in range(m):
        h = hidden_layer(theta, n_hidden, X[i])
        z = 0.0
        for j in range(n_hidden):
            z += theta[n_hidden * n_in + n_hidden + j] * h[j]
        r = 2.0 * (z - y[i]) / m
        for j in range(n_hidden):
            w2 = theta[n_hidden * n_in + n_hidden + j]
            d = r * w2 * (1.0 - h[j] * h[j])
            for k in range(n_in):
                grad[j * n_in + k] += d * X[i, k]
            grad[n_hidden * n_in + j] += d
            grad[n_hidden * n_in + n_hidden + j] += r * h[j]
    return grad


def every_allocator(x, table, counts):
    a = np.ones(3)
    b = np.full((2, 2), 0.5)
    c = np.empty_like(table)         # a float argument: takes x's numbers
    idx = np.zeros_like(counts)      # an integer argument: stays integer
    for i in range(3):
        a[i] = a[i] * x[i]
    for i in range(2):
        for j in range(2):
            b[i, j] += x[i] * x[j]
    for i in range(table.shape[0]):
        c[i] = table[i] * x[0]
        idx[i] = counts[i] + 1
    s = 0.0
    for i in range(3):
        s += a[i]
    for i in range(table.shape[0]):
        s += c[i] * idx[i]
    return s + b[0, 1] + b[1, 1]


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_ones_full_and_like_forms(mode):
    x = np.array([1.5, -2.0, 0.5])
    table = np.array([2.0, 3.0])
    counts = np.array([1, 2])
    # d/dx: a -> [1, 1, 1]; c * idx -> x0 * (2 * 2 + 3 * 3); b01 + b11 -> x1, x0 + 2 x1
    expected = np.array([1.0 + 13.0 + x[1], 1.0 + x[0] + 2.0 * x[1], 1.0])
    np.testing.assert_array_equal(
        dd.gradient(every_allocator, x, args=(table, counts), mode=mode), expected)
    assert dd.value_and_gradient(every_allocator, x, args=(table, counts), mode=mode)[0] \
        == every_allocator(x, table, counts)


def test_a_closure_and_a_jacobian():
    scale = np.array([2.0, 3.0])

    def rhs(y):
        out = np.zeros(2)
        out[0] = scale[0] * y[0] * y[1]
        out[1] = scale[1] * math.sin(y[0])
        return out

    y = np.array([0.3, 1.2])
    expected = np.array([[2.0 * y[1], 2.0 * y[0]], [3.0 * math.cos(y[0]), 0.0]])
    np.testing.assert_array_equal(dd.jacobian(rhs, y), expected)
    np.testing.assert_array_equal(dd.jacobian(rhs, y, mode="reverse"), expected)


def structured_loss(params, X):
    W, b = params
    total = 0.0
    for i in range(X.shape[0]):
        h = np.empty(W.shape[0])
        for j in range(W.shape[0]):
            h[j] = math.tanh(W[j, 0] * X[i, 0] + W[j, 1] * X[i, 1] + b[j])
        for j in range(W.shape[0]):
            total += h[j] * h[j]
    return total


def test_structured_parameters():
    W = np.array([[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]])
    b = np.array([0.1, 0.0, -0.1])
    X = np.array([[1.0, 2.0], [-1.0, 0.5]])
    gW, gb = dd.gradient(structured_loss, (W, b), args=(X,))
    H = np.tanh(X @ W.T + b)
    delta = 2.0 * H * (1.0 - H ** 2)
    np.testing.assert_allclose(gW, delta.T @ X, rtol=1e-13)
    np.testing.assert_allclose(gb, delta.sum(axis=0), rtol=1e-13)


def explicit_float_dtype(x):
    out = np.zeros(2, dtype=np.float64)
    out[0] = x[0] * x[1]
    return out[0]


def test_an_explicit_float_dtype_keeps_its_clear_error():
    with pytest.warns(dd.FallbackWarning, match="drop the dtype"):
        with pytest.raises(TypeError, match="float"):
            dd.gradient(explicit_float_dtype, np.array([1.0, 2.0]))


def python_only(x):
    out = np.empty(2)
    sine = getattr(math, "sin")  # Numba cannot compile this: the Python path runs it
    out[0] = sine(x[0]) * x[1]
    out[1] = x[1] ** 2
    return out[0] + out[1]


def test_the_python_path_rewrites_scratch_arrays_too():
    x = np.array([0.7, 1.5])
    with pytest.warns(dd.FallbackWarning, match="getattr"):
        grad = dd.gradient(python_only, x)
    np.testing.assert_array_equal(grad, [math.cos(0.7) * 1.5, math.sin(0.7) + 3.0])
