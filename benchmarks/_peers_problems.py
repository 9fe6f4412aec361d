"""The problems of the ``peers`` suite, written the way a dualdiff user writes them.

For every problem this module holds

* the function handed to dualdiff: plain Python in Numba style (loops, scalar
  ``math`` calls, indexing), never vectorised for the benchmark's sake;
* the plain ``@njit`` function (the cost of evaluating it once);
* a hand-written ``@njit`` derivative: the floor a careful person reaches;
* the analytic reference the accuracy column is measured against;
* the inputs.

Nothing here imports JAX, PyTorch or the other peers: the fresh processes
that time dualdiff's first call import this module and nothing else.
The peers' own, idiomatic versions of the same problems are in
:mod:`benchmarks._peers_tools`.
"""

import math

import numpy as np
from numba import njit

from dualdiff import examples

# ===========================================================================
# 1. Scalar derivative of the running example
# ===========================================================================

X0_SCALAR = 0.7
example = examples.example                      # the dualdiff target
example_jit = njit(examples.example)            # plain
example_derivative_jit = njit(examples.example_derivative)  # hand-written
example_derivative = examples.example_derivative  # reference


# ===========================================================================
# 2. Rosenbrock gradient
# ===========================================================================

rosenbrock = examples.rosenbrock
rosenbrock_jit = njit(examples.rosenbrock)


@njit
def rosenbrock_gradient_jit(x):
    n = len(x)
    g = np.zeros(n)
    for i in range(n - 1):
        t = x[i + 1] - x[i] * x[i]
        g[i] += -400.0 * x[i] * t - 2.0 * (1.0 - x[i])
        g[i + 1] += 200.0 * t
    return g


def rosenbrock_x(n):
    return np.linspace(-1.2, 1.1, n)


# ===========================================================================
# 3. Broyden tridiagonal Jacobian
# ===========================================================================

broyden = examples.broyden
broyden_jit = njit(examples.broyden)
broyden_jacobian_jit = njit(examples.broyden_jacobian)


def broyden_x(n):
    return np.linspace(-0.9, 0.8, n)


# ===========================================================================
# 4. Hessians: Rosenbrock, and log-sum-exp of A x with A of shape (20, n)
# ===========================================================================

@njit
def rosenbrock_hessian_jit(x):
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0
        H[i, i + 1] -= 400.0 * x[i]
        H[i + 1, i] -= 400.0 * x[i]
        H[i + 1, i + 1] += 200.0
    return H


LSE_ROWS = 20


def logsumexp(x, A):
    """log(sum_i exp((A x)_i)), shifted by the largest term: loop code."""
    m = A.shape[0]
    # the shift: the largest (A x)_i, found on the primal values
    big = -np.inf
    for i in range(m):
        zi = 0.0
        for j in range(len(x)):
            zi += A[i, j] * x[j]
        if zi > big:
            big = zi
    s = 0.0
    for i in range(m):
        zi = 0.0
        for j in range(len(x)):
            zi += A[i, j] * x[j]
        s += math.exp(zi - big)
    return big + math.log(s)


logsumexp_jit = njit(logsumexp)


@njit
def logsumexp_hessian_jit(x, A):
    """A^T (diag(p) - p p^T) A with p = softmax(A x)."""
    z = A @ x
    p = np.exp(z - z.max())
    p /= p.sum()
    Ap = A.T @ p
    return (A.T * p) @ A - np.outer(Ap, Ap)


def logsumexp_A(n):
    rng = np.random.default_rng(20)
    return rng.standard_normal((LSE_ROWS, n)) / math.sqrt(n)


def logsumexp_x(n):
    return np.linspace(-1.0, 1.0, n)


# ===========================================================================
# 5. MLP 32-64-64-1 (tanh, sigmoid, linear), mean squared loss over a batch
# ===========================================================================

MLP_SIZES = (32, 64, 64, 1)
MLP_BATCH = 128


