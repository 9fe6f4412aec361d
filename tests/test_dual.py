"""Dual numbers on both sides: arithmetic, edge cases, conventions, boxing.

Each property is checked on the Python-side Dual and on the Numba Dual (one
compiled function per property, shared by its cases).
"""

import math

import numpy as np
import pytest

import dualdiff as dd
from dualdiff._compiled.dual import make_dual
from dualdiff._compiled.compat import numba

D = dd.Dual


def parts(d):
    return [float(p) for p in d.partials]


# ---------------------------------------------------------------------------
# The Python-side Dual at the prompt
# ---------------------------------------------------------------------------

def test_prompt_examples():
    assert repr(D(2.0, 1.0) ** 3) == "Dual(8.0, 12.0)"
    y = np.sin(D(0.0, 1.0, 2.0))
    assert y.value == 0.0 and parts(y) == [1.0, 2.0]
    assert D(2.0, [1.0, 0.0]).partials.tolist() == [1.0, 0.0]


def test_arithmetic_closed_forms():
    x, y = D(3.0, 1.0, 0.0), D(2.0, 0.0, 1.0)
    assert parts(x * y) == [2.0, 3.0]
    assert parts(x / y) == [0.5, -0.75]
    assert parts(x - y) == [1.0, -1.0]
    assert parts(1.0 / y) == [0.0, -0.25]
    assert parts(-x) == [-1.0, 0.0]
    assert (2 - x).value == -1.0 and parts(2 - x) == [-1.0, 0.0]


def test_division_divides_rather_than_multiplying_by_a_reciprocal():
    # 1/3 is not exact: x / 3 must give the partial 1.0 / 3, not 1.0 * (1 / 3)
    # (they happen to agree for 3; 49 is a case where they differ)
    y = D(1.0, 1.0) / 49.0
    assert y.partials[0] == 1.0 / 49.0


def test_float_refuses_and_int_truncates():
    with pytest.raises(TypeError, match="drop its derivatives"):
        float(D(2.5, 1.0))
    assert int(D(2.7, 1.0)) == 2 and int(D(-2.7, 1.0)) == -2
    assert math.floor(D(2.7, 1.0)) == 2 and math.ceil(D(2.2, 1.0)) == 3
    assert dd.primal(D(D(1.5, 1.0, tag=1), 0.0, tag=2)) == 1.5


def test_comparisons_look_at_the_primal_only():
    a, b = D(1.0, 5.0), D(1.0, -5.0)
    assert a == b and not a < b and a <= b and a >= 1.0 and 0.5 < a


def test_mixing_partial_counts_is_an_error():
    with pytest.raises(ValueError, match="partials"):
        D(1.0, 1.0) + D(1.0, 1.0, 0.0)


def test_bad_construction():
    with pytest.raises(TypeError):
        D("a", 1.0)
    with pytest.raises(TypeError):
        D(1.0, "b")


# ---------------------------------------------------------------------------
# Numba and Python agree on every edge case
# ---------------------------------------------------------------------------

@numba.njit
def _numba_pow_cases(v, p):
    x = make_dual(v, (1.0, 0.0), 0)
    e = make_dual(p, (0.0, 1.0), 0)
    a = x ** p           # dual base, float exponent
    b = v ** e           # float base, dual exponent
    c = x ** e           # both dual
    out = np.empty((3, 3))
    out[0, 0], out[0, 1], out[0, 2] = a.value, a.partials[0], a.partials[1]
    out[1, 0], out[1, 1], out[1, 2] = b.value, b.partials[0], b.partials[1]
    out[2, 0], out[2, 1], out[2, 2] = c.value, c.partials[0], c.partials[1]
    return out


def _python_pow_cases(v, p):
    x, e = D(v, 1.0, 0.0), D(p, 0.0, 1.0)
    rows = [x ** p, v ** e, x ** e]
    return np.array([[r.value, *parts(r)] for r in rows])


def _expected_pow(v, p):
    z = v ** p if not (v == 0 and p < 0) else math.inf
    dv = 0.0 if p == 0 else p * (v ** (p - 1) if not (v == 0 and p < 1) else math.inf)
    if v == 0 and p == 1:
        dv = 1.0
    if v == 0:
        dp = 0.0 if p > 0 else -math.inf  # the limit from v**p log v
    else:
        dp = z * math.log(v)
    return z, dv, dp


@pytest.mark.parametrize("v,p", [(2.0, 3.0), (2.0, 0.5), (0.5, -2.0), (0.0, 2.0), (0.0, 1.0),
                                 (0.0, 0.0), (0.0, 0.5), (3.0, 0.0)])
def test_power_edge_cases(v, p):
    z, dv, dp = _expected_pow(v, p)
    for got in (_numba_pow_cases(v, p), _python_pow_cases(v, p)):
        # row 0: x**p (p constant: only the x partial), row 1: v**e, row 2: x**e
        assert got[0, 0] == pytest.approx(z) and got[0, 1] == pytest.approx(dv)
        assert got[0, 2] == 0.0
        assert got[1, 1] == 0.0 and got[1, 2] == pytest.approx(dp)
        assert got[2, 1] == pytest.approx(dv) and got[2, 2] == pytest.approx(dp)


