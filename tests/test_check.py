"""Tests of dualdiff.check: reports, tolerances, verdicts, assert_* forms."""

import types

import numpy as np
import pytest

import dualdiff
from dualdiff import check, fd
from dualdiff.check import (
    ADUnavailableError, CheckReport, assert_adjoint, assert_gradient,
    assert_hessian, assert_jacobian, check_adjoint, check_derivative,
    check_gradient, check_hessian, check_jacobian, compare)

try:  # the AD-path tests below skip only while dualdiff.forward is missing
    import dualdiff.forward  # noqa: F401
    HAVE_AD = True
except ImportError:
    HAVE_AD = False


# ---------------------------------------------------------------------------
# Test problems with hand-written derivatives
# ---------------------------------------------------------------------------

def rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosen_grad(x):
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


def rosen_hess(x):
    n = x.size
    h = np.zeros((n, n))
    d = np.zeros(n)
    d[:-1] = 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    d[1:] += 200.0
    h[np.arange(n), np.arange(n)] = d
    off = -400.0 * x[:-1]
    h[np.arange(n - 1), np.arange(1, n)] = off
    h[np.arange(1, n), np.arange(n - 1)] = off
    return h


X = np.array([-1.2, 1.0, 0.8, 1.5, -0.3, 0.9])


def one_percent_off(entry):
    def grad(x):
        g = rosen_grad(x)
        g[entry] *= 1.01
        return g
    return grad


def field(x):
    return np.array([x[0] * x[1] * x[2], np.sin(x[0]) + x[2] ** 2])


def field_jac(x):
    return np.array([[x[1] * x[2], x[0] * x[2], x[0] * x[1]],
                     [np.cos(x[0]), 0.0, 2 * x[2]]])


class Counter:
    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, x, *args):
        self.calls += 1
        return self.f(x, *args)


# ---------------------------------------------------------------------------
# check_gradient with a user gradient (no AD involved: ad=False)
# ---------------------------------------------------------------------------

def test_correct_rosenbrock_gradient_passes():
    report = check_gradient(rosen, X, gradient=rosen_grad, ad=False)
    assert isinstance(report, CheckReport)
    assert report.passed
    assert report.max_abs_error < 1e-9
    assert report.max_rel_error < 1e-11
    assert report.labels == ("user", "FD")
    np.testing.assert_array_equal(report.tested, rosen_grad(X))
    assert report.reference.shape == report.tolerance.shape == (X.size,)


@pytest.mark.parametrize("entry", [0, 3, 5])
def test_one_percent_error_in_one_entry_fails_and_is_located(entry):
    report = check_gradient(rosen, X, gradient=one_percent_off(entry), ad=False)
    assert not report.passed
    assert report.worst_index == entry
    g = rosen_grad(X)[entry]
    assert report.max_abs_error == pytest.approx(0.01 * abs(g), rel=1e-6)
    assert report.max_rel_error == pytest.approx(0.01 / 1.01, rel=1e-6)


def test_fd_versus_fd():
    complex_grad = lambda x: fd.gradient(rosen, x, method="complex")  # noqa
    assert check_gradient(rosen, X, gradient=complex_grad, ad=False).passed
    # forward differences are too crude to pass against Richardson
    forward_grad = lambda x: fd.gradient(rosen, x, method="forward")  # noqa
    assert not check_gradient(rosen, X, gradient=forward_grad, ad=False).passed


def test_args_reach_f_and_the_gradient():
    f = lambda x, a: a * np.sum(x ** 2)  # noqa: E731
    g = lambda x, a: 2 * a * x  # noqa: E731
    assert check_gradient(f, [1.0, 2.0], args=(3.0,), gradient=g,
                          ad=False).passed
    assert not check_gradient(f, [1.0, 2.0], args=(3.0,),
                              gradient=lambda x, a: 2 * x, ad=False).passed


def test_nan_in_the_tested_gradient_fails():
    bad = lambda x: np.where(np.arange(x.size) == 2, np.nan, rosen_grad(x))  # noqa
    report = check_gradient(rosen, X, gradient=bad, ad=False)
    assert not report.passed
    assert report.worst_index == 2
    assert "not finite" in str(report)


def test_wrong_shape_of_user_gradient():
    with pytest.raises(ValueError, match=r"shape \(5,\), expected \(6,\)"):
        check_gradient(rosen, X, gradient=lambda x: np.zeros(5), ad=False)


def test_nothing_to_check():
    with pytest.raises(ValueError, match="nothing to check"):
        check_gradient(rosen, X, ad=False)


# ---------------------------------------------------------------------------
# The tolerance rule
# ---------------------------------------------------------------------------