def mlp_shapes():
    """[(W shape, b shape)] per layer; W maps inputs (rows) to units (columns)."""
    return [((a, b), (b,)) for a, b in zip(MLP_SIZES[:-1], MLP_SIZES[1:])]


def mlp_n_params():
    return sum(a * b + b for a, b in zip(MLP_SIZES[:-1], MLP_SIZES[1:]))


def mlp_unflatten(theta):
    """(W1, b1, W2, b2, W3, b3) as views into the flat vector theta."""
    out, k = [], 0
    for wshape, bshape in mlp_shapes():
        size = wshape[0] * wshape[1]
        out.append(theta[k:k + size].reshape(wshape))
        k += size
        out.append(theta[k:k + bshape[0]])
        k += bshape[0]
    return tuple(out)


def mlp_flatten(params):
    return np.concatenate([np.asarray(p, dtype=np.float64).ravel() for p in params])


def mlp_data():
    """(theta, X, y): Glorot-scaled weights, standard normal inputs."""
    rng = np.random.default_rng(7)
    parts = []
    for (a, b), _ in mlp_shapes():
        parts.append(rng.standard_normal(a * b) / math.sqrt(a))
        parts.append(0.1 * rng.standard_normal(b))
    theta = np.concatenate(parts)
    X = rng.standard_normal((MLP_BATCH, MLP_SIZES[0]))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    return theta, X, y


def mlp_loss(theta, X, y):
    """The loss as a dualdiff user writes it for Numba: loops over a flat
    parameter vector (layout: W1 row-major, b1, W2, b2, W3, b3)."""
    n_in, n_h1, n_h2 = 32, 64, 64
    o_b1 = n_in * n_h1
    o_w2 = o_b1 + n_h1
    o_b2 = o_w2 + n_h1 * n_h2
    o_w3 = o_b2 + n_h2
    o_b3 = o_w3 + n_h2
    h1 = np.zeros_like(theta[0:n_h1])
    h2 = np.zeros_like(theta[0:n_h2])
    total = 0.0
    for s in range(X.shape[0]):
        for j in range(n_h1):
            a = theta[o_b1 + j]
            for i in range(n_in):
                a += X[s, i] * theta[i * n_h1 + j]
            h1[j] = math.tanh(a)
        for j in range(n_h2):
            a = theta[o_b2 + j]
            for i in range(n_h1):
                a += h1[i] * theta[o_w2 + i * n_h2 + j]
            h2[j] = 1.0 / (1.0 + math.exp(-a))
        out = theta[o_b3]
        for i in range(n_h2):
            out += h2[i] * theta[o_w3 + i]
        r = out - y[s]
        total += r * r
    return total / X.shape[0]


mlp_loss_jit = njit(mlp_loss)


def mlp_loss_arrays(params, X, y):
    """The same loss as array code on structured parameters (W1, b1, ...),
    W of shape (inputs, units): what dualdiff's reverse mode records as
    block nodes."""
    W1, b1, W2, b2, W3, b3 = params
    h1 = np.tanh(X @ W1 + b1)
    h2 = 1.0 / (1.0 + np.exp(-(h1 @ W2 + b2)))
    out = h2 @ W3[:, 0] + b3[0]
    r = out - y
    return np.sum(r * r) / X.shape[0]


