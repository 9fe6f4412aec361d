"""Array code on the Python path (functions Numba cannot compile).

Each function takes its parameters in a dict, which has no Numba type, so
dualdiff runs it on Python-side duals: the input arrives as a
``DualObjectArray`` and NumPy's ufuncs, reductions and ``@`` must carry the
derivatives.  Results are compared with closed forms.  The FallbackWarning
is the point here: the fixture below accepts it for that reason only (one
test asserts it), so a fallback for any other reason fails.
"""

import warnings

import numpy as np
import pytest

import dualdiff as dd
from dualdiff.numbers.dual import DualObjectArray, as_dual_array
from functions import NO_NUMBA_TYPE, on_the_python_path

RNG = np.random.default_rng(7)
W = RNG.normal(size=(3, 4))
B = RNG.normal(size=3)
A = RNG.normal(size=(5, 4))
X0 = RNG.normal(size=4)
PARAMS = {"W": W, "b": B, "A": A}


@pytest.fixture(autouse=True)
def _python_path():
    with on_the_python_path(NO_NUMBA_TYPE):
        yield


def tanh_layer(x, p):
    return np.tanh(p["W"] @ x + p["b"])


def softmax(x, p):
    e = np.exp(x - np.max(x))
    return e / np.sum(e)


def log_sum_exp(x, p):
    z = p["A"] @ x
    m = np.max(z)
    return m + np.log(np.sum(np.exp(z - m)))


def binary_ufuncs(x, p):
    # ufuncs NumPy has no object loop for
    return np.sum(np.logaddexp(x, 0.5) + np.copysign(x, -1.0))


def softmax_np(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_python_path_is_taken():
    with pytest.warns(dd.FallbackWarning, match="no Numba type"):
        warnings.simplefilter("always", dd.FallbackWarning)
        dd.jacobian(tanh_layer, X0, args=({"W": W, "b": B},))


def test_tanh_layer_jacobian():
    J = dd.jacobian(tanh_layer, X0, args=(PARAMS,))
    t = np.tanh(W @ X0 + B)
    np.testing.assert_allclose(J, (1 - t ** 2)[:, None] * W, rtol=1e-13, atol=1e-15)


def test_softmax_jacobian():
    J = dd.jacobian(softmax, X0, args=(PARAMS,))
    s = softmax_np(X0)
    np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), rtol=1e-13, atol=1e-15)


def test_log_sum_exp_gradient():
    g = dd.gradient(log_sum_exp, X0, args=(PARAMS,))
    np.testing.assert_allclose(g, A.T @ softmax_np(A @ X0), rtol=1e-13, atol=1e-15)


def test_ufuncs_without_object_loops():
    g = dd.gradient(binary_ufuncs, X0, args=(PARAMS,))
    logistic = 1 / (1 + np.exp(0.5 - X0))          # d/dx logaddexp(x, c)
    copysign_slope = -np.sign(X0)                   # copysign(x, -1) = -|x|
    np.testing.assert_allclose(g, logistic + copysign_slope, rtol=1e-13)


def test_dual_object_array_keeps_its_class_and_gives_bool_masks():
    x = as_dual_array([dd.Dual(-1.0, 1.0), dd.Dual(2.0, 1.0)])
    y = np.exp(x) * 2.0
    assert isinstance(y, DualObjectArray)
    mask = x > 0
    assert mask.dtype == bool and mask.tolist() == [False, True]
    picked = x[mask]
    assert picked[0].value == 2.0 and picked[0].partials.tolist() == [1.0]
    clipped = np.clip(x, -0.5, 0.5)      # both at a bound: plain floats, derivative 0
    assert clipped.tolist() == [-0.5, 0.5] and not any(isinstance(c, dd.Dual) for c in clipped)


def fill(x, p):
    out = np.zeros(len(x))
    for i in range(len(x)):
        out[i] = x[i] * p["W"][0, 0]
    return out


def fill_float64(x, p):
    out = np.zeros(len(x), dtype=np.float64)
    for i in range(len(x)):
        out[i] = x[i] * p["W"][0, 0]
    return out


def test_scratch_arrays_on_the_python_path():
    """A dict argument keeps f on the Python path, where np.zeros(n) is
    rewritten to hold duals as in compiled code; an explicit dtype keeps the
    error, which says what to write."""
    with pytest.warns(dd.FallbackWarning):
        jac = dd.jacobian(fill, X0, args=(PARAMS,))
    np.testing.assert_array_equal(jac, W[0, 0] * np.eye(len(X0)))
    with pytest.warns(dd.FallbackWarning), pytest.raises(TypeError, match="drop the dtype"):
        dd.jacobian(fill_float64, X0, args=(PARAMS,))
