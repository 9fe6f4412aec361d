"""The report and the tolerance rule of :mod:`dualdiff.check`:
:class:`CheckReport`, :func:`compare` (two arrays against each other, the
building block of every check), :func:`relative_differences`, and the
verdict naming who disagrees with whom.  Pure NumPy; the rule itself is
written out in the docstring of :mod:`dualdiff.check`.
"""

from dataclasses import dataclass, field

import numpy as np

_SHOW = 5  # rows of the table in str(report)


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------

@dataclass(repr=False)
class CheckReport:
    """Result of a derivative check.

    Attributes
    ----------
    kind : str
        What was checked ("gradient", "jacobian", ...).
    passed : bool
        True when every entry is within its tolerance, in every comparison
        made (see ``comparisons``).
    max_abs_error : float
        Largest ``|t_i - r_i|`` (inf if any value is not finite).
    max_rel_error : float
        Largest ``|t_i - r_i| / max(|t_i|, |r_i|)`` (0 where both are 0).
    worst_index : int or tuple
        Entry with the largest error relative to its tolerance.
    tolerance : numpy.ndarray
        Per-entry tolerance (see :mod:`dualdiff.check`).
    fd_error_estimate : numpy.ndarray
        The finite-difference error estimate the tolerance was built from.
    tested, reference : numpy.ndarray
        The arrays compared (e.g. AD and FD values).
    labels : tuple of str
        Names of ``tested`` and ``reference`` ("AD", "FD", "user", ...).
    method : str
        Finite-difference method.
    comparisons : dict of str to CheckReport
        Further comparisons ("user vs AD", "AD vs FD") when a user-supplied
        derivative was checked.
    verdict : str
        One sentence saying who disagrees with whom.
    notes : list of str
        Anything else worth knowing (AD unavailable, directions used...).
    directions : numpy.ndarray or None
        For random-direction checks, the directions (one per row).

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.check import check_gradient
    >>> r = check_gradient(lambda x: x @ x, [1.0, 2.0],
    ...                    gradient=lambda x: 2 * x, ad=False)
    >>> r.passed, r.labels
    (True, ('user', 'FD'))
    """

    kind: str
    passed: bool
    max_abs_error: float
    max_rel_error: float
    worst_index: object
    tolerance: np.ndarray
    fd_error_estimate: np.ndarray
    tested: np.ndarray
    reference: np.ndarray
    labels: tuple = ("AD", "FD")
    method: str = "richardson"
    comparisons: dict = field(default_factory=dict)
    verdict: str = ""
    notes: list = field(default_factory=list)
    directions: object = None

    def _severity(self):
        diff = _abs_diff(self.tested, self.reference)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(diff == 0, 0.0, diff / self.tolerance)
        return diff, np.nan_to_num(ratio, nan=np.inf)

    def table(self, rows=_SHOW):
        """The ``rows`` worst entries side by side, as a string.

        Examples
        --------
        >>> from dualdiff.check import check_derivative
        >>> r = check_derivative(lambda x: x ** 2, 3.0,
        ...                      derivative=lambda x: 2 * x, ad=False)
        >>> len(r.table().splitlines())  # header and the one entry
        2
        """
        diff, ratio = self._severity()
        rel = relative_differences(self.tested, self.reference)
        order = np.lexsort((-diff.ravel(), -ratio.ravel()))[:rows]
        t_name, r_name = self.labels
        head = (f"{'index':>10}  {t_name:>23}  {r_name:>23}  {'abs err':>9}  "
                f"{'rel err':>9}  {'tolerance':>9}")
        lines = [head]
        for flat in order:
            idx = _index(np.unravel_index(flat, self.tested.shape))
            t, r = self.tested.flat[flat], self.reference.flat[flat]
            d, tol = diff.flat[flat], self.tolerance.flat[flat]
            mark = "" if d <= tol else "  <-- FAIL"
            lines.append(f"{str(idx):>10}  {t:>23.16e}  {r:>23.16e}  {d:>9.2e}  "
                         f"{rel.flat[flat]:>9.2e}  {tol:>9.2e}{mark}")
        return "\n".join(lines)

    def summary(self):
        """One line: PASSED/FAILED, who against whom, the largest errors.

        Examples
        --------
        >>> from dualdiff.check import compare
        >>> compare([1.0, 2.0], [1.0, 2.5]).summary()[:23]
        'derivative check FAILED'
        """
        status = "PASSED" if self.passed else "FAILED"
        t_name, r_name = self.labels
        return (f"{self.kind} check {status}: {t_name} vs {r_name} "
                f"({self.method}), {self.tested.size} entries, max abs error "
                f"{self.max_abs_error:.3g}, max rel error "
                f"{self.max_rel_error:.3g}, worst index {self.worst_index}")

    def __str__(self):
        lines = [self.summary(), self.table()]
        for name, sub in self.comparisons.items():
            status = "PASSED" if sub.passed else "FAILED"
            lines.append(f"{name}: {status}, max abs error "
                         f"{sub.max_abs_error:.3g} at {sub.worst_index}")
        if self.verdict:
            lines.append(f"verdict: {self.verdict}")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)

    __repr__ = __str__


def _abs_diff(a, b):
    with np.errstate(invalid="ignore"):
        diff = np.abs(a - b)
    return np.where(np.isfinite(diff), diff, np.inf)


