"""Digamma and the first three polygamma functions for float64.

Numba provides ``math.lgamma`` but nothing for its derivatives.  Exact
derivatives of ``lgamma`` on (possibly nested) dual numbers need

    d/dx   lgamma(x) = digamma(x)     = psi(x)
    d2/dx2 lgamma(x) = trigamma(x)    = psi'(x)   = polygamma(1, x)
    d3/dx3 lgamma(x) = tetragamma(x)  = psi''(x)  = polygamma(2, x)
    d4/dx4 lgamma(x) = pentagamma(x)  = psi'''(x) = polygamma(3, x)

All four are decorated with ``numba.extending.register_jitable``, so they
work both as ordinary Python functions on floats and inside ``@njit`` code.
They use only ``math`` functions and float arithmetic.

Method
------
* ``x >= _ASYMPTOTIC_MIN`` (10): the asymptotic (Stirling-type) series in
  ``t = 1/x``, with Bernoulli numbers B_2 ... B_24.  With x >= 10 the first
  omitted term is below 1e-17 relative for all four functions (the worst
  case is pentagamma, whose coefficients grow fastest).  The series is
  evaluated as a Horner scheme in ``w = t*t``, so the smallest terms are
  added first.
* ``0 < x < 10``: upward recurrence
      psi^(m)(x) = psi^(m)(x + n) - (-1)^m m! * sum_{k<n} 1/(x + k)^(m+1)
  with ``n`` chosen so that ``x + n >= 10``.  The terms are added from the
  smallest (largest k) to the largest.  For m = 1, 2, 3 every term has the
  same sign as the result, so no cancellation occurs.
* Digamma near its positive root x0 = 1.46163214496836234126...: the
  recurrence subtracts two numbers of size ~2.5 to produce a result close
  to 0, so its absolute error (a few ulps of 2.5) becomes a large relative
  error.  For |x - x0| <= 0.3 we instead use the Taylor series about the
  root, psi(x) = sum_{k>=1} psi^(k)(x0)/k! * (x - x0)^k (26 terms; the
  coefficients were computed with mpmath at 60 digits, see
  ``tests/test_special.py`` which recomputes and checks them).  x0 is stored
  as hi + lo, and ``x - hi`` is exact (Sterbenz), so ``dx`` carries a
  relative error of at most one rounding and the result keeps a relative
  accuracy of a few ulps even as x -> x0.  Note that the *condition* of
  psi near its root is |x psi'(x) / psi(x)| -> inf, i.e. a relative
  perturbation of the input by one ulp changes the output by an unbounded
  relative amount; but since x itself is exact, we can still deliver the
  value at x accurately.
* ``x < 0``: the reflection formula psi(1 - x) - psi(x) = pi cot(pi x) and
  its derivatives:
      psi(x)    = psi(1-x)    - pi cot(pi x)
      psi'(x)   = pi^2 / sin^2(pi x)                 - psi'(1-x)
      psi''(x)  = psi''(1-x)  - 2 pi^3 cos(pi x) / sin^3(pi x)
      psi'''(x) = 2 pi^4 (1 + 2 cos^2(pi x)) / sin^4(pi x) - psi'''(1-x)
  The trigonometric parts are evaluated on the exactly reduced argument
  r = x - round(x) in [-1/2, 1/2] (all four expressions are invariant
  under x -> x + 1), with sin(pi r)/cos(pi r) switched to the complementary
  argument 1/2 - |r| (also exact) when |r| > 1/4, so that cos(pi r) stays
  accurate near r = +-1/2 where it vanishes.
  Digamma and tetragamma have a root in every interval (-k-1, -k), and
  there the result is a cancellation between the two reflection terms: the
  error is a few ulps of the size of those terms, not of the result.
  Trigamma and pentagamma have no real roots and no cancellation (the trig
  term always dominates), so they are accurate to a few ulps relatively on
  the whole negative axis.

Special values
--------------
Poles follow ``scipy.special.digamma`` / ``scipy.special.polygamma``:

* digamma(+0.0) = -inf, digamma(-0.0) = +inf, digamma(-k) = nan for
  integers k >= 1 (simple pole: the sign depends on the side of approach,
  so there is no meaningful value at a negative integer);
* trigamma = +inf at every non-positive integer (even-order pole);
* tetragamma = -inf at every non-positive integer (including -0.0; this is
  what scipy returns -- the limit from the right);
* pentagamma = +inf at every non-positive integer (even-order pole).

Moreover: f(nan) = nan; digamma(+inf) = +inf, trigamma(+inf) = 0.0,
tetragamma(+inf) = -0.0, pentagamma(+inf) = 0.0; f(-inf) = nan for all four
(no limit exists; scipy.special.polygamma returns +inf there, digamma nan).
"""

