"""Test functions shared by the test modules, written as users write them.

Module-level and compiled once per process: Numba compiles are slow, so each
function object is reused across tests (dualdiff caches drivers per function).
"""

import contextlib
import math
import re
import warnings

import numpy as np
import pytest

import dualdiff as dd
from dualdiff.examples import (  # noqa: F401  (re-exported for the tests)
    broyden, broyden_jacobian, example, example_derivative, rosenbrock, rosenbrock_gradient,
)

# why a function takes the Python path in the tests of that path
NO_NUMBA_TYPE = "an argument in args has no Numba type"   # a dict in args
NESTED_DD = (r"of type Module\(<module 'dualdiff'|Cannot capture the non-constant"  # dd inside f
             r"|Cannot determine Numba type of <class 'function'>")


@contextlib.contextmanager
def on_the_python_path(reason):
    """For tests of the Python path itself: every FallbackWarning raised in
    the block must give ``reason`` (a regex) for it, so that a function meant
    to compile (a reference computed in the same block, say) cannot fall back
    unnoticed.  A function warns once per process, so a missing warning is
    not an error; other warnings pass through."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if issubclass(w.category, dd.FallbackWarning):
            assert re.search(reason, str(w.message)), f"an unexpected fallback: {w.message}"
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def branchy(x):
    """Branches on the data: x_i² where x_i > 0, else -sin(x_i)."""
    s = 0.0
    for i in range(len(x)):
        if x[i] > 0:
            s += x[i] ** 2
        else:
            s -= math.sin(x[i])
    return s


def newton_sqrt(a):
    """sqrt(a) by Newton's iteration: a while-loop with a data-dependent exit."""
    x = a if a > 1.0 else 1.0
    while abs(x * x - a) > 1e-15 * a:
        x = 0.5 * (x + a / x)
    return x


def weighted_sum(x, w, c):
    """Extra arguments: an array and a float."""
    s = c
    for i in range(len(x)):
        s += w[i] * math.tanh(x[i])
    return s


def iterate_and_collect(x):
    """Iteration over the dual array and a tuple output."""
    total = 0.0
    biggest = x[0]
    for xi in x:
        total += xi * xi
        if xi > biggest:
            biggest = xi
    return (total, biggest, 3.0)


def assert_fast_path_guards(derivative, f, x, mode, first):
    """Inputs the per-call fast paths must never hand to a compiled entry
    point (strided, unaligned, float32) give ``derivative(f, x, mode=mode)``
    through the full path, equal to ``first``; bad input keeps its errors."""
    wide = np.zeros(2 * len(x))
    wide[::2] = x
    np.testing.assert_array_equal(derivative(f, wide[::2], mode=mode), first)
    raw = np.zeros(8 * len(x) + 1, np.uint8)
    unaligned = raw[1:].view(np.float64)
    unaligned[:] = x
    assert not unaligned.flags.aligned
    np.testing.assert_array_equal(derivative(f, unaligned, mode=mode), first)
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(derivative(f, x32, mode=mode),
                                  derivative(f, x32.astype(np.float64), mode=mode))
    with pytest.raises(ValueError, match="1-D"):
        derivative(f, x.reshape(1, len(x)), mode=mode)
    with pytest.raises(ValueError, match="mode"):
        derivative(f, x, mode="sideways")
