"""Check derivatives against finite differences (and AD) in one call.

``check_gradient(f, x)`` computes the gradient by automatic differentiation
(:mod:`dualdiff.operators`) and by finite differences (:mod:`dualdiff.fd`) and
returns a :class:`CheckReport`; ``assert_gradient`` raises an AssertionError
showing the worst entries.  Pass your own derivative (``gradient=my_grad``, as
in :func:`scipy.optimize.check_grad`) and it is compared with both FD and AD,
and the report says which of them disagrees.

Tolerance rule
--------------
Entry ``i`` of the tested derivative ``t`` passes against the reference ``r``
(finite differences) when::

    |t_i - r_i| <= tol_i = safety * e_i + rtol * |r_i| + atol

where ``e_i`` is the error estimate of the finite difference itself
(``FDInfo.error_estimate``: for the default ``method="richardson"`` it comes
from the extrapolation tableau and bounds the true error on smooth
functions; for the other methods it compares steps h and 2h).  So the
tolerance is as tight as the finite difference is accurate, and automatically
looser where it is not (noisy or badly scaled f).  ``safety`` (default 10)
absorbs underestimates of ``e_i``.  The floor ``rtol * |r_i| + atol``
(defaults ``rtol = 1e-10``, ``atol = 1e-12 * max|r|``) only matters where the
estimate is near zero; ``atol`` is relative to the largest entry so that
entries that should be zero are not held to an impossible standard.  A
user-supplied derivative is compared with AD (exact up to rounding) using the
floor alone.
"""

import importlib
import sys

import numpy as np

from . import fd
from .check_report import (CheckReport, compare, make_report,
                           relative_differences, three_way_verdict,
                           tolerance_options)
from .fd.inputs import as_args, as_vector

__all__ = [
    "CheckReport",
    "compare",
    "relative_differences",
    "ADUnavailableError",
    "check_derivative",
    "check_gradient",
    "check_jacobian",
    "check_hessian",
    "check_adjoint",
    "assert_derivative",
    "assert_gradient",
    "assert_jacobian",
    "assert_hessian",
    "assert_adjoint",
]

EPS = float(np.finfo(np.float64).eps)


class ADUnavailableError(ImportError):
    """Automatic differentiation (``dualdiff.operators``) is not available for a
    check that needs it; pass your own derivative instead."""


# ---------------------------------------------------------------------------
# Getting the derivatives to compare
# ---------------------------------------------------------------------------

_AD_MODULES = ("operators", "second")  # where AD operators live, in order


def ad_operator(name):
    """The AD operator ``name`` from ``dualdiff.operators`` (or, for second
    order, ``dualdiff.second``), imported lazily."""
    try:
        from . import operators  # noqa: F401  (the first-order layer must exist)
    except ImportError as exc:
        reason = f"dualdiff.operators could not be imported ({exc})"
        error = ADUnavailableError(f"automatic differentiation is not "
                                   f"available: {reason}; pass your own "
                                   f"derivative")
        error.reason = reason
        raise error from exc
    package = sys.modules[__package__]
    for module_name in _AD_MODULES:
        module = getattr(package, module_name, None)  # as `from . import`
        if module is None:
            try:
                module = importlib.import_module(f"{__package__}.{module_name}")
            except ImportError:
                continue
        fn = getattr(module, name, None)
        if fn is not None:
            return fn
    error = ADUnavailableError(
        f"dualdiff.operators has no {name}() yet; pass your own derivative "
        f"(e.g. {name}=my_{name})")
    error.reason = f"dualdiff.operators has no {name}() yet"
    raise error