def test_tolerance_is_built_from_the_fd_error_estimate():
    report = check_gradient(rosen, X, gradient=rosen_grad, method="central",
                            ad=False)
    _, info = fd.gradient(rosen, X, method="central", full_output=True)
    np.testing.assert_array_equal(report.fd_error_estimate,
                                  info.error_estimate)
    ref = np.abs(report.reference)
    expected = 10.0 * info.error_estimate + 1e-10 * ref + 1e-12 * ref.max()
    np.testing.assert_allclose(report.tolerance, expected, rtol=1e-12)
    # the estimate, not the floor, dominates for central differences
    assert np.all(10.0 * info.error_estimate > 1e-10 * ref)


def test_tolerance_tightens_with_a_better_method():
    loose = check_gradient(rosen, X, gradient=rosen_grad, method="central",
                           ad=False)
    tight = check_gradient(rosen, X, gradient=rosen_grad, method="complex",
                           ad=False)
    ref = np.abs(loose.reference)
    assert np.all(tight.tolerance < loose.tolerance / 5)
    # a small relative error hides in central's tolerance but not complex's
    rel = 0.5 * np.min(loose.tolerance / ref)
    assert rel > 2 * np.min(tight.tolerance / ref)
    tiny = lambda x: rosen_grad(x) * (1 + rel)  # noqa: E731
    assert check_gradient(rosen, X, gradient=tiny, method="central",
                          ad=False).passed
    assert not check_gradient(rosen, X, gradient=tiny, method="complex",
                              ad=False).passed


def test_compare_formula_and_floor():
    r = compare([1.0, 0.0, 5.0], [1.0 + 3e-6, 1e-13, 5.0],
                error_estimate=[1e-6, 0.0, 0.0], safety=2.0, rtol=1e-3,
                atol=1e-12)
    np.testing.assert_allclose(r.tolerance,
                               [2e-6 + 1e-3 * (1 + 3e-6) + 1e-12,
                                1e-3 * 1e-13 + 1e-12, 5e-3 + 1e-12])
    assert r.passed
    # default atol: 1e-12 times the largest reference entry
    assert compare([0.0, 100.0], [5e-11, 100.0]).passed
    assert not compare([0.0, 100.0], [2e-10, 100.0]).passed
    with pytest.raises(ValueError, match="shapes differ"):
        compare([1.0], [1.0, 2.0])


# ---------------------------------------------------------------------------
# The report: repr and assert_* messages
# ---------------------------------------------------------------------------

def test_repr_is_readable_table_of_worst_entries():
    report = check_gradient(rosen, X, gradient=one_percent_off(3), ad=False)
    text = repr(report)
    assert text == str(report)
    lines = text.splitlines()
    assert lines[0].startswith("gradient check FAILED: user vs FD (richardson)")
    header = lines[1].split()
    assert header[:3] == ["index", "user", "FD"] and "tolerance" in header
    rows = lines[2:2 + 5]  # the five worst of six entries
    assert rows[0].split()[0] == "3" and rows[0].endswith("<-- FAIL")
    assert not any("FAIL" in row for row in rows[1:])
    assert all(len(row) == len(rows[0]) - len("  <-- FAIL") for row in rows[1:])
    assert len(lines) == 2 + 5 + 1  # + the verdict line
    assert "verdict: the user gradient disagrees with finite differences" in text


def test_assert_gradient_raises_with_the_table():
    with pytest.raises(AssertionError) as excinfo:
        assert_gradient(rosen, X, gradient=one_percent_off(1), ad=False)
    message = str(excinfo.value)
    assert "gradient check FAILED" in message
    assert "<-- FAIL" in message and "index" in message
    report = assert_gradient(rosen, X, gradient=rosen_grad, ad=False)
    assert report.passed


def test_assert_jacobian_and_hessian():
    assert_jacobian(field, [0.5, -1.0, 2.0], jacobian=field_jac, ad=False)
    with pytest.raises(AssertionError, match="jacobian check FAILED"):
        assert_jacobian(field, [0.5, -1.0, 2.0],
                        jacobian=lambda x: field_jac(x).T.T * 1.001, ad=False)
    assert_hessian(rosen, X[:4], hessian=rosen_hess, ad=False)
    with pytest.raises(AssertionError, match="hessian check FAILED"):
        assert_hessian(rosen, X[:4], hessian=lambda x: rosen_hess(x) + 1e-3,
                       ad=False)


# ---------------------------------------------------------------------------
# Jacobian, Hessian, derivative
# ---------------------------------------------------------------------------

