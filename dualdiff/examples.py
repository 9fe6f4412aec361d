"""Built-in problems with their analytic derivatives.

Used by the demo (``python -m dualdiff``), the benchmarks and the tests, and
handy as templates: each is written the way one writes code for Numba, with
loops and scalar ``math`` calls.

Examples
--------
>>> import numpy as np, dualdiff as dd
>>> from dualdiff.examples import rosenbrock, rosenbrock_gradient
>>> x = np.array([0.5, -0.3, 1.2])
>>> bool(np.allclose(dd.gradient(rosenbrock, x), rosenbrock_gradient(x)))
True
"""

import math

import numpy as np

__all__ = ["example", "example_derivative", "rosenbrock", "rosenbrock_gradient",
           "broyden", "broyden_jacobian"]


def example(x):
    """sqrt(x² + exp(x²)) + cos(x² + exp(x²)): the running example."""
    u = x * x + math.exp(x * x)
    return math.sqrt(u) + math.cos(u)


def example_derivative(x):
    u = x * x + math.exp(x * x)
    du = 2.0 * x + 2.0 * x * math.exp(x * x)
    return du * (0.5 / math.sqrt(u) - math.sin(u))


def rosenbrock(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s


def rosenbrock_gradient(x):
    g = np.zeros_like(x)
    for i in range(len(x) - 1):
        g[i] += -400.0 * x[i] * (x[i + 1] - x[i] ** 2) - 2.0 * (1.0 - x[i])
        g[i + 1] += 200.0 * (x[i + 1] - x[i] ** 2)
    return g


def broyden(x):
    out = np.empty_like(x)
    n = len(x)
    for i in range(n):
        left = x[i - 1] if i > 0 else 0.0
        right = x[i + 1] if i < n - 1 else 0.0
        out[i] = (3.0 - 2.0 * x[i]) * x[i] - left - 2.0 * right + 1.0
    return out


def broyden_jacobian(x):
    n = len(x)
    J = np.zeros((n, n))
    for i in range(n):
        J[i, i] = 3.0 - 4.0 * x[i]
        if i > 0:
            J[i, i - 1] = -1.0
        if i < n - 1:
            J[i, i + 1] = -2.0
    return J
