"""Tests of dualdiff.fd: accuracy against mpmath, orders of the stencils,
error estimates, cost, shapes and input checking."""

import math
import sys

import mpmath as mp
import numpy as np
import pytest

from dualdiff import fd

try:  # the AD-path tests below skip only while dualdiff.forward is missing
    import dualdiff.forward  # noqa: F401
    HAVE_AD = True
except ImportError:
    HAVE_AD = False


# ---------------------------------------------------------------------------
# The brief's reference function, against a 50-digit mpmath derivative
# ---------------------------------------------------------------------------

def hard(x):
    u = x * x + np.exp(x * x)
    return np.sqrt(u) + np.cos(u)


def hard_mp(x):
    u = x * x + mp.exp(x * x)
    return mp.sqrt(u) + mp.cos(u)


@pytest.fixture(scope="module")
def hard_reference():
    with mp.workdps(50):
        return float(mp.diff(hard_mp, mp.mpf("0.7")))


@pytest.mark.parametrize("method, rtol", [
    ("central", 1e-8), ("richardson", 1e-11), ("complex", 1e-15)])
def test_reference_function_accuracy(hard_reference, method, rtol):
    d = fd.derivative(hard, 0.7, method=method)
    assert abs(d - hard_reference) <= rtol * abs(hard_reference)


def test_reference_function_error_estimates_bound(hard_reference):
    for method in fd.METHODS:
        d, info = fd.derivative(hard, 0.7, method=method, full_output=True)
        assert abs(d - hard_reference) <= info.error_estimate, method


# ---------------------------------------------------------------------------
# Richardson's error estimate bounds the true error
# ---------------------------------------------------------------------------

SMOOTH = {  # numpy function, exact derivative in mpmath, points
    "exp": (np.exp, mp.exp, [-3.0, -0.7, 0.0, 0.4, 1.0, 2.5, 6.0]),
    "sin": (np.sin, mp.cos, [-2.5, -0.7, 0.0, 0.3, 1.0, 3.0, 12.0]),
    "log": (np.log, lambda x: 1 / x, [0.02, 0.3, 1.0, 2.0, 7.5, 150.0]),
    "runge": (lambda x: 1 / (1 + x * x), lambda x: -2 * x / (1 + x * x) ** 2,
              [-4.0, -1.0, -0.3, 0.0, 0.5, 1.3, 3.0]),
    "tanh": (np.tanh, lambda x: 1 / mp.cosh(x) ** 2,
             [-3.0, -0.5, 0.0, 0.2, 1.0, 2.2, 8.0]),
}


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_richardson_estimate_bounds_true_error(name):
    f, df, points = SMOOTH[name]
    for x in points:
        d, info = fd.derivative(f, x, method="richardson", full_output=True)
        exact = float(df(mp.mpf(x)))
        error = abs(d - exact)
        assert error <= info.error_estimate, (name, x)
        # ...and the bound is informative, not vacuous
        assert info.error_estimate <= 1e-9 * max(abs(exact), 1e-3), (name, x)


def test_richardson_estimate_bounds_second_derivative():
    for x in [-1.0, 0.3, 2.0]:
        d, info = fd.derivative(np.sin, x, method="richardson", order=2,
                                full_output=True)
        assert abs(d + math.sin(x)) <= info.error_estimate
        assert info.error_estimate < 1e-7


def test_richardson_skips_steps_that_cross_a_singularity():
    # the first steps (0.1) would reach log(x <= 0); they are skipped
    d, info = fd.derivative(np.log, 0.05, method="richardson",
                            full_output=True)
    assert abs(d - 20.0) <= info.error_estimate <= 1e-8


def test_richardson_vector_valued_estimate_shape():
    f = lambda x: np.array([np.exp(x), np.sin(x), x ** 3])  # noqa: E731
    d, info = fd.derivative(f, 0.5, method="richardson", full_output=True)
    exact = np.array([np.exp(0.5), np.cos(0.5), 0.75])
    assert d.shape == info.error_estimate.shape == (3,)
    assert np.all(np.abs(d - exact) <= info.error_estimate)


# ---------------------------------------------------------------------------
# Orders of the stencils
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("method, order, h", [
    ("forward", 1, 1e-3), ("backward", 1, 1e-3), ("central", 2, 1e-2),
    ("central4", 4, 1e-1), ("central6", 6, 2e-1), ("complex", 2, 1e-1)])
