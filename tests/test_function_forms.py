"""Function forms compile (issue 18): defaults, keyword-only parameters,
functools.partial, bound methods, callable objects, recursion.

Each is checked against its closed-form derivative in forward and reverse
mode with FallbackWarning as an error, and against a change of what it
binds (an attribute rebound, a bound array written, a default replaced):
the next derivative is the new one.
"""

import functools
import math

import numpy as np
import pytest

import dualdiff as dd

pytestmark = pytest.mark.filterwarnings("error::dualdiff.FallbackWarning")

X = np.array([0.5, 2.0])
MODES = ["forward", "reverse"]


def with_defaults(x, scale=2.0, power=3):
    return scale * x[0] ** power + x[1]


def keyword_only(x, *, scale=2.0):
    return scale * math.sin(x[0]) + x[1]


def weighted(x, a, b):
    return a * x[0] ** 2 + b * x[1]


class Model:
    def __init__(self, w, shift):
        self.w = w
        self.shift = shift

    def loss(self, x):
        return self.w * math.sin(x[0]) + (x[1] - self.shift[0]) ** 2

    def __call__(self, x):
        return self.w * math.cos(x[0]) * x[1]


def power_by_recursion(x, k):
    if k == 0:
        return 1.0
    return x[0] * power_by_recursion(x, k - 1)


@pytest.mark.parametrize("mode", MODES)
def test_defaults_and_keyword_only_parameters(mode):
    x0, x1 = X
    np.testing.assert_allclose(dd.gradient(with_defaults, X, mode=mode),
                               [6.0 * x0 ** 2, 1.0], rtol=1e-15)
    np.testing.assert_allclose(dd.gradient(with_defaults, X, args=(5.0,), mode=mode),
                               [15.0 * x0 ** 2, 1.0], rtol=1e-15)
    np.testing.assert_allclose(dd.gradient(keyword_only, X, mode=mode),
                               [2.0 * math.cos(x0), 1.0], rtol=1e-15)
    np.testing.assert_allclose(dd.hessian(with_defaults, X, mode=mode),
                               [[12.0 * x0, 0.0], [0.0, 0.0]], rtol=1e-15)


@pytest.mark.parametrize("mode", MODES)
def test_partials(mode):
    x0, x1 = X
    by_keyword = functools.partial(weighted, a=3.0, b=4.0)
    np.testing.assert_array_equal(dd.gradient(by_keyword, X, mode=mode), [6.0 * x0, 4.0])
    np.testing.assert_array_equal(
        dd.gradient(functools.partial(weighted, b=-1.0), X, args=(0.5,), mode=mode),
        [x0, -1.0])


def test_a_partial_sees_its_bound_array_change():
    coefficients = np.array([3.0, 4.0])

    def linear(c, x):
        return c[0] * x[0] ** 2 + c[1] * x[1]

    f = functools.partial(linear, coefficients)
    np.testing.assert_array_equal(dd.gradient(f, X), [3.0, 4.0])
    coefficients[1] = 7.0
    np.testing.assert_array_equal(dd.gradient(f, X), [3.0, 7.0])
    np.testing.assert_array_equal(dd.gradient(f, X, mode="reverse"), [3.0, 7.0])


@pytest.mark.parametrize("mode", MODES)
def test_bound_methods_and_callable_objects(mode):
    x0, x1 = X
    model = Model(1.5, np.array([0.5]))
    np.testing.assert_allclose(dd.gradient(model.loss, X, mode=mode),
                               [1.5 * math.cos(x0), 2.0 * (x1 - 0.5)], rtol=1e-15)
    np.testing.assert_allclose(dd.gradient(model, X, mode=mode),
                               [-1.5 * math.sin(x0) * x1, 1.5 * math.cos(x0)], rtol=1e-15)
    # the attributes it reads are watched: rebinding one, or writing into an
    # array attribute, gives the new derivative
    model.w = -2.0
    model.shift[0] = 1.0
    np.testing.assert_allclose(dd.gradient(model.loss, X, mode=mode),
                               [-2.0 * math.cos(x0), 2.0 * (x1 - 1.0)], rtol=1e-15)
    np.testing.assert_allclose(dd.hessian(model.loss, X, mode=mode),
                               [[2.0 * math.sin(x0), 0.0], [0.0, 2.0]], rtol=1e-15)


