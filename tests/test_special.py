"""Accuracy tests for dualdiff.rules.polygamma (digamma and polygamma 1..3).

Reference values come from mpmath at 40 significant digits.
"""

import math

import mpmath
import numpy as np
import pytest
from numba import njit

from dualdiff.rules import polygamma as _special
from dualdiff.rules.polygamma import digamma, pentagamma, tetragamma, trigamma

EPS = 2.0**-52
RTOL = 1e-14

FUNCS = {0: digamma, 1: trigamma, 2: tetragamma, 3: pentagamma}
NAMES = {0: "digamma", 1: "trigamma", 2: "tetragamma", 3: "pentagamma"}


# One njit wrapper per function, compiled once (lazily, on first call).
@njit(cache=False)
def _digamma_nb(xs):
    out = np.empty_like(xs)
    for i in range(xs.size):
        out[i] = digamma(xs[i])
    return out


@njit(cache=False)
def _trigamma_nb(xs):
    out = np.empty_like(xs)
    for i in range(xs.size):
        out[i] = trigamma(xs[i])
    return out


@njit(cache=False)
def _tetragamma_nb(xs):
    out = np.empty_like(xs)
    for i in range(xs.size):
        out[i] = tetragamma(xs[i])
    return out


@njit(cache=False)
def _pentagamma_nb(xs):
    out = np.empty_like(xs)
    for i in range(xs.size):
        out[i] = pentagamma(xs[i])
    return out


NB_FUNCS = {0: _digamma_nb, 1: _trigamma_nb, 2: _tetragamma_nb, 3: _pentagamma_nb}


def _py_eval(n, xs):
    f = FUNCS[n]
    return np.array([f(float(x)) for x in xs])


def _nb_eval(n, xs):
    return NB_FUNCS[n](np.asarray(xs, dtype=np.float64))


EVALUATORS = {"python": _py_eval, "njit": _nb_eval}


# --------------------------------------------------------------------------
# sample points
# --------------------------------------------------------------------------

_X0 = _special._X0_HI  # digamma's positive root (rounded)
_rng = np.random.default_rng(12345)

POS_POINTS = np.unique(
    np.concatenate(
        [
            np.logspace(-3, 3, 241),
            _rng.uniform(1.0, 2.0, 40),  # around the root and the Taylor edge
            [_X0 + s * 2.0**-k for k in range(2, 53, 5) for s in (1.0, -1.0)],
            [_X0, math.nextafter(_X0, 0.0), math.nextafter(_X0, 2.0)],
            [_X0 - 0.3, _X0 + 0.3, 1.0, 2.0, 9.999999999999998, 10.0, 10.5],
            [1e-10, 1e-6, 1e4, 1e6, 1e10, 1e15, 1e50, 1e100],
        ]
    )
)

_fracs = np.linspace(0.02, 0.98, 15)
NEG_POINTS = np.concatenate(
    [-(k + _fracs) for k in range(20)]
    + [
        -(np.arange(20) + 1e-6),
        -(np.arange(20) + 1.0 - 1e-6),
        -(np.arange(20) + 0.5),
        [-1e-10, -0.25, -0.75],
    ]
)
NEG_POINTS = NEG_POINTS[NEG_POINTS != np.round(NEG_POINTS)]


def _mp_ref(n, x):
    x = mpmath.mpf(float(x))
    return mpmath.digamma(x) if n == 0 else mpmath.polygamma(n, x)


@pytest.fixture(scope="module")
def refs():
    """mpmath references psi^(n)(x), n = 0..3, for all sample points."""
    out = {}
    with mpmath.workdps(40):
        for key, pts in (("pos", POS_POINTS), ("neg", NEG_POINTS)):
            out[key] = {n: [_mp_ref(n, x) for x in pts] for n in range(4)}
    return out


def _errors(values, ref):
    """Absolute errors (mpf -> float) and |ref| as float arrays."""
    err = np.array([float(abs(mpmath.mpf(float(v)) - r)) for v, r in zip(values, ref)])
    mag = np.array([float(abs(r)) for r in ref])
    return err, mag