def test_check_jacobian_locates_a_wrong_entry():
    x = np.array([0.5, -1.0, 2.0])

    def wrong(x):
        J = field_jac(x)
        J[1, 2] += 0.1
        return J

    assert check_jacobian(field, x, jacobian=field_jac, ad=False).passed
    report = check_jacobian(field, x, jacobian=wrong, ad=False)
    assert not report.passed and report.worst_index == (1, 2)
    assert report.tested.shape == (2, 3)


def test_check_hessian_locates_a_wrong_off_diagonal_pair():
    x = X[:4]

    def wrong(x):
        h = rosen_hess(x)
        h[0, 1] = h[1, 0] = 0.9 * h[0, 1]
        return h

    assert check_hessian(rosen, x, hessian=rosen_hess, ad=False).passed
    report = check_hessian(rosen, x, hessian=wrong, ad=False)
    assert not report.passed and report.worst_index in {(0, 1), (1, 0)}


def test_check_derivative_scalar_and_vector():
    assert check_derivative(np.sin, 0.3, derivative=np.cos, ad=False).passed
    f = lambda t: np.array([t ** 3, np.exp(2 * t)])  # noqa: E731
    good = lambda t: np.array([3 * t ** 2, 2 * np.exp(2 * t)])  # noqa: E731
    bad = lambda t: np.array([3 * t ** 2, np.exp(2 * t)])  # noqa: E731
    assert check_derivative(f, 0.4, derivative=good, ad=False).passed
    report = check_derivative(f, 0.4, derivative=bad, ad=False)
    assert not report.passed and report.worst_index == 1


# ---------------------------------------------------------------------------
# Random directions and the adjoint identity
# ---------------------------------------------------------------------------

def test_random_directions_check_costs_k_not_n():
    n, k = 40, 3
    x = np.linspace(-1.0, 1.0, n)
    f = Counter(rosen)
    report = check_gradient(f, x, gradient=rosen_grad, directions=k, seed=0,
                            method="central", ad=False)
    assert report.passed
    assert report.directions.shape == (k, n)
    np.testing.assert_allclose(np.linalg.norm(report.directions, axis=1), 1.0)
    assert f.calls <= 4 * k < n  # two points, twice (error estimate)
    np.testing.assert_allclose(report.tested,
                               report.directions @ rosen_grad(x))


def test_random_directions_catch_a_wrong_gradient():
    x = np.linspace(-1.0, 1.0, 20)
    report = check_gradient(rosen, x, gradient=one_percent_off(7),
                            directions=4, seed=1, ad=False)
    assert not report.passed
    assert "random directions" in str(report)


def test_random_directions_for_a_jacobian():
    x = np.array([0.5, -1.0, 2.0])
    report = check_jacobian(field, x, jacobian=field_jac, directions=2,
                            seed=3, ad=False)
    assert report.passed and report.tested.shape == (2, 2)


A = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, 4.0]])


def nonlinear(x):
    return np.tanh(A @ x)


def nonlinear_jvp(x, v):
    return (1 - np.tanh(A @ x) ** 2) * (A @ v)


def nonlinear_vjp(x, u):
    return ((1 - np.tanh(A @ x) ** 2) * u) @ A


def test_adjoint_identity_with_user_products():
    x = np.array([0.2, -0.4, 0.3])
    report = check_adjoint(nonlinear, x, jvp=nonlinear_jvp, vjp=nonlinear_vjp,
                           directions=4, seed=0)
    assert report.passed and report.tested.shape == (4,)
    wrong_vjp = lambda x, u: u @ A  # noqa: E731  (forgot the tanh')
    report = check_adjoint(nonlinear, x, jvp=nonlinear_jvp, vjp=wrong_vjp,
                           seed=0)
    assert not report.passed
    assert "disagree" in report.verdict
    with pytest.raises(AssertionError, match="adjoint identity check FAILED"):
        assert_adjoint(nonlinear, x, jvp=nonlinear_jvp, vjp=wrong_vjp)


def test_adjoint_identity_with_fd_jvp_when_no_ad(monkeypatch):
    for name in ("operators", "second"):
        monkeypatch.setattr(dualdiff, name, types.SimpleNamespace(),
                            raising=False)
    x = np.array([0.2, -0.4, 0.3])
    report = check_adjoint(nonlinear, x, vjp=nonlinear_vjp, seed=2)
    assert report.passed
    assert any("finite differences" in note for note in report.notes)
    assert np.all(report.fd_error_estimate > 0)
    report = check_adjoint(nonlinear, x, vjp=lambda x, u: u @ A, seed=2)
    assert not report.passed


# ---------------------------------------------------------------------------
# Verdicts with a stand-in AD (which side disagrees)
# ---------------------------------------------------------------------------