@njit
def mlp_gradient_jit(theta, X, y):
    """Hand-written backpropagation, the same layout as ``mlp_loss``."""
    n_in, n_h1, n_h2 = 32, 64, 64
    o_b1 = n_in * n_h1
    o_w2 = o_b1 + n_h1
    o_b2 = o_w2 + n_h1 * n_h2
    o_w3 = o_b2 + n_h2
    o_b3 = o_w3 + n_h2
    g = np.zeros_like(theta)
    h1 = np.empty(n_h1)
    h2 = np.empty(n_h2)
    d2 = np.empty(n_h2)
    d1 = np.empty(n_h1)
    m = X.shape[0]
    for s in range(m):
        for j in range(n_h1):
            a = theta[o_b1 + j]
            for i in range(n_in):
                a += X[s, i] * theta[i * n_h1 + j]
            h1[j] = math.tanh(a)
        for j in range(n_h2):
            a = theta[o_b2 + j]
            for i in range(n_h1):
                a += h1[i] * theta[o_w2 + i * n_h2 + j]
            h2[j] = 1.0 / (1.0 + math.exp(-a))
        out = theta[o_b3]
        for i in range(n_h2):
            out += h2[i] * theta[o_w3 + i]
        dout = 2.0 * (out - y[s]) / m
        g[o_b3] += dout
        for i in range(n_h2):
            g[o_w3 + i] += dout * h2[i]
            d2[i] = dout * theta[o_w3 + i] * h2[i] * (1.0 - h2[i])
        for j in range(n_h2):
            g[o_b2 + j] += d2[j]
        for i in range(n_h1):
            acc = 0.0
            for j in range(n_h2):
                g[o_w2 + i * n_h2 + j] += h1[i] * d2[j]
                acc += theta[o_w2 + i * n_h2 + j] * d2[j]
            d1[i] = acc * (1.0 - h1[i] * h1[i])
        for j in range(n_h1):
            g[o_b1 + j] += d1[j]
        for i in range(n_in):
            xi = X[s, i]
            for j in range(n_h1):
                g[i * n_h1 + j] += xi * d1[j]
    return g


# ===========================================================================
# 6. Control flow: Kepler's equation E - e sin E = M by Newton's method,
#    a while-loop whose number of iterations depends on the data
# ===========================================================================

KEPLER_X = np.array([0.7, 1.3])     # (eccentricity e, mean anomaly M)
KEPLER_TOL = 1e-14
KEPLER_MAX_IT = 100


def kepler(x):
    """Eccentric anomaly E(e, M): Newton's method until the step is tiny."""
    e = x[0]
    M = x[1]
    E = M + e * math.sin(M)
    step = 1.0
    it = 0
    while abs(step) > 1e-14 and it < 100:
        step = (E - e * math.sin(E) - M) / (1.0 - e * math.cos(E))
        E = E - step
        it += 1
    return E


kepler_jit = njit(kepler)


@njit
def kepler_gradient_jit(x):
    """Implicit differentiation of E - e sin E - M = 0 at the solution."""
    E = kepler_jit(x)
    d = 1.0 - x[0] * math.cos(E)
    g = np.empty(2)
    g[0] = math.sin(E) / d
    g[1] = 1.0 / d
    return g


def kepler_iterations(x):
    e, M = float(x[0]), float(x[1])
    E, step, it = M + e * math.sin(M), 1.0, 0
    while abs(step) > KEPLER_TOL and it < KEPLER_MAX_IT:
        step = (E - e * math.sin(E) - M) / (1.0 - e * math.cos(E))
        E, it = E - step, it + 1
    return it


# ===========================================================================
# Analytic references (float64; an error near 1e-16 means exact to rounding)
# ===========================================================================

def reference(problem, data):
    if problem == "scalar":
        return np.array(example_derivative(data["x"]))
    if problem == "rosenbrock_grad":
        return examples.rosenbrock_gradient(data["x"])
    if problem == "broyden_jac":
        return examples.broyden_jacobian(data["x"])
    if problem == "rosenbrock_hess":
        return rosenbrock_hessian_jit.py_func(data["x"])
    if problem == "logsumexp_hess":
        return logsumexp_hessian_jit.py_func(data["x"], data["A"])
    if problem == "mlp_grad":
        return mlp_gradient_jit(data["theta"], data["X"], data["y"])
    if problem == "kepler_grad":
        return kepler_gradient_jit(data["x"])
    raise KeyError(problem)