def relative_differences(tested, reference):
    """``|tested - reference|`` over ``max(|tested|, |reference|, floor)``
    entry by entry, where ``floor`` is sqrt(eps) times the largest finite
    ``|reference|``: an entry near zero (0 against 1e-13 where others are of
    order 1) is compared on the array's scale, which is all finite
    differences resolve there, instead of reporting a relative difference of 1.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.check import relative_differences
    >>> relative_differences(np.array([2.0, 0.0]), np.array([2.0, 1e-13])).tolist()
    [0.0, 3.3554432e-06]
    """
    tested = np.asarray(tested, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    largest = np.max(np.abs(reference), initial=0.0, where=np.isfinite(reference))
    floor = _SQRT_EPS * largest
    diff = np.abs(tested - reference)
    scale = np.maximum(np.maximum(np.abs(tested), np.abs(reference)), floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(diff == 0, 0.0, diff / scale)


_SQRT_EPS = float(np.sqrt(np.finfo(np.float64).eps))



def _index(idx):
    idx = tuple(int(i) for i in idx)
    return idx[0] if len(idx) == 1 else idx


def make_report(kind, tested, reference, fd_err, labels, method, safety, rtol,
             atol, extra=0.0):
    """Build a CheckReport from two arrays of the same shape; ``extra`` is
    added to the tolerance (rounding of dot products)."""
    scale = np.max(np.abs(reference), initial=0.0,
                   where=np.isfinite(reference))
    atol = 1e-12 * scale if atol is None else float(atol)
    tol = safety * fd_err + rtol * np.abs(reference) + atol + extra
    tol = np.where(np.isfinite(tol), tol, 0.0)
    report = CheckReport(
        kind=kind, passed=False, max_abs_error=0.0, max_rel_error=0.0,
        worst_index=None, tolerance=tol, fd_error_estimate=fd_err,
        tested=tested, reference=reference, labels=labels, method=method)
    diff, ratio = report._severity()
    report.passed = bool(np.all(diff <= tol))
    report.max_abs_error = float(np.max(diff))
    rel = relative_differences(tested, reference)
    report.max_rel_error = float(np.max(np.nan_to_num(rel, nan=np.inf)))
    worst = np.lexsort((-diff.ravel(), -ratio.ravel()))[0]
    report.worst_index = _index(np.unravel_index(worst, tested.shape))
    if not (np.all(np.isfinite(tested)) and np.all(np.isfinite(reference))):
        report.notes.append("some values are not finite")
    return report


def compare(tested, reference, error_estimate=0.0, *, kind="derivative",
            labels=("tested", "reference"), method="", safety=10.0,
            rtol=1e-10, atol=None):
    """Compare two derivative arrays with the tolerance rule of
    :mod:`dualdiff.check`.

    The building block of the check_* functions, for derivatives computed
    elsewhere.

    Parameters
    ----------
    tested, reference : array_like
        Arrays of the same shape (e.g. AD and FD values).
    error_estimate : float or array_like, optional
        Error estimate of ``reference`` (e.g. ``FDInfo.error_estimate``).
    kind, labels, method : str, optional
        Used in the report's text.
    safety, rtol, atol : float, optional
        Tolerance ``safety * error_estimate + rtol * |reference| + atol``
        (``atol`` defaults to ``1e-12 * max|reference|``).

    Returns
    -------
    CheckReport

    Examples
    --------
    >>> from dualdiff.check import compare
    >>> r = compare([1.0, 2.0], [1.0, 2.0 + 1e-9], error_estimate=1e-9)
    >>> r.passed, r.worst_index
    (True, 1)
    """
    tested = np.asarray(tested, dtype=np.float64)
    reference = np.asarray(reference, dtype=np.float64)
    if tested.shape != reference.shape:
        raise ValueError(f"shapes differ: {tested.shape} and {reference.shape}")
    err = np.broadcast_to(np.asarray(error_estimate, dtype=np.float64),
                          reference.shape)
    tol = tolerance_options(safety, rtol, atol)
    return make_report(kind, np.atleast_1d(tested), np.atleast_1d(reference),
                    np.atleast_1d(err), tuple(labels), method, **tol)


def three_way_verdict(kind, user_fd, user_ad, ad_fd):
    u = f"the user {kind}"
    if user_fd and user_ad:
        return f"{u} agrees with AD and with finite differences"
    if user_ad:
        return (f"{u} agrees with AD but not with finite differences: FD is "
                "probably inaccurate here (kink, noise or step); try another "
                "method or step")
    if user_fd:
        return (f"{u} agrees with finite differences but not with AD: a small "
                f"error in {u} (below the FD tolerance), or an AD problem")
    if ad_fd:
        return (f"{u} is wrong: AD and finite differences agree with each "
                "other but not with it")
    return (f"AD, FD and {u} all disagree: FD may be unreliable here (kink, "
            "noise) and at least one of the others is wrong")


def tolerance_options(safety, rtol, atol):
    if safety < 0 or rtol < 0 or (atol is not None and atol < 0):
        raise ValueError("safety, rtol and atol must be non-negative")
    return {"safety": float(safety), "rtol": float(rtol), "atol": atol}