def test_a_bound_method_compiles_once():
    model = Model(1.5, np.array([0.5]))
    dd.gradient(model.loss, X)
    before = len(dd._engine.target.target_of(model.loss).drivers)
    for _ in range(3):  # each model.loss is a new method object
        dd.gradient(model.loss, X)
    assert len(dd._engine.target.target_of(model.loss).drivers) == before == 1


class Chained:
    def inner(self, x):
        return x[0] * x[1]

    def outer(self, x):
        return math.sin(self.inner(x))


def test_a_method_calling_another_method_takes_the_python_path():
    x0, x1 = X
    with pytest.warns(dd.FallbackWarning):
        grad = dd.gradient(Chained().outer, X)
    c = math.cos(x0 * x1)
    np.testing.assert_allclose(grad, [c * x1, c * x0], rtol=1e-15)


@pytest.mark.parametrize("mode", MODES)
def test_recursion(mode):
    x0 = X[0]
    np.testing.assert_allclose(dd.gradient(power_by_recursion, X, args=(4,), mode=mode),
                               [4.0 * x0 ** 3, 0.0], rtol=1e-15)


def test_a_changed_default_is_seen():
    def scaled(x, scale=2.0):
        return scale * x[0] * x[1]

    np.testing.assert_array_equal(dd.gradient(scaled, X), [2.0 * X[1], 2.0 * X[0]])
    scaled.__defaults__ = (3.0,)
    np.testing.assert_array_equal(dd.gradient(scaled, X), [3.0 * X[1], 3.0 * X[0]])


def decay(t, y, k):
    out = np.empty(2)
    out[0] = -k * y[0] * y[1]
    out[1] = k * y[0] - y[1] * math.sin(t)
    return out


def second_component(t, y, k):
    return decay(t, y, k)[1]


def test_argnum_gives_solve_ivp_its_jacobian():
    from scipy.integrate import solve_ivp

    jac = dd.jacobian(decay, argnum=1)
    y, k, t = np.array([1.0, 2.0]), 0.5, 0.3
    np.testing.assert_array_equal(jac(t, y, k), [[-k * y[1], -k * y[0]],
                                                 [k, -math.sin(t)]])
    # by time: d/dt of the second component is -y1 cos t
    assert dd.derivative(second_component, argnum=0)(t, y, k) == -y[1] * math.cos(t)
    sol = solve_ivp(decay, (0.0, 1.0), [1.0, 2.0], method="BDF", jac=jac, args=(k,),
                    rtol=1e-10, atol=1e-12)
    reference = solve_ivp(decay, (0.0, 1.0), [1.0, 2.0], method="BDF", args=(k,),
                          rtol=1e-10, atol=1e-12)
    assert sol.status == 0 and sol.njev >= 1
    np.testing.assert_allclose(sol.y[:, -1], reference.y[:, -1], rtol=1e-7)


@pytest.mark.parametrize("mode", MODES)
def test_argnum_for_gradients_and_hessians(mode):
    def f(a, x, b):
        return a * x[0] ** 2 * x[1] + b * x[1]

    x = np.array([1.5, -2.0])
    np.testing.assert_array_equal(dd.gradient(f, argnum=1, mode=mode)(3.0, x, 4.0),
                                  [6.0 * x[0] * x[1], 3.0 * x[0] ** 2 + 4.0])
    np.testing.assert_array_equal(dd.hessian(f, argnum=1, mode=mode)(3.0, x, 4.0),
                                  [[6.0 * x[1], 6.0 * x[0]], [6.0 * x[0], 0.0]])


def test_argnum_misuse_says_what_is_expected():
    with pytest.raises(ValueError, match="argnum applies when x is omitted"):
        dd.gradient(weighted, X, args=(1.0, 2.0), argnum=1)
    with pytest.raises(ValueError, match="non-negative int"):
        dd.gradient(weighted, argnum=-1)
    with pytest.raises(TypeError, match="at least 3 arguments"):
        dd.gradient(weighted, argnum=2)(X, 1.0)


# --- one API: structured parameters and args= everywhere ----------------------

def layer_loss(params, X):
    W, b = params
    return np.sum(np.tanh(X @ W + b) ** 2)