# --------------------------------------------------------------------------
# accuracy against mpmath
# --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["python", "njit"])
@pytest.mark.parametrize("n", [0, 1, 2, 3], ids=lambda n: NAMES[n])
def test_positive_axis_relative(refs, n, mode):
    vals = EVALUATORS[mode](n, POS_POINTS)
    err, mag = _errors(vals, refs["pos"][n])
    rel = err / mag
    worst = int(np.argmax(rel))
    assert rel[worst] <= RTOL, (NAMES[n], POS_POINTS[worst], rel[worst])


@pytest.mark.parametrize("mode", ["python", "njit"])
def test_digamma_near_root(refs, mode):
    """Near x0 the condition |x psi'/psi| of digamma is unbounded, so the
    natural requirement is an absolute error of a few ulps times the
    condition.  The Taylor expansion about the root actually gives a small
    *relative* error too (checked in test_positive_axis_relative); here we
    check the weaker, condition-scaled bound explicitly."""
    near = np.abs(POS_POINTS - _X0) <= 0.35
    xs = POS_POINTS[near]
    assert xs.size > 20
    vals = EVALUATORS[mode](0, xs)
    ref0 = [r for r, m in zip(refs["pos"][0], near) if m]
    ref1 = [r for r, m in zip(refs["pos"][1], near) if m]
    err, _ = _errors(vals, ref0)
    cond = np.abs(xs) * np.array([float(r) for r in ref1]) + 1.0
    assert np.all(err <= 4e-16 * cond)
    assert digamma(_X0) != 0.0  # x0 rounded is not the exact root
    assert abs(digamma(_X0)) < 1e-16


@pytest.mark.parametrize("mode", ["python", "njit"])
@pytest.mark.parametrize("n", [1, 3], ids=lambda n: NAMES[n])
def test_negative_axis_relative(refs, n, mode):
    """trigamma and pentagamma have no real roots; the reflection formula
    involves no cancellation, so the relative error stays small."""
    vals = EVALUATORS[mode](n, NEG_POINTS)
    err, mag = _errors(vals, refs["neg"][n])
    rel = err / mag
    worst = int(np.argmax(rel))
    assert rel[worst] <= RTOL, (NAMES[n], NEG_POINTS[worst], rel[worst])


@pytest.mark.parametrize("mode", ["python", "njit"])
@pytest.mark.parametrize("n", [0, 2], ids=lambda n: NAMES[n])
def test_negative_axis_condition_scaled(refs, n, mode):
    """digamma and tetragamma have one root in every interval (-k-1, -k).
    Near such a root the reflection formula cancels two terms of size
    ~log|x| (resp. ~|x|^-2 + 2 pi^3 |cot|/sin^2), and the relative error
    grows without bound, exactly like the condition number
    |x f'(x) / f(x)|.  We require: relative error <= 1e-14, or absolute
    error <= 4e-16 * (|x f'(x)| + 1) (a few ulps times the condition)."""
    vals = EVALUATORS[mode](n, NEG_POINTS)
    err, mag = _errors(vals, refs["neg"][n])
    deriv = np.array([float(abs(r)) for r in refs["neg"][n + 1]])
    cond = np.abs(NEG_POINTS) * deriv + 1.0
    ok = (err <= RTOL * mag) | (err <= 4e-16 * cond)
    bad = np.flatnonzero(~ok)
    assert bad.size == 0, [(NEG_POINTS[i], err[i], mag[i]) for i in bad[:5]]
    # away from the roots the plain relative bound must hold
    assert np.mean(err <= RTOL * mag) > 0.9


def test_python_and_njit_agree():
    xs = np.concatenate([POS_POINTS, NEG_POINTS])
    for n in range(4):
        py = _py_eval(n, xs)
        nb = _nb_eval(n, xs)
        np.testing.assert_allclose(nb, py, rtol=4 * EPS, atol=0.0, err_msg=NAMES[n])


# --------------------------------------------------------------------------
# identities (use dyadic x so that x + 1 and 1 - x are exact)
# --------------------------------------------------------------------------

_DYADIC = np.concatenate(
    [np.arange(1, 641) / 64.0, -np.arange(1, 641) / 64.0, [17.5, 100.25, 999.125]]
)
_DYADIC = _DYADIC[_DYADIC != np.round(_DYADIC)]