def test_error_shrinks_as_step_to_the_order(method, order, h):
    x = 0.3
    errs = [abs(fd.derivative(np.exp, x, method=method, step=s) - np.exp(x))
            for s in (h, h / 2, h / 4)]
    slopes = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(slopes - order) < 0.15), slopes


@pytest.mark.parametrize("method, degree", [
    ("central", 2), ("central4", 4), ("central6", 6)])
def test_central_stencils_exact_up_to_their_degree(method, degree):
    # exact for x**degree, not for x**(degree + 1)
    x, h = 0.7, 0.25
    exact = degree * x ** (degree - 1)
    d = fd.derivative(lambda t: t ** degree, x, method=method, step=h)
    assert abs(d - exact) < 1e-13
    d = fd.derivative(lambda t: t ** (degree + 1), x, method=method, step=h)
    assert abs(d - (degree + 1) * x ** degree) > 1e-6


def test_forward_and_backward_have_opposite_first_order_errors():
    x, h = 1.0, 1e-4
    ef = fd.derivative(np.exp, x, method="forward", step=h) - np.e
    eb = fd.derivative(np.exp, x, method="backward", step=h) - np.e
    assert ef == pytest.approx(h / 2 * np.e, rel=1e-3)
    assert eb == pytest.approx(-h / 2 * np.e, rel=1e-3)


@pytest.mark.parametrize("method, tol", [
    ("forward", 1e-4), ("backward", 1e-4), ("central", 1e-6),
    ("central4", 1e-9), ("central6", 1e-9), ("richardson", 1e-10),
    ("complex", 1e-7)])
def test_second_derivative(method, tol):
    d = fd.derivative(np.sin, 0.6, method=method, order=2)
    assert abs(d + np.sin(0.6)) < tol


def test_third_derivative():
    d = fd.derivative(np.exp, 0.2, method="richardson", order=3)
    assert abs(d - np.exp(0.2)) < 1e-7


def test_automatic_steps_follow_the_optimal_exponents():
    eps = np.finfo(float).eps
    expected = {"forward": 2 * eps ** 0.5, "central": (3 * eps) ** (1 / 3),
                "central4": (11.25 * eps) ** 0.2}
    for method, h in expected.items():
        step = fd.derivative(np.sin, 0.5, method=method,
                             full_output=True)[1].step
        assert float(step[0]) == pytest.approx(h, rel=1e-6), method
        # relative to |x| for large x, and exactly representable
        x = 3e5
        step = float(fd.derivative(np.sin, x, method=method,
                                   full_output=True)[1].step[0])
        assert step == pytest.approx(h * x, rel=1e-6)
        assert (x + step) - x == step


def test_noise_level_enlarges_the_step_and_helps():
    def noisy(x):  # sin with deterministic relative noise of 1e-10
        return np.sin(x) * (1 + 1e-10 * np.sin(1.29898e7 * x))

    plain = abs(fd.derivative(noisy, 0.8) - np.cos(0.8))
    tuned = abs(fd.derivative(noisy, 0.8, noise=1e-10) - np.cos(0.8))
    assert tuned < plain / 5
    assert tuned < 1e-6


# ---------------------------------------------------------------------------
# Gradient, Jacobian, Hessian, jvp against closed forms
# ---------------------------------------------------------------------------

def f3(x):
    return np.sin(x[0]) * np.exp(x[1]) + x[0] ** 2 * x[2] ** 3 + np.log(x[2])


def grad3(x):
    return np.array([np.cos(x[0]) * np.exp(x[1]) + 2 * x[0] * x[2] ** 3,
                     np.sin(x[0]) * np.exp(x[1]),
                     3 * x[0] ** 2 * x[2] ** 2 + 1 / x[2]])


def hess3(x):
    s, c, e = np.sin(x[0]), np.cos(x[0]), np.exp(x[1])
    return np.array([
        [-s * e + 2 * x[2] ** 3, c * e, 6 * x[0] * x[2] ** 2],
        [c * e, s * e, 0.0],
        [6 * x[0] * x[2] ** 2, 0.0, 6 * x[0] ** 2 * x[2] - 1 / x[2] ** 2]])


X3 = np.array([0.7, -0.3, 1.3])

GRAD_TOL = {"forward": 1e-6, "backward": 1e-6, "central": 1e-9,
            "central4": 1e-11, "central6": 1e-11, "richardson": 1e-12,
            "complex": 1e-14}
HESS_TOL = {"forward": 1e-3, "backward": 1e-3, "central": 1e-6,
            "central4": 1e-8, "central6": 1e-8, "richardson": 1e-10,
            "complex": 1e-8}