def flat_layer_loss(z, X):
    W = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            W[i, j] = z[2 * i + j]
    s = 0.0
    for r in range(X.shape[0]):
        for j in range(2):
            s += math.tanh(X[r, 0] * W[0, j] + X[r, 1] * W[1, j] + z[4 + j]) ** 2
    return s


def test_second_order_takes_structured_parameters():
    W = np.array([[0.1, -0.2], [0.3, 0.4]])
    b = np.array([0.1, -0.1])
    X = np.array([[1.0, 2.0], [-1.0, 0.5]])
    flat = np.concatenate([W.ravel(), b])
    H_flat = dd.hessian(flat_layer_loss, flat, args=(X,))
    H = dd.hessian(layer_loss, (W, b), args=(X,))
    np.testing.assert_allclose(H, H_flat, rtol=1e-13, atol=1e-15)
    vW, vb = np.array([[1.0, -1.0], [0.5, 2.0]]), np.array([0.25, -3.0])
    hW, hb = dd.hvp(layer_loss, (W, b), (vW, vb), args=(X,))
    Hv = H_flat @ np.concatenate([vW.ravel(), vb])
    np.testing.assert_allclose(np.concatenate([hW.ravel(), hb]), Hv, rtol=1e-13, atol=1e-15)
    value, (gW, gb), H2 = dd.value_gradient_and_hessian(layer_loss, (W, b), args=(X,))
    assert value == pytest.approx(flat_layer_loss(flat, X), rel=1e-14)
    np.testing.assert_allclose(np.concatenate([gW.ravel(), gb]),
                               dd.gradient(flat_layer_loss, flat, args=(X,)), rtol=1e-13)
    np.testing.assert_array_equal(H2, H)
    with pytest.raises(TypeError, match="tuple of arrays shaped like"):
        dd.hvp(layer_loss, (W, b), np.ones(6), args=(X,))
    # the directional forms too: J v and v^T H v along (vW, vb)
    v_flat = np.concatenate([vW.ravel(), vb])
    assert dd.vhv(layer_loss, (W, b), (vW, vb), args=(X,)) == pytest.approx(
        v_flat @ H_flat @ v_flat, rel=1e-13)
    value, jv = dd.jvp(layer_loss, (W, b), (vW, vb), args=(X,))
    assert jv == pytest.approx(dd.gradient(flat_layer_loss, flat, args=(X,)) @ v_flat, rel=1e-13)


@dd.differentiable
def spring_energy(x, k):
    s = 0.0
    for i in range(len(x)):
        s += 0.5 * k * x[i] ** 2
    return s


def test_differentiable_methods_take_args_too():
    x = np.array([1.0, -2.0])
    for method in ("gradient", "hessian", "jacobian"):
        np.testing.assert_array_equal(getattr(spring_energy, method)(x, args=(3.0,)),
                                      getattr(spring_energy, method)(x, 3.0))
    value, grad = spring_energy.value_and_gradient(x, args=(3.0,))
    assert value == 7.5
    np.testing.assert_array_equal(grad, [3.0, -6.0])
    np.testing.assert_array_equal(spring_energy.hvp(x, np.ones(2), args=(3.0,)), [3.0, 3.0])
    assert spring_energy.check(x, args=(3.0,)).passed
    with pytest.raises(TypeError, match="not both"):
        spring_energy.gradient(x, 3.0, args=(3.0,))


def weights_in_a_list(x, w):
    return x[0] * w[0] + x[1] * w[1]


def test_a_list_argument_raises_no_numba_deprecation_warning():
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for mode in MODES:
            np.testing.assert_array_equal(
                dd.gradient(weights_in_a_list, X, args=([3.0, 4.0],), mode=mode), [3.0, 4.0])
        np.testing.assert_array_equal(
            dd.hessian(weights_in_a_list, X, args=([3.0, 4.0],)), np.zeros((2, 2)))
    assert [str(w.message) for w in caught] == []


def doubled(x):
    return x * 2.0


@pytest.mark.parametrize("mode", MODES)
def test_a_vector_f_in_gradient_names_its_shape_plainly(mode):
    """The shape came out as (np.int64(3),) from forward mode's driver."""
    with pytest.raises(ValueError, match=r"returned shape \(3,\) \(use jacobian"):
        dd.gradient(doubled, np.ones(3), mode=mode)
