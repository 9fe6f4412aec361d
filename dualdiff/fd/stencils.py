"""Stencil algebra, the optimal-step rule and Richardson (Ridders)
extrapolation: exact rational weights for any offsets and derivative order,
their error constants, and Neville's tableau with propagated rounding bounds.
Pure NumPy and the standard library; the bottom of :mod:`dualdiff.fd`.
"""

from dataclasses import dataclass
from fractions import Fraction
from math import factorial

import numpy as np


EPS = float(np.finfo(np.float64).eps)

# Central accuracy order of each symmetric method.
_CENTRAL_ORDER = {"central": 2, "central4": 4, "central6": 6}

# Complex step: the imaginary step relative to the scale of x.  Its truncation
# error is O(h**2) relative, so any h far below sqrt(eps) is exact in float64.
COMPLEX_STEP = 1e-20

# Richardson (Ridders) parameters: first step relative to the scale of x,
# ratio between successive steps, the most rows of the tableau, and how many
# too-large leading steps (non-finite values) may be skipped.
RICH_FIRST_STEP = 0.1
RICH_RATIO = 2.0
_RICH_MAX_ROWS = 30
_RICH_MAX_SKIP = 20


# ---------------------------------------------------------------------------
# Stencils
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Stencil:
    """Weights ``w`` at integer offsets ``o`` so that
    ``sum_k w_k f(x + o_k h) / h**deriv`` approximates ``f^(deriv)(x)``."""

    offsets: tuple
    weights: tuple
    deriv: int       # m, the derivative order
    accuracy: int    # p, the error is C h**p f^(m+p)
    trunc: float     # C
    rounding: float  # R = sum |w_k|
    slope: tuple     # first-derivative weights on the same offsets
    exact: tuple = ()  # the weights as Fractions


def _solve_exact(a, b):
    """Solve a small linear system exactly in rationals (Gauss-Jordan)."""
    n = len(b)
    rows = [list(map(Fraction, a[i])) + [Fraction(b[i])] for i in range(n)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        rows[col] = [v / rows[col][col] for v in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                factor = rows[r][col]
                rows[r] = [v - factor * c for v, c in zip(rows[r], rows[col])]
    return [rows[i][n] for i in range(n)]


def _make_stencil(offsets, deriv):
    """The unique stencil on ``offsets`` that is exact for polynomials of
    degree < len(offsets)."""
    k = len(offsets)
    moments = [[Fraction(o) ** j for o in offsets] for j in range(k)]
    rhs = [factorial(deriv) if j == deriv else 0 for j in range(k)]
    return _describe(offsets, _solve_exact(moments, rhs), deriv)


def _describe(offsets, weights, deriv):
    """A _Stencil from exact weights: zero weights dropped, accuracy and
    error constants from the first non-vanishing moment."""
    kept = [(Fraction(o), Fraction(w)) for o, w in zip(offsets, weights) if w]
    offs = [o for o, _ in kept]
    j = deriv + 1
    while sum(w * o ** j for o, w in kept) == 0:
        j += 1
    trunc = abs(sum(w * o ** j for o, w in kept)) / factorial(j)
    # f' from the same values, for the rounding estimate
    slope = _solve_exact([[o ** i for o in offs] for i in range(len(offs))],
                         [int(i == 1) for i in range(len(offs))])
    return _Stencil(
        offsets=tuple(int(o) for o in offs),
        weights=tuple(float(w) for _, w in kept),
        deriv=deriv,
        accuracy=j - deriv,
        trunc=float(trunc),
        rounding=float(sum(abs(w) for _, w in kept)),
        slope=tuple(float(w) for w in slope),
        exact=tuple(w for _, w in kept),
    )


def stencil(method, deriv):
    """Stencil of a named method for the ``deriv``-th derivative."""
    if method == "forward":
        return _make_stencil(list(range(0, deriv + 1)), deriv)
    if method == "backward":
        return _make_stencil(list(range(-deriv, 1)), deriv)
    if deriv == 0:  # the identity: F(x) itself (complex step, 1st order)
        return _Stencil((0,), (1.0,), 0, 2, 0.0, 1.0, (0.0,))
    half = (deriv - 1) // 2 + _CENTRAL_ORDER.get(method, 2) // 2
    return _make_stencil(list(range(-half, half + 1)), deriv)


def square(st):
    """Tensor product of a first-derivative stencil with itself, collapsed
    onto one axis: the second-derivative stencil of the Hessian diagonal."""
    acc = {}
    for oi, wi in zip(st.offsets, st.exact):
        for oj, wj in zip(st.offsets, st.exact):
            acc[oi + oj] = acc.get(oi + oj, 0) + wi * wj
    offsets = sorted(acc)
    return _describe(offsets, [acc[o] for o in offsets], 2)


def step_factor(st, noise):
    """Optimal step relative to the scale: minimises C h**p + m R noise/h**m."""
    m, p = st.deriv, st.accuracy
    return (m * st.rounding * noise / (p * st.trunc)) ** (1.0 / (p + m))


# ---------------------------------------------------------------------------
# Richardson extrapolation (Ridders)
# ---------------------------------------------------------------------------

def ridders(estimate_at, ratio=RICH_RATIO, max_rows=_RICH_MAX_ROWS):
    """Extrapolate central estimates to step zero (Ridders' method).

    ``estimate_at(j)`` returns ``(D, r)``: the central estimate at step
    ``h0 / ratio**j`` (its error is even in h) and a bound ``r`` on its
    rounding error.  Neville's tableau is built one row per step; every entry
    carries its value and a rounding bound propagated through the same linear
    combination.  An entry's error estimate is the larger of its distances to
    the two entries it was built from, plus its rounding bound; the entry with
    the smallest estimate wins, element by element.  An element stops once the
    rounding bound of a new row exceeds its best estimate (smaller steps can
    only be worse).  Leading steps whose values are not all finite (a step
    that crossed a singularity) are skipped.  Returns (value, error estimate).
    """
    start = 0
    first, first_rnd = estimate_at(0)
    while not np.all(np.isfinite(first)) and start < _RICH_MAX_SKIP:
        start += 1
        first, first_rnd = estimate_at(start)
    prev, prev_rnd = [first], [first_rnd]
    best = first.copy()
    best_err = np.full(first.shape, np.inf)
    active = np.ones(first.shape, dtype=bool)
    for j in range(start + 1, start + max_rows):
        value, rnd = estimate_at(j)
        row, row_rnd = [value], [rnd]
        fac = ratio ** 2
        for k in range(1, len(prev) + 1):
            new = (fac * row[k - 1] - prev[k - 1]) / (fac - 1.0)
            new_rnd = (fac * row_rnd[k - 1] + prev_rnd[k - 1]) / (fac - 1.0)
            fac *= ratio ** 2
            err = np.maximum(np.abs(new - row[k - 1]),
                             np.abs(new - prev[k - 1])) + new_rnd
            better = active & (err <= best_err)
            best = np.where(better, new, best)
            best_err = np.where(better, err, best_err)
            row.append(new)
            row_rnd.append(new_rnd)
        active &= ~(rnd > best_err)
        prev, prev_rnd = row, row_rnd
        if not np.any(active):
            break
    return best, best_err + 2.0 * EPS * np.abs(best)