@pytest.mark.parametrize("method", fd.METHODS)
def test_gradient_closed_form(method):
    g = fd.gradient(f3, X3, method=method)
    assert g.shape == (3,) and g.dtype == np.float64
    assert np.max(np.abs(g - grad3(X3))) < GRAD_TOL[method]


@pytest.mark.parametrize("method", fd.METHODS)
def test_hessian_closed_form_and_symmetric(method):
    h = fd.hessian(f3, X3, method=method)
    assert h.shape == (3, 3)
    assert np.array_equal(h, h.T)
    assert np.max(np.abs(h - hess3(X3))) < HESS_TOL[method]


@pytest.mark.parametrize("method", ["central", "richardson", "complex"])
def test_hessian_error_estimate_bounds(method):
    h, info = fd.hessian(f3, X3, method=method, full_output=True)
    assert np.all(np.abs(h - hess3(X3)) <= info.error_estimate)


def spherical(x):
    r, t, p = x
    return np.array([r * np.sin(t) * np.cos(p), r * np.sin(t) * np.sin(p),
                     r * np.cos(t)])


def spherical_jac(x):
    r, t, p = x
    st, ct, sp, cp = np.sin(t), np.cos(t), np.sin(p), np.cos(p)
    return np.array([[st * cp, r * ct * cp, -r * st * sp],
                     [st * sp, r * ct * sp, r * st * cp],
                     [ct, -r * st, 0.0]])


@pytest.mark.parametrize("method", fd.METHODS)
def test_jacobian_closed_form(method):
    x = np.array([2.0, 0.6, -1.1])
    J = fd.jacobian(spherical, x, method=method)
    assert J.shape == (3, 3)
    assert np.max(np.abs(J - spherical_jac(x))) < 2 * GRAD_TOL[method]


def test_jacobian_is_m_by_n_and_scalar_f_gives_one_row():
    f = lambda x: np.array([x[0] * x[1], x[1] ** 2])  # noqa: E731
    J = fd.jacobian(f, [1.0, 2.0, 3.0], method="complex")
    np.testing.assert_allclose(J, [[2, 1, 0], [0, 4, 0]], atol=1e-15)
    row = fd.jacobian(lambda x: x @ x, [1.0, 2.0], method="complex")
    np.testing.assert_allclose(row, [[2.0, 4.0]], atol=1e-15)


@pytest.mark.parametrize("method", fd.METHODS)
def test_jvp_matches_jacobian_times_v(method):
    x = np.array([2.0, 0.6, -1.1])
    v = np.array([0.3, -1.0, 2.0])
    jv = fd.jvp(spherical, x, v, method=method)
    assert jv.shape == (3,)
    assert np.max(np.abs(jv - spherical_jac(x) @ v)) < 10 * GRAD_TOL[method]


def test_jvp_scalar_and_zero_direction():
    jv = fd.jvp(f3, X3, [1.0, 0.0, 0.0], method="richardson")
    assert isinstance(jv, np.float64)
    assert abs(jv - grad3(X3)[0]) < 1e-12
    assert fd.jvp(f3, X3, np.zeros(3)) == 0.0


def test_derivative_of_vector_valued_f_has_shape_m():
    d = fd.derivative(lambda t: np.array([t ** 2, np.sin(t)]), 0.5,
                      method="central4")
    assert d.shape == (2,)
    np.testing.assert_allclose(d, [1.0, np.cos(0.5)], rtol=1e-11)
    assert isinstance(fd.derivative(np.sin, 0.5), np.float64)


def test_args_are_passed_through():
    f = lambda x, a, b: a * x[0] ** 2 + b * x[1]  # noqa: E731
    np.testing.assert_allclose(fd.gradient(f, [1.0, 2.0], args=(3.0, 5.0)),
                               [6.0, 5.0], rtol=1e-9)
    assert fd.derivative(lambda t, a: a * t, 2.0, args=(4.0,)) == \
        pytest.approx(4.0)


def test_user_step_scalar_and_per_coordinate():
    f = lambda x: x[0] ** 3 + x[1] ** 3  # noqa: E731
    g, info = fd.gradient(f, [1.0, 1.0], method="forward",
                          step=[1e-3, 1e-5], full_output=True)
    np.testing.assert_allclose(info.step, [1e-3, 1e-5], rtol=1e-10)
    # forward error 3 x h: the two coordinates show their own steps
    np.testing.assert_allclose(g - 3.0, [3e-3, 3e-5], rtol=1e-2)
    g = fd.gradient(f, [1.0, 1.0], method="central", step=1e-2)
    np.testing.assert_allclose(g - 3.0, [1e-4, 1e-4], rtol=1e-6)