import math
from fractions import Fraction

from numba.extending import register_jitable

__all__ = ["digamma", "trigamma", "tetragamma", "pentagamma"]

_PI = math.pi
_ASYMPTOTIC_MIN = 10.0

# Bernoulli numbers B_2, B_4, ..., B_24 (exact).
_BERNOULLI_EVEN = (
    Fraction(1, 6),
    Fraction(-1, 30),
    Fraction(1, 42),
    Fraction(-1, 30),
    Fraction(5, 66),
    Fraction(-691, 2730),
    Fraction(7, 6),
    Fraction(-3617, 510),
    Fraction(43867, 798),
    Fraction(-174611, 330),
    Fraction(854513, 138),
    Fraction(-236364091, 2730),
)


def _asymptotic_coefficients(m):
    """Coefficients a_k (k = 1..12) of the series part of psi^(m).

    m = 0:  a_k = B_2k / (2k)
    m >= 1: a_k = B_2k * (2k + m - 1)! / (2k)!
    Returned as floats (correctly rounded from exact fractions).
    """
    out = []
    for i, b in enumerate(_BERNOULLI_EVEN):
        k2 = 2 * (i + 1)
        if m == 0:
            c = b / k2
        else:
            c = b * Fraction(math.factorial(k2 + m - 1), math.factorial(k2))
        out.append(float(c))
    return tuple(out)


_ASY0 = _asymptotic_coefficients(0)
_ASY1 = _asymptotic_coefficients(1)
_ASY2 = _asymptotic_coefficients(2)
_ASY3 = _asymptotic_coefficients(3)

# Root of digamma: x0 = _X0_HI + _X0_LO (to ~1e-32).
_X0_HI = 1.4616321449683622
_X0_LO = 9.549995429965697e-17
_ROOT_RADIUS = 0.3

# psi^(k)(x0) / k!  for k = 1 .. 26 (mpmath, 60 digits).  At |x - x0| = 0.3
# the k = 27 term is below 1e-18 relative to the k = 1 term.
_ROOT_TAYLOR = (
    0.9676722454476212,
    -0.4427631689835921,
    0.258499760955651,
    -0.16394270544240652,
    0.10782405069126237,
    -0.07219956125645471,
    0.04880428816414311,
    -0.03316112647484736,
    0.022597648232218104,
    -0.01542476590494896,
    0.010538791616612175,
    -0.007204534386356869,
    0.004926781395729853,
    -0.003369801655439328,
    0.002305126326734928,
    -0.0015769367714301972,
    0.0010788252019162967,
    -0.0007380709389960052,
    0.000504953265834602,
    -0.0003454680251063077,
    0.00023635601564027053,
    -0.00016170622091974803,
    0.0001106337276874741,
    -7.569179582195066e-05,
    5.178575795222081e-05,
    -3.5430070947659604e-05,
)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


@register_jitable
def _horner(coeffs, w):
    """sum_i coeffs[i] * w**i, highest power first (smallest terms first)."""
    n = len(coeffs)
    p = 0.0
    for i in range(n - 1, -1, -1):
        p = p * w + coeffs[i]
    return p


@register_jitable
def _shift_count(x):
    """Number n of unit steps such that x + n >= _ASYMPTOTIC_MIN (x > 0)."""
    if x >= _ASYMPTOTIC_MIN:
        return 0
    return int(_ASYMPTOTIC_MIN - x) + 1


@register_jitable
def _sincospi_reduced(x):
    """(sin(pi r), cos(pi r), r) with r = x - round(x) in [-1/2, 1/2].

    r is computed exactly.  Only quantities invariant under x -> x + 1 may be
    built from the result (cot, sin^2, cos/sin^3, cos^2 ...).
    """
    # Reduce |x|, not x: for y >= 0, y - floor(y) is exact (the fractional
    # bits of y are representable), whereas for x in (-1, 0) x - floor(x) =
    # x + 1 would round (e.g. -1e-300 + 1 == 1.0).
    # Every float >= 2**52 is an integer.  The guard also matters because
    # under Numba math.floor returns an int64, which would overflow.
    y = abs(x)
    if y >= 4503599627370496.0:
        r = 0.0
    else:
        r = y - float(math.floor(y))  # exact, in [0, 1)
    if r > 0.5:
        r = r - 1.0  # exact (Sterbenz), now in (-1/2, 1/2]
    if x < 0.0:
        r = -r
    a = abs(r)
    if a <= 0.25:
        s = math.sin(_PI * a)
        c = math.cos(_PI * a)
    else:
        b = 0.5 - a  # exact
        s = math.cos(_PI * b)
        c = math.sin(_PI * b)
    if r < 0.0:
        s = -s
    return s, c, r