@pytest.mark.parametrize("n", [0, 1, 2, 3], ids=lambda n: NAMES[n])
def test_recurrence(n):
    """psi^(n)(x + 1) = psi^(n)(x) + (-1)^n n! / x^(n+1)."""
    f = FUNCS[n]
    c = (-1.0) ** n * math.factorial(n)
    for x in _DYADIC:
        x = float(x)
        a, b, term = f(x + 1.0), f(x), c / x ** (n + 1)
        scale = abs(a) + abs(b) + abs(term)
        assert abs(a - (b + term)) <= 8 * EPS * scale, (NAMES[n], x, a, b + term)


def test_reflection():
    """psi(1-x) - psi(x) = pi cot(pi x) and its first three derivatives."""
    with mpmath.workdps(40):
        for x in _DYADIC[np.abs(_DYADIC) < 6.0]:
            x = float(x)
            px = mpmath.pi * x
            s, c = mpmath.sin(px), mpmath.cos(px)
            pi = mpmath.pi
            checks = [
                (digamma(1 - x), -digamma(x), pi * c / s),
                (trigamma(1 - x), trigamma(x), pi**2 / s**2),
                (tetragamma(1 - x), -tetragamma(x), 2 * pi**3 * c / s**3),
                (pentagamma(1 - x), pentagamma(x), 2 * pi**4 * (1 + 2 * c**2) / s**4),
            ]
            for n, (a, b, rhs) in enumerate(checks):
                rhs = float(rhs)
                scale = abs(a) + abs(b) + abs(rhs)
                assert abs((a + b) - rhs) <= 8 * EPS * scale, (NAMES[n], x)


# --------------------------------------------------------------------------
# special values
# --------------------------------------------------------------------------

_INF, _NAN = math.inf, math.nan
SPECIAL = [
    # x, digamma, trigamma, tetragamma, pentagamma   (scipy conventions,
    # except at -inf where scipy.special.polygamma returns +inf)
    (0.0, -_INF, _INF, -_INF, _INF),
    (-0.0, _INF, _INF, -_INF, _INF),
    (-1.0, _NAN, _INF, -_INF, _INF),
    (-7.0, _NAN, _INF, -_INF, _INF),
    (-1e20, _NAN, _INF, -_INF, _INF),
    (_INF, _INF, 0.0, -0.0, 0.0),
    (-_INF, _NAN, _NAN, _NAN, _NAN),
    (_NAN, _NAN, _NAN, _NAN, _NAN),
]


def _same(a, b):
    if math.isnan(b):
        return math.isnan(a)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


@pytest.mark.parametrize("mode", ["python", "njit"])
def test_special_values(mode):
    xs = np.array([row[0] for row in SPECIAL])
    for n in range(4):
        got = EVALUATORS[mode](n, xs)
        for row, g in zip(SPECIAL, got):
            assert _same(float(g), row[n + 1]), (NAMES[n], row[0], g, row[n + 1])


def test_tiny_arguments_signed():
    # psi(x) ~ -1/x for x -> 0 on both sides
    assert digamma(1e-300) == pytest.approx(-1e300, rel=1e-15)
    assert digamma(-1e-300) == pytest.approx(1e300, rel=1e-15)
    assert trigamma(-1e-300) == _INF  # 1e600 overflows
    assert tetragamma(1e-300) == -_INF and tetragamma(-1e-300) == _INF


# --------------------------------------------------------------------------
# hard-coded constants
# --------------------------------------------------------------------------


def test_constants():
    with mpmath.workdps(60):
        x0 = mpmath.findroot(mpmath.digamma, mpmath.mpf("1.4616321449683622"))
        assert _special._X0_HI == float(x0)
        assert _special._X0_LO == float(x0 - mpmath.mpf(_special._X0_HI))
        for k, c in enumerate(_special._ROOT_TAYLOR, start=1):
            ref = mpmath.polygamma(k, x0) / mpmath.factorial(k)
            assert c == float(ref), k
        for m, coeffs in enumerate(
            (_special._ASY0, _special._ASY1, _special._ASY2, _special._ASY3)
        ):
            for i, c in enumerate(coeffs):
                k2 = 2 * (i + 1)
                b = mpmath.bernoulli(k2)
                if m == 0:
                    ref = b / k2
                else:
                    ref = b * mpmath.factorial(k2 + m - 1) / mpmath.factorial(k2)
                assert c == float(ref), (m, k2)