# ---------------------------------------------------------------------------
# Badly scaled inputs
# ---------------------------------------------------------------------------

def scaled(x):
    return x[0] ** 2 * x[1] + np.exp(x[0]) * np.log(x[1]) \
        + np.sin(x[1] / 1e4) * x[0]


def scaled_grad(x):
    return np.array([
        2 * x[0] * x[1] + np.exp(x[0]) * np.log(x[1]) + np.sin(x[1] / 1e4),
        x[0] ** 2 + np.exp(x[0]) / x[1] + np.cos(x[1] / 1e4) * x[0] / 1e4])


@pytest.mark.parametrize("method, rtol", [
    ("central", 1e-9), ("central4", 1e-11), ("richardson", 1e-12),
    ("complex", 1e-15)])
def test_badly_scaled_inputs(method, rtol):
    x = np.array([1e-4, 1e4])
    g, info = fd.gradient(scaled, x, method=method, full_output=True)
    exact = scaled_grad(x)
    assert np.all(np.abs(g - exact) <= rtol * np.abs(exact))
    # per-coordinate steps: eight orders of magnitude apart
    assert info.step[1] / info.step[0] >= 1e3


def test_scale_option_for_small_coordinates_on_their_own_scale():
    # log(x0) at x0 = 1e-4 varies on the scale 1e-4, not 1
    f = lambda x: np.log(x[0]) * x[1]  # noqa: E731
    x = np.array([1e-4, 1e4])
    exact = np.array([x[1] / x[0], np.log(x[0])])
    g = fd.gradient(f, x, scale=np.abs(x))
    np.testing.assert_allclose(g, exact, rtol=1e-9)


# ---------------------------------------------------------------------------
# Cost: calls of f
# ---------------------------------------------------------------------------

class Counter:
    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, x, *args):
        self.calls += 1
        return self.f(x, *args)


@pytest.mark.parametrize("method, calls", [
    ("forward", lambda n: n + 1), ("backward", lambda n: n + 1),
    ("central", lambda n: 2 * n), ("central4", lambda n: 4 * n),
    ("complex", lambda n: n)])
def test_gradient_cost(method, calls):
    n = 10
    f = Counter(lambda x: np.sum(np.cos(x) * np.arange(1, n + 1)))
    fd.gradient(f, np.linspace(0.1, 1.0, n), method=method)
    assert f.calls == calls(n)


def test_hessian_cost_central():
    n = 5
    f = Counter(lambda x: np.sum(x ** 3))
    fd.hessian(f, np.ones(n))
    assert f.calls == 1 + 2 * n + 2 * n * (n - 1)


def test_full_output_reports_calls():
    f = Counter(lambda x: np.sum(x ** 2))
    _, info = fd.gradient(f, np.ones(4), method="richardson", full_output=True)
    assert info.n_calls == f.calls
    assert isinstance(info, fd.FDInfo)


# ---------------------------------------------------------------------------
# Inputs are never modified
# ---------------------------------------------------------------------------

def test_input_not_modified_even_if_f_mutates_its_argument():
    def rude(x):
        value = np.sum(x ** 2)
        x[:] = 123.0
        return value

    x = np.array([1.0, 2.0, 3.0])
    g = fd.gradient(rude, x, method="central")
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(g, [2.0, 4.0, 6.0], rtol=1e-9)
    fd.hessian(rude, x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_integer_input_and_list_are_accepted():
    g = fd.gradient(lambda x: x @ x, [1, 2], method="complex")
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-15)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

def test_unknown_method():
    with pytest.raises(ValueError, match="unknown method 'simpson'.*central"):
        fd.gradient(f3, X3, method="simpson")


@pytest.mark.parametrize("x, err, match", [
    ("abc", TypeError, "real numbers"),
    (None, TypeError, "real numbers"),
    ([1 + 2j, 3], TypeError, "real numbers"),
    ([[1.0, 2.0]], ValueError, "1-D"),
    ([], ValueError, "1-D"),
    ([1.0, np.nan], ValueError, "finite"),
    (2.0, ValueError, "1-D"),
])
def test_bad_x(x, err, match):
    with pytest.raises(err, match=match):
        fd.gradient(lambda x: np.sum(x), x)