# ---------------------------------------------------------------------------
# x > 0 kernels (x finite, strictly positive)
# ---------------------------------------------------------------------------


@register_jitable
def _digamma_pos(x):
    if abs(x - _X0_HI) <= _ROOT_RADIUS:
        dx = (x - _X0_HI) - _X0_LO  # x - _X0_HI is exact
        return dx * _horner(_ROOT_TAYLOR, dx)
    n = _shift_count(x)
    z = x + n
    t = 1.0 / z
    acc = -(t * (0.5 + t * _horner(_ASY0, t * t)))
    # recurrence terms, smallest first; the largest one, 1/x, comes last
    for k in range(n - 1, 0, -1):
        acc -= 1.0 / (x + k)
    acc += math.log(z)
    if n > 0:
        acc -= 1.0 / x
    return acc


@register_jitable
def _trigamma_pos(x):
    n = _shift_count(x)
    z = x + n
    t = 1.0 / z
    acc = t * (1.0 + t * (0.5 + t * _horner(_ASY1, t * t)))
    for k in range(n - 1, -1, -1):
        u = 1.0 / (x + k)
        acc += u * u
    return acc


@register_jitable
def _tetragamma_pos(x):
    n = _shift_count(x)
    z = x + n
    t = 1.0 / z
    acc = -(t * t) * (1.0 + t * (1.0 + t * _horner(_ASY2, t * t)))
    for k in range(n - 1, -1, -1):
        u = 1.0 / (x + k)
        acc -= 2.0 * (u * u * u)
    return acc


@register_jitable
def _pentagamma_pos(x):
    n = _shift_count(x)
    z = x + n
    t = 1.0 / z
    acc = (t * t * t) * (2.0 + t * (3.0 + t * _horner(_ASY3, t * t)))
    for k in range(n - 1, -1, -1):
        u = 1.0 / (x + k)
        u2 = u * u
        acc += 6.0 * (u2 * u2)
    return acc


# ---------------------------------------------------------------------------
# public functions
# ---------------------------------------------------------------------------


@register_jitable
def digamma(x):
    """psi(x) = d/dx lgamma(x) for float x (see module docstring)."""
    if x > 0.0:
        if math.isinf(x):
            return x
        return _digamma_pos(x)
    if x == 0.0:
        # +0.0 -> -inf, -0.0 -> +inf (as scipy.special.digamma)
        return -math.copysign(math.inf, x)
    if math.isnan(x) or math.isinf(x):
        return math.nan
    s, c, r = _sincospi_reduced(x)
    if r == 0.0:
        return math.nan  # negative integer: simple pole
    # psi(x) = psi(1 - x) - pi cot(pi x)
    return _digamma_pos(1.0 - x) - _PI * (c / s)


@register_jitable
def trigamma(x):
    """psi'(x) = polygamma(1, x) for float x (see module docstring)."""
    if x > 0.0:
        if math.isinf(x):
            return 0.0
        return _trigamma_pos(x)
    if x == 0.0:
        return math.inf
    if math.isnan(x) or math.isinf(x):
        return math.nan
    s, c, r = _sincospi_reduced(x)
    if r == 0.0:
        return math.inf
    # psi'(x) = pi^2 / sin^2(pi x) - psi'(1 - x)
    q = _PI / s
    return q * q - _trigamma_pos(1.0 - x)


@register_jitable
def tetragamma(x):
    """psi''(x) = polygamma(2, x) for float x (see module docstring)."""
    if x > 0.0:
        if math.isinf(x):
            return -0.0
        return _tetragamma_pos(x)
    if x == 0.0:
        return -math.inf
    if math.isnan(x) or math.isinf(x):
        return math.nan
    s, c, r = _sincospi_reduced(x)
    if r == 0.0:
        return -math.inf
    # psi''(x) = psi''(1 - x) - 2 pi^3 cos(pi x) / sin^3(pi x)
    q = _PI / s
    return _tetragamma_pos(1.0 - x) - 2.0 * (q * q * q) * c


@register_jitable
def pentagamma(x):
    """psi'''(x) = polygamma(3, x) for float x (see module docstring)."""
    if x > 0.0:
        if math.isinf(x):
            return 0.0
        return _pentagamma_pos(x)
    if x == 0.0:
        return math.inf
    if math.isnan(x) or math.isinf(x):
        return math.nan
    s, c, r = _sincospi_reduced(x)
    if r == 0.0:
        return math.inf
    # psi'''(x) = 2 pi^4 (1 + 2 cos^2(pi x)) / sin^4(pi x) - psi'''(1 - x)
    q = _PI / s
    q2 = q * q
    return 2.0 * (q2 * q2) * (1.0 + 2.0 * (c * c)) - _pentagamma_pos(1.0 - x)