def fake_ad(monkeypatch, gradient):
    monkeypatch.setattr(check, "ad_operator", lambda name: (
        lambda f, x, args=(), mode="auto": gradient(x)))


def test_verdict_user_wrong(monkeypatch):
    fake_ad(monkeypatch, rosen_grad)
    report = check_gradient(rosen, X, gradient=one_percent_off(2))
    assert not report.passed
    assert "is wrong: AD and finite differences agree" in report.verdict
    assert not report.comparisons["user vs AD"].passed
    assert report.comparisons["AD vs FD"].passed


def test_verdict_ad_wrong(monkeypatch):
    fake_ad(monkeypatch, one_percent_off(4))
    report = check_gradient(rosen, X, gradient=rosen_grad)
    assert not report.passed  # the user gradient agrees with FD, not with AD
    assert "agrees with finite differences but not with AD" in report.verdict
    assert report.comparisons["user vs AD"].worst_index == 4


def test_verdict_fd_wrong(monkeypatch):
    fake_ad(monkeypatch, one_percent_off(0))
    report = check_gradient(rosen, X, gradient=one_percent_off(0))
    assert "agrees with AD but not with finite differences" in report.verdict


def test_verdict_all_agree(monkeypatch):
    fake_ad(monkeypatch, rosen_grad)
    report = check_gradient(rosen, X, gradient=rosen_grad)
    assert report.passed
    assert report.verdict.endswith("agrees with AD and with finite differences")
    assert "user vs AD: PASSED" in str(report)


def test_ad_checked_against_fd_without_user_gradient(monkeypatch):
    fake_ad(monkeypatch, one_percent_off(1))
    report = check_gradient(rosen, X)
    assert report.labels == ("AD", "FD")
    assert not report.passed and report.worst_index == 1


def test_failing_ad_is_noted_or_raised(monkeypatch):
    def broken(name):
        def fn(*args, **kwargs):
            raise RuntimeError("cannot compile\nsecond line")
        return fn

    monkeypatch.setattr(check, "ad_operator", broken)
    report = check_gradient(rosen, X, gradient=rosen_grad)
    assert report.passed
    assert "AD not used: RuntimeError: cannot compile" in str(report)
    with pytest.raises(RuntimeError):
        check_gradient(rosen, X, gradient=rosen_grad, ad=True)


def test_missing_ad_hessian_asks_for_a_user_hessian(monkeypatch):
    for name in ("operators", "second"):
        monkeypatch.setattr(dualdiff, name, types.SimpleNamespace(),
                            raising=False)
    with pytest.raises(ADUnavailableError, match="hessian="):
        check_hessian(rosen, X[:3])
    assert check_hessian(rosen, X[:3], hessian=rosen_hess).passed


# ---------------------------------------------------------------------------
# Against AD (skipped only while dualdiff.forward cannot be imported)
# ---------------------------------------------------------------------------

def rosen_loop(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def field_loop(x):
    return (x[0] * x[1] * x[2], np.sin(x[0]) + x[2] ** 2)


@pytest.mark.skipif(not HAVE_AD, reason="dualdiff.forward not importable yet")
class TestAgainstAD:
    def test_ad_gradient_passes(self):
        report = check_gradient(rosen_loop, X)
        assert report.passed, report
        assert report.labels == ("AD", "FD")

    def test_user_gradient_compared_with_ad_and_fd(self):
        report = check_gradient(rosen_loop, X, gradient=rosen_grad)
        assert report.passed, report
        assert set(report.comparisons) == {"user vs AD", "AD vs FD"}
        report = check_gradient(rosen_loop, X, gradient=one_percent_off(3))
        assert not report.passed
        assert "is wrong: AD and finite differences agree" in report.verdict

    def test_ad_gradient_random_directions(self):
        assert check_gradient(rosen_loop, X, directions=3, seed=0).passed

    def test_ad_jacobian_and_derivative(self):
        assert check_jacobian(field_loop, np.array([0.5, -1.0, 2.0])).passed
        assert check_derivative(lambda t: t ** 3 - 2.0 * t, 0.7).passed

    def test_ad_adjoint_identity(self):
        assert check_adjoint(field_loop, np.array([0.5, -1.0, 2.0]),
                             seed=0).passed

    def test_ad_hessian_or_a_clear_request_for_one(self):
        try:
            check.ad_operator("hessian")
        except ADUnavailableError:
            with pytest.raises(ADUnavailableError, match="hessian="):
                check_hessian(rosen_loop, X[:4])
        else:
            report = check_hessian(rosen_loop, X[:4])
            assert report.passed, report
            report = check_hessian(rosen_loop, X[:4], hessian=rosen_hess)
            assert report.passed, report
            assert "user vs AD" in report.comparisons