def shaped(value, shape, what):
    """``value`` as a float64 array of ``shape``; an (n,) result is accepted
    for a (1, n) Jacobian and vice versa."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape:
        if arr.size == int(np.prod(shape)) and (arr.ndim <= 1 or 1 in shape):
            return arr.reshape(shape)
        raise ValueError(f"{what} returned shape {arr.shape}, expected {shape}")
    return arr


def _three_way(kind, fd_value, fd_err, user, ad_thunk, method, tol_opts,
               ad=None):
    """Compare a user derivative with FD and AD, or AD with FD.

    ``user`` is an array or None; ``ad_thunk()`` computes the AD value.
    """
    shape = fd_value.shape
    if user is None and ad is False:
        raise ValueError(f"nothing to check: ad=False needs your own {kind}")
    if user is None:
        ad_value = shaped(ad_thunk(), shape, f"AD {kind}")
        report = make_report(kind, ad_value, fd_value, fd_err, ("AD", "FD"),
                          method, **tol_opts)
        report.verdict = ("AD agrees with finite differences" if report.passed
                          else "AD disagrees with finite differences: AD or FD "
                          "is wrong here (FD suffers at kinks and with noise)")
        return report

    user = shaped(user, shape, f"the user {kind}")
    report = make_report(kind, user, fd_value, fd_err, ("user", "FD"), method,
                      **tol_opts)
    ad_value = None
    if ad is not False:
        try:
            ad_value = shaped(ad_thunk(), shape, f"AD {kind}")
        except Exception as exc:  # AD is optional here; say why it was skipped
            if ad:
                raise
            report.notes.append(f"AD not used: {type(exc).__name__}: "
                                f"{str(exc).splitlines()[0] if str(exc) else ''}")
    if ad_value is None:
        report.verdict = (f"the user {kind} agrees with finite differences"
                          if report.passed else
                          f"the user {kind} disagrees with finite differences")
        return report

    zero = np.zeros(shape)
    vs_ad = make_report(kind, user, ad_value, zero, ("user", "AD"), "exact",
                     safety=0.0, rtol=tol_opts["rtol"], atol=tol_opts["atol"])
    ad_fd = make_report(kind, ad_value, fd_value, fd_err, ("AD", "FD"), method,
                     **tol_opts)
    report.comparisons = {"user vs AD": vs_ad, "AD vs FD": ad_fd}
    report.verdict = three_way_verdict(kind, report.passed, vs_ad.passed, ad_fd.passed)
    report.passed = report.passed and vs_ad.passed
    return report


def _call_user(fn, x, args, what):
    if not callable(fn):
        raise TypeError(f"{what} must be callable as {what}(x, *args), got "
                        f"{type(fn).__name__}")
    return fn(np.array(x, copy=True), *args)


def _random_directions(k, n, seed):
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"directions must be a positive integer, got {k!r}")
    v = np.random.default_rng(seed).standard_normal((int(k), n))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# ---------------------------------------------------------------------------
# Public checks
# ---------------------------------------------------------------------------

def check_derivative(f, x, args=(), derivative=None, *, method="richardson",
                     step=None, safety=10.0, rtol=1e-10, atol=None, ad=None):
    """Compare the derivative of a scalar function with finite differences.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` with scalar ``x``; returns a scalar or a vector.
    x : float
        The point.
    args : tuple, optional
        Extra arguments for ``f`` (and ``derivative``).
    derivative : callable, optional
        Your derivative, ``derivative(x, *args)``.  Without it the AD
        derivative (``dualdiff.operators.derivative``) is checked.
    method : str, optional
        Finite-difference method (see :mod:`dualdiff.fd`); default
        ``"richardson"``, whose error estimate sets the tolerance.
    step : float, optional
        Finite-difference step (see :func:`dualdiff.fd.derivative`).
    safety, rtol, atol : float, optional
        Tolerance ``safety * fd_error + rtol * |fd| + atol`` (see the module
        docstring; ``atol`` defaults to ``1e-12 * max|fd|``).
    ad : bool, optional
        With a user ``derivative``: also compare with AD (None: if
        available, True: required, False: never).

    Returns
    -------
    CheckReport

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.check import check_derivative
    >>> check_derivative(np.sin, 0.5, derivative=np.cos, ad=False).passed
    True
    """
    args = as_args(args)
    value, info = fd.derivative(f, x, args, method=method, step=step,
                                full_output=True)
    value = np.atleast_1d(value)
    err = np.atleast_1d(info.error_estimate)
    user = None if derivative is None else _call_user(
        derivative, float(x), args, "derivative")
    return _three_way(
        "derivative", value, err, user,
        lambda: ad_operator("derivative")(f, float(x), args=args), method,
        tolerance_options(safety, rtol, atol), ad)


def check_gradient(f, x, args=(), gradient=None, mode="auto", *,
                   method="richardson", step=None, directions=None, seed=None,
                   safety=10.0, rtol=1e-10, atol=None, ad=None):
    """Compare a gradient with finite differences (and with AD).

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` with ``x`` a 1-D array; returns a scalar.
    x : array_like, shape (n,)
        The point.
    args : tuple, optional
        Extra arguments for ``f`` (and ``gradient``).
    gradient : callable, optional
        Your gradient, ``gradient(x, *args) -> (n,)``, as for
        :func:`scipy.optimize.check_grad`.  It is compared with FD and, when
        available, with AD; the report's ``verdict`` says which disagrees.
        Without it the AD gradient (``dualdiff.operators.gradient``) is checked.
    mode : str, optional
        AD mode passed to ``dualdiff.operators.gradient``.
    method : str, optional
        Finite-difference method; default ``"richardson"``.
    step : float or array_like, optional
        Finite-difference step.
    directions : int, optional
        For large ``n``: instead of all ``n`` partials, compare ``k`` random
        directional derivatives, FD along ``v`` against ``gradient . v``
        (costs ``k`` directional FDs instead of ``n`` partial ones).
    seed : int, optional
        Seed of the random directions.
    safety, rtol, atol : float, optional
        Tolerance ``safety * fd_error + rtol * |fd| + atol`` (module
        docstring).
    ad : bool, optional
        With a user ``gradient``: also compare with AD (None: if available,
        True: required, False: never).

    Returns
    -------
    CheckReport

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.check import check_gradient
    >>> f = lambda x: np.sum(x ** 3)
    >>> check_gradient(f, [1.0, 2.0], gradient=lambda x: 3 * x ** 2,
    ...                ad=False).passed
    True
    >>> r = check_gradient(f, [1.0, 2.0], gradient=lambda x: 3 * x, ad=False)
    >>> r.passed, r.worst_index
    (False, 1)
    """
    args = as_args(args)
    x = as_vector(x)
    tol = tolerance_options(safety, rtol, atol)
    user = None if gradient is None else _call_user(gradient, x, args,
                                                    "gradient")
    ad_grad = lambda: ad_operator("gradient")(f, x, args=args, mode=mode)  # noqa: E731
    if directions is not None:
        return _directional("gradient", f, x, args, user, ad_grad,
                            (x.size,), directions, seed, method, tol, ad)
    value, info = fd.gradient(f, x, args, method=method, step=step,
                              full_output=True)
    return _three_way("gradient", value, info.error_estimate, user, ad_grad,
                      method, tol, ad)


def check_jacobian(f, x, args=(), jacobian=None, mode="auto", *,
                   method="richardson", step=None, directions=None, seed=None,
                   safety=10.0, rtol=1e-10, atol=None, ad=None):
    """Compare a Jacobian with finite differences (and with AD).

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` returning an array (``m`` = its size).
    x : array_like, shape (n,)
        The point.
    jacobian : callable, optional
        Your Jacobian, ``jacobian(x, *args) -> (m, n)``.  Without it the AD
        Jacobian (``dualdiff.operators.jacobian``) is checked.
    args, mode, method, step, seed, safety, rtol, atol, ad
        As for :func:`check_gradient`.
    directions : int, optional
        Compare ``k`` random products ``J v`` (FD along ``v``) instead of all
        ``n`` columns.

    Returns
    -------
    CheckReport

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.check import check_jacobian
    >>> f = lambda x: np.array([x[0] * x[1], x[0] + x[1]])
    >>> jac = lambda x: np.array([[x[1], x[0]], [1.0, 1.0]])
    >>> check_jacobian(f, [2.0, 3.0], jacobian=jac, ad=False).passed
    True
    """
    args = as_args(args)
    x = as_vector(x)
    tol = tolerance_options(safety, rtol, atol)
    user = None if jacobian is None else _call_user(jacobian, x, args,
                                                    "jacobian")
    ad_jac = lambda: ad_operator("jacobian")(f, x, args=args, mode=mode)  # noqa: E731
    if directions is not None:
        m = np.size(f(x.copy(), *args))
        return _directional("jacobian", f, x, args, user, ad_jac,
                            (m, x.size), directions, seed, method, tol, ad)
    value, info = fd.jacobian(f, x, args, method=method, step=step,
                              full_output=True)
    return _three_way("jacobian", value, info.error_estimate, user, ad_jac,
                      method, tol, ad)


def check_hessian(f, x, args=(), hessian=None, *, method="richardson",
                  step=None, safety=10.0, rtol=1e-10, atol=None, ad=None):
    """Compare a Hessian with finite differences (and with AD).

    The reference is the finite-difference Hessian of ``f`` itself (not of a
    gradient), so it is independent of any gradient code.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` returning a scalar.
    x : array_like, shape (n,)
        The point.
    hessian : callable, optional
        Your Hessian, ``hessian(x, *args) -> (n, n)``.  Without it the AD
        Hessian (``dualdiff.operators.hessian``, else
        ``dualdiff.second.hessian``) is checked; if neither exists, an
        ADUnavailableError asks for ``hessian=``.
    args, method, step, safety, rtol, atol, ad
        As for :func:`check_gradient`.

    Returns
    -------
    CheckReport

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.check import check_hessian
    >>> f = lambda x: x[0] ** 2 * x[1]
    >>> hess = lambda x: np.array([[2 * x[1], 2 * x[0]], [2 * x[0], 0.0]])
    >>> check_hessian(f, [1.0, 2.0], hessian=hess, ad=False).passed
    True
    """
    args = as_args(args)
    x = as_vector(x)
    user = None if hessian is None else _call_user(hessian, x, args, "hessian")
    value, info = fd.hessian(f, x, args, method=method, step=step,
                             full_output=True)
    return _three_way(
        "hessian", value, info.error_estimate, user,
        lambda: ad_operator("hessian")(f, x, args=args), method,
        tolerance_options(safety, rtol, atol), ad)


# ---------------------------------------------------------------------------
# Random directions and the adjoint identity
# ---------------------------------------------------------------------------

def _directional(kind, f, x, args, user, ad_thunk, shape, k, seed, method,
                 tol, ad):
    """Check ``D v`` (D the (n,) gradient or (m, n) Jacobian) against the FD
    directional derivative for ``k`` random unit directions ``v``.  The
    rounding of the products ``D v`` (about ``n eps |D| |v|``) is far below
    the ``rtol`` floor for any practical ``n``, so it is not added."""
    dirs = _random_directions(k, x.size, seed)
    fd_vals, fd_errs = [], []
    for v in dirs:
        value, info = fd.jvp(f, x, v, args, method=method, full_output=True)
        fd_vals.append(np.ravel(value))
        fd_errs.append(np.ravel(info.error_estimate))
    fd_vals, fd_errs = np.array(fd_vals), np.array(fd_errs)
    if kind == "gradient":
        fd_vals, fd_errs = fd_vals[:, 0], fd_errs[:, 0]

    def project(deriv):
        mat = shaped(deriv, shape, kind).reshape(-1, x.size)
        return (dirs @ mat.T).reshape(fd_vals.shape)

    report = _three_way(
        f"{kind} (random directions)", fd_vals, fd_errs,
        None if user is None else project(user),
        lambda: project(ad_thunk()), method, tol, ad)
    report.directions = dirs
    report.notes.append(f"{len(dirs)} random unit directions (rows of "
                        f".directions); index = direction number")
    return report


def check_adjoint(f, x, args=(), *, jvp=None, vjp=None, directions=3,
                  seed=None, method="richardson", safety=10.0, rtol=1e-10,
                  atol=None):
    """Check the adjoint identity ``<u, J v> = <J^T u, v>`` for random u, v.

    This ties a Jacobian-vector product (forward mode) to a vector-Jacobian
    product (reverse mode) without forming ``J``.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` returning a scalar or an array (``m`` = its size).
    x : array_like, shape (n,)
        The point.
    args : tuple, optional
        Extra arguments.
    jvp : callable, optional
        ``jvp(x, v, *args) -> J v``.  Default: ``dualdiff.operators.jvp``, or
        the finite-difference ``J v`` if AD is unavailable.
    vjp : callable, optional
        ``vjp(x, u, *args) -> u^T J``.  Default: ``dualdiff.operators.vjp``.
    directions : int, optional
        Number of random pairs (u, v).
    seed : int, optional
        Seed of the random directions.
    method : str, optional
        Finite-difference method when ``J v`` comes from FD.
    safety, rtol, atol : float, optional
        Tolerance, as for :func:`check_gradient` (the FD error of ``J v``,
        if used, enters as ``|u| . err``).

    Returns
    -------
    CheckReport
        ``tested`` holds ``<J^T u, v>``, ``reference`` ``<u, J v>``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.check import check_adjoint
    >>> A = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    >>> r = check_adjoint(lambda x: A @ x, [1.0, 1.0],
    ...                   jvp=lambda x, v: A @ v, vjp=lambda x, u: u @ A)
    >>> r.passed
    True
    """
    args = as_args(args)
    x = as_vector(x)
    tol = tolerance_options(safety, rtol, atol)
    out_shape = np.shape(f(x.copy(), *args))
    m = int(np.prod(out_shape))
    rng = np.random.default_rng(seed)
    vs = _random_directions(directions, x.size, rng)
    us = _random_directions(directions, m, rng)
    notes = []

    if vjp is None:
        ad_vjp = ad_operator("vjp")
        vjp = lambda x_, u_, *a: ad_vjp(f, x_, u_, args=a)[1]  # noqa: E731
        notes.append("u^T J from dualdiff.operators.vjp")
    jv_err = np.zeros((len(vs), m))
    if jvp is None:
        try:
            ad_jvp = ad_operator("jvp")
            jvp = lambda x_, v_, *a: ad_jvp(f, x_, v_, args=a)[1]  # noqa: E731
            notes.append("J v from dualdiff.operators.jvp")
        except ADUnavailableError:
            notes.append(f"J v from finite differences ({method})")

    lhs, rhs, err, slack = [], [], [], []
    for j, (u, v) in enumerate(zip(us, vs)):
        if jvp is None:
            jv, info = fd.jvp(f, x, v, args, method=method, full_output=True)
            jv_err[j] = np.ravel(info.error_estimate)
        else:
            jv = _call_user(jvp, x, (v,) + args, "jvp")
        jv = shaped(jv, (m,), "jvp")
        ju = shaped(_call_user(vjp, x, (u.reshape(out_shape),) + args, "vjp"),
                     (x.size,), "vjp")
        lhs.append(u @ jv)
        rhs.append(ju @ v)
        err.append(np.abs(u) @ jv_err[j])
        slack.append(EPS * (m * np.abs(u) @ np.abs(jv) +
                            x.size * np.abs(ju) @ np.abs(v)))
    report = make_report("adjoint identity", np.array(rhs), np.array(lhs),
                      np.array(err), ("<J^T u, v>", "<u, J v>"), method,
                      extra=np.array(slack), **tol)
    report.verdict = ("jvp and vjp are consistent" if report.passed else
                      "jvp and vjp disagree: at least one of them is wrong")
    report.notes.extend(notes)
    report.notes.append(f"{len(vs)} random unit pairs (u, v)")
    report.directions = vs
    return report


# ---------------------------------------------------------------------------
# assert_* forms for test suites
# ---------------------------------------------------------------------------

def _assert(report):
    if not report.passed:
        raise AssertionError("\n" + str(report))
    return report


def assert_derivative(f, x, args=(), derivative=None, **options):
    """:func:`check_derivative`, raising AssertionError (with the table of
    worst entries) if the check fails; returns the report otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.check import assert_derivative
    >>> _ = assert_derivative(np.exp, 1.0, derivative=np.exp, ad=False)
    """
    return _assert(check_derivative(f, x, args, derivative, **options))


def assert_gradient(f, x, args=(), gradient=None, mode="auto", **options):
    """:func:`check_gradient`, raising AssertionError (with the table of
    worst entries) if the check fails; returns the report otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.check import assert_gradient
    >>> _ = assert_gradient(lambda x: x @ x, [1.0, 2.0],
    ...                     gradient=lambda x: 2 * x, ad=False)
    """
    return _assert(check_gradient(f, x, args, gradient, mode, **options))


def assert_jacobian(f, x, args=(), jacobian=None, mode="auto", **options):
    """:func:`check_jacobian`, raising AssertionError (with the table of
    worst entries) if the check fails; returns the report otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.check import assert_jacobian
    >>> _ = assert_jacobian(lambda x: 2 * x, [1.0, 2.0],
    ...                     jacobian=lambda x: 2 * np.eye(2), ad=False)
    """
    return _assert(check_jacobian(f, x, args, jacobian, mode, **options))


def assert_hessian(f, x, args=(), hessian=None, **options):
    """:func:`check_hessian`, raising AssertionError (with the table of
    worst entries) if the check fails; returns the report otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.check import assert_hessian
    >>> _ = assert_hessian(lambda x: x @ x, [1.0, 2.0],
    ...                    hessian=lambda x: 2 * np.eye(2), ad=False)
    """
    return _assert(check_hessian(f, x, args, hessian, **options))


def assert_adjoint(f, x, args=(), **options):
    """:func:`check_adjoint`, raising AssertionError if the identity fails;
    returns the report otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.check import assert_adjoint
    >>> A = np.arange(6.0).reshape(3, 2)
    >>> _ = assert_adjoint(lambda x: A @ x, [1.0, 1.0],
    ...                    jvp=lambda x, v: A @ v, vjp=lambda x, u: u @ A)
    """
    return _assert(check_adjoint(f, x, args, **options))