def test_bad_step():
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        fd.gradient(f3, X3, step=[1e-3, 1e-3])
    with pytest.raises(ValueError, match="positive"):
        fd.gradient(f3, X3, step=-1e-3)
    with pytest.raises(TypeError, match="step"):
        fd.gradient(f3, X3, step="small")
    with pytest.raises(ValueError, match="scalar"):
        fd.jvp(f3, X3, np.ones(3), step=[1.0, 1.0, 1.0])


def test_bad_scalar_derivative_input():
    with pytest.raises(ValueError, match="scalar"):
        fd.derivative(np.sin, [1.0, 2.0])
    with pytest.raises(ValueError, match="order"):
        fd.derivative(np.sin, 1.0, order=5)


def test_bad_f_and_outputs():
    with pytest.raises(TypeError, match="callable"):
        fd.gradient("not a function", X3)
    with pytest.raises(TypeError, match="number"):
        fd.gradient(lambda x: "oops", X3)
    with pytest.raises(ValueError, match="jacobian"):
        fd.gradient(lambda x: x, X3)
    with pytest.raises(ValueError, match="scalar-valued"):
        fd.hessian(lambda x: x, X3)
    with pytest.raises(ValueError, match="v must have the shape"):
        fd.jvp(f3, X3, [1.0])


def test_complex_step_refuses_functions_without_complex_support():
    with pytest.raises(TypeError, match="complex input"):
        fd.derivative(math.sin, 0.5, method="complex")

    def drops_imaginary(x):
        out = np.empty(1)
        out[0] = x[0] ** 2  # complex -> float assignment
        return out[0]

    with pytest.raises(ValueError, match="imaginary part"):
        fd.gradient(drops_imaginary, [1.0], method="complex")
    with pytest.raises(ValueError, match="imaginary part"):
        fd.gradient(lambda x: float(np.real(x[0])), [1.0], method="complex")


def test_real_methods_refuse_complex_output():
    with pytest.raises(TypeError, match="complex"):
        fd.derivative(lambda t: t + 1j, 0.5)


# ---------------------------------------------------------------------------
# Error versus step
# ---------------------------------------------------------------------------

def test_error_vs_step_shape_and_the_classic_v():
    data = fd.error_vs_step(np.exp, 1.0, reference=np.e)
    assert set(data.errors) == {"forward", "central", "complex"}
    steps = data.steps
    assert np.all(np.diff(steps) > 0)
    central = data.errors["central"]
    best = steps[np.argmin(central)]
    # the minimum lies within a factor 100 of the automatic step ...
    assert 1e-2 < best / data.auto_steps["central"] < 1e2
    # ... truncation to the right, rounding to the left
    assert central[-1] > 1e3 * central.min()
    assert central[steps < 1e-12].min() > 1e3 * central.min()
    # the complex step stays exact at tiny steps
    assert np.all(data.errors["complex"][steps < 1e-8] <= 4.5e-16)


def test_plot_error_vs_step():
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = fd.error_vs_step(np.sin, 0.5, reference=np.cos(0.5),
                            steps=np.logspace(-12, -1, 12))
    ax = fd.plot_error_vs_step(data)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.get_legend().get_texts()) == 3
    plt.close(ax.figure)


def test_plot_without_matplotlib_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    data = fd.error_vs_step(np.sin, 0.5, reference=np.cos(0.5), steps=[1e-3])
    with pytest.raises(ImportError, match="pip install matplotlib"):
        fd.plot_error_vs_step(data)


# ---------------------------------------------------------------------------
# Against AD (skipped only while dualdiff.forward cannot be imported)
# ---------------------------------------------------------------------------

@pytest.mark.skipif(not HAVE_AD, reason="dualdiff.forward not importable yet")
class TestAgainstAD:
    def test_error_vs_step_default_reference_is_ad(self):
        data = fd.error_vs_step(lambda t: math.exp(t), 0.5, steps=[1e-4],
                                methods=("central",))
        assert data.reference == pytest.approx(math.exp(0.5), rel=1e-15)

    def test_richardson_gradient_matches_ad(self):
        from dualdiff import operators as forward

        def f(x):
            return math.sin(x[0]) * math.exp(x[1]) + x[0] ** 2 * x[2] ** 3

        x = np.array([0.7, -0.3, 1.3])
        g_fd, info = fd.gradient(f, x, method="richardson", full_output=True)
        g_ad = forward.gradient(f, x)
        assert np.all(np.abs(g_fd - g_ad) <= info.error_estimate)