@numba.njit
def _numba_integer_power(v):
    y = make_dual(v, (1.0,), 0) ** 3
    return y.value, y.partials[0]


def test_integer_exponent_and_negative_base():
    assert _numba_integer_power(-2.0) == (-8.0, 12.0)
    y = D(-2.0, 1.0) ** 3
    assert (y.value, y.partials[0]) == (-8.0, 12.0)


@numba.njit
def _numba_kinks(v):
    x = make_dual(v, (1.0,), 0)
    outs = (abs(x), max(x, 0.0), min(x, 0.0), max(x, x * 2.0), np.maximum(x, 0.0),
            np.clip(x, 0.0, 1.0), np.sqrt(x * 0.0 + v))
    out = np.empty((len(outs), 2))
    i = 0
    for y in outs:
        out[i, 0] = y.value
        out[i, 1] = y.partials[0]
        i += 1
    return out


def _python_kinks(v):
    x = D(v, 1.0)
    outs = (abs(x), max(x, 0.0), min(x, 0.0), max(x, x * 2.0), np.maximum(x, 0.0),
            np.clip(x, 0.0, 1.0), np.sqrt(x * 0.0 + v))
    # on the Python side max(x, 0.0) may return the float 0.0 itself
    return np.array([[y.value, parts(y)[0]] if isinstance(y, D) else [y, 0.0] for y in outs])


def test_ties_go_to_the_first_argument_at_zero():
    # abs'(0) = +1; max(x, 0) at 0 picks x; min(x, 0) at 0 picks x; max(x, 2x)
    # at 0 picks x; clip at the lower bound picks x; sqrt(0) with a zero
    # partial stays 0 (NaN-safe), not 0 * inf = nan
    expected = np.array([[0, 1], [0, 1], [0, 1], [0, 1], [0, 1], [0, 1], [0, 0]], float)
    np.testing.assert_array_equal(_numba_kinks(0.0), expected)
    np.testing.assert_array_equal(_python_kinks(0.0), expected)


def test_kinks_away_from_ties():
    expected = np.array([[2, -1], [0, 0], [-2, 1], [-2, 1], [0, 0], [0, 0],
                         [math.sqrt(-2.0) if False else np.nan, 0]], float)
    got = _numba_kinks(-2.0)
    np.testing.assert_array_equal(got[:6], expected[:6])
    assert np.isnan(got[6, 0])
    np.testing.assert_array_equal(_python_kinks(-2.0)[:6], expected[:6])


def test_sqrt_of_zero_with_a_nonzero_partial_is_infinite():
    y = np.sqrt(D(0.0, 1.0, 0.0))
    assert y.partials[0] == math.inf and y.partials[1] == 0.0


@numba.njit
def _numba_conversions(v):
    x = make_dual(v, (1.0,), 0)
    return int(x), math.floor(x), x > 0.5, x == v, math.isnan(x)


def test_numba_conversions_and_comparisons():
    assert _numba_conversions(2.7) == (2, 2, True, True, False)


@numba.njit
def _numba_float_of_dual(v):
    return float(make_dual(v, (1.0,), 0))


def test_numba_float_of_dual_raises():
    with pytest.raises(TypeError, match="drop its derivatives"):
        _numba_float_of_dual(1.0)


# ---------------------------------------------------------------------------
# Unification: unmodified accumulation loops type
# ---------------------------------------------------------------------------

@numba.njit
def _accumulate(x, y, n):
    s = 0.0
    k = 0
    for i in range(n):
        s += x * y
        k += 1
    t = 1
    t *= x
    return s, t


def test_float_and_int_accumulators_unify_with_duals():
    s, t = _accumulate(D(2.0, 1.0, 0.0), D(3.0, 0.0, 1.0), 4)
    assert isinstance(s, D) and s.value == 24.0 and parts(s) == [12.0, 8.0]
    assert t.value == 2.0 and parts(t) == [1.0, 0.0]


# ---------------------------------------------------------------------------
# Boxing: Python duals in and out of compiled code, nested ones too
# ---------------------------------------------------------------------------

@numba.njit
def _identity_times_two(x):
    return x * 2.0


def test_boxing_round_trip():
    y = _identity_times_two(D(1.5, 1.0, -2.0))
    assert isinstance(y, D) and y.value == 3.0 and parts(y) == [2.0, -4.0]


def test_nested_boxing_round_trip():
    inner = D(1.5, 1.0, tag=1)
    x = D(inner, D(1.0, 0.0, tag=1), tag=2)
    y = _identity_times_two(x)
    assert y.tag == 2 and y.value.value == 3.0 and y.partials[0].value == 2.0


@numba.njit
def _second_derivative_of_cube(v):
    x = make_dual(make_dual(v, (1.0,), 0), (make_dual(1.0, (0.0,), 0),), 0)
    y = x * x * x
    return y.value.value, y.value.partials[0], y.partials[0].partials[0]


def test_nesting_gives_second_derivatives_in_numba():
    assert _second_derivative_of_cube(2.0) == (8.0, 12.0, 12.0)
