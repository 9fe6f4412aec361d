"""dd.HyperDual: every rule's second derivative against mpmath, the defining
identity, hand-written arithmetic, the chunked form against closed-form
Hessians and the compiled path, and the Numba boundary."""

import math

import mpmath as mp
import numpy as np
import pytest
from numba import njit

import dualdiff as dd
from dualdiff import rules
from dualdiff.numbers.hyperdual import HyperDual
from test_rules import ABS_FLOOR, MP_REFERENCE, PIECEWISE_CONSTANT, SMOOTH, sample_points

RTOL = 1e-13


def mp_derivative(name, x, order):
    with mp.workdps(40):
        f = MP_REFERENCE[name]
        return float(f(mp.mpf(x)) if order == 0 else mp.diff(f, mp.mpf(x), order))


def close(got, ref, rtol=RTOL, atol=1e-300):
    return abs(got - ref) <= rtol * abs(ref) + atol


# ---------------------------------------------------------------------------
# Every unary rule of the table
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("rule", SMOOTH, ids=lambda r: r.name)
def test_unary_rule_second_derivative_against_mpmath(rule):
    for x in sample_points(rule, count=7):
        second = rule.name != "tetragamma"  # the table has no d2 for it (see below)
        y = rule.generic(HyperDual(x, 1.0, 1.0 if second else 0.0, 0.0))
        assert isinstance(y, HyperDual)
        refs = [mp_derivative(rule.name, x, k) for k in range(3)]
        # digamma's root (lgamma's d1): absolute check there, as in test_rules
        floor = 2e-15 if rule.name in ("lgamma", "digamma") else 1e-300
        assert close(y.real, refs[0], atol=floor if rule.name == "digamma" else 1e-300), \
            (rule.name, x, y.real, refs[0])
        assert close(y.eps1, refs[1], atol=floor), (rule.name, x, y.eps1, refs[1])
        if second:
            assert y.eps2 == y.eps1
            assert close(y.eps12, refs[2], rtol=5 * RTOL,
                         atol=ABS_FLOOR.get((rule.name, 2), 1e-300)), \
                (rule.name, x, y.eps12, refs[2])


def test_tetragamma_second_derivative_is_refused_not_wrong():
    with pytest.raises(NotImplementedError, match="tetragamma"):
        rules.tetragamma(HyperDual(2.0, 1.0, 1.0, 0.0))
    # without an ε₁ε₂ term from the first parts, no second derivative is needed
    y = rules.tetragamma(HyperDual(2.0, 1.0, 0.0, 0.0))
    assert y.eps12 == 0.0 and close(y.eps1, mp_derivative("tetragamma", 2.0, 1))


@pytest.mark.parametrize("name", sorted(PIECEWISE_CONSTANT))
def test_piecewise_constant_rules_have_zero_parts(name):
    rule = rules.unary_rule(name)
    for x in [-2.5, -0.3, 0.7, 3.0]:
        y = rule.generic(HyperDual(x, 1.0, 1.0, 0.5))
        assert y.real == PIECEWISE_CONSTANT[name](x)
        assert (y.eps1, y.eps2, y.eps12) == (0.0, 0.0, 0.0)


IDENTITY_RULES = ["exp", "log", "sin", "tanh", "sqrt", "arctan", "erf", "lgamma", "sinc"]


@pytest.mark.parametrize("name", IDENTITY_RULES)
def test_identity_f_of_a_plus_b_eps1_plus_c_eps2_plus_d_eps12(name):
    # f(a + b ε₁ + c ε₂ + d ε₁ε₂) = f(a) + f'(a) b ε₁ + f'(a) c ε₂ + (f'(a) d + f''(a) b c) ε₁ε₂
    rule = rules.unary_rule(name)
    a = float(sample_points(rule, count=5)[2])
    b, c, d = 0.7, -1.3, 2.1
    y = rule.generic(HyperDual(a, b, c, d))
    f0, f1, f2 = (mp_derivative(name, a, k) for k in range(3))
    assert close(y.real, f0)
    assert close(y.eps1, f1 * b, rtol=1e-14 * 5)
    assert close(y.eps2, f1 * c, rtol=1e-14 * 5)
    assert close(y.eps12, f1 * d + f2 * b * c, rtol=1e-12)


# ---------------------------------------------------------------------------
# Hand-written arithmetic, binary rules and powers
# ---------------------------------------------------------------------------

def second_partials_mp(f, a, b):
    with mp.workdps(40):
        a, b = mp.mpf(a), mp.mpf(b)
        return [float(mp.diff(f, (a, b), order)) for order in
                [(0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2)]]


BINARY = {
    "arctan2": (rules.arctan2, mp.atan2),
    "hypot": (np.hypot, lambda a, b: mp.sqrt(a * a + b * b)),
    "logaddexp": (np.logaddexp, lambda a, b: mp.log(mp.exp(a) + mp.exp(b))),
    "pow": (lambda a, b: a ** b, mp.power),
    "div": (lambda a, b: a / b, lambda a, b: a / b),
    "mul": (lambda a, b: a * b * a, lambda a, b: a * b * a),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("a,b", [(0.7, 1.3), (2.5, -0.4), (1.9, 3.0)])
def test_binary_second_partials_against_mpmath(name, a, b):
    ours, ref = BINARY[name]
    # chunked form: lanes (a, b) on both sides, eps12 is the 2x2 Hessian
    ha = HyperDual(a, [1.0, 0.0], [1.0, 0.0])
    hb = HyperDual(b, [0.0, 1.0], [0.0, 1.0])
    y = ours(ha, hb)
    f, fa, fb, faa, fab, fbb = second_partials_mp(ref, a, b)
    assert close(y.real, f)
    np.testing.assert_allclose(y.eps1, [fa, fb], rtol=1e-13)
    np.testing.assert_allclose(y.eps2, [fa, fb], rtol=1e-13)
    hess = np.array([[faa, fab], [fab, fbb]])
    # mpmath's numerical differentiation leaves ~1e-54 where the exact entry is 0
    np.testing.assert_allclose(y.eps12, hess, rtol=1e-12, atol=1e-30 * np.abs(hess).max())


def test_mixed_constant_operands_and_reflected_operators():
    x = HyperDual(1.5, 1.0, 1.0, 0.0)
    cases = [  # (hyper-dual expression, f, f', f'')
        (3.0 - x, 1.5, -1.0, 0.0),
        (2.0 / x, 2.0 / 1.5, -2.0 / 1.5 ** 2, 4.0 / 1.5 ** 3),
        (2.0 ** x, 2.0 ** 1.5, 2.0 ** 1.5 * math.log(2.0), 2.0 ** 1.5 * math.log(2.0) ** 2),
        (x ** 2.5, 1.5 ** 2.5, 2.5 * 1.5 ** 1.5, 3.75 * 1.5 ** 0.5),
        (np.arctan2(2.0, x), math.atan2(2.0, 1.5), -2.0 / 6.25, 2 * 2.0 * 1.5 / 6.25 ** 2),
        (abs(-x), 1.5, 1.0, 0.0),
    ]
    for y, f, d1, d2 in cases:
        assert close(y.real, f) and close(y.eps1, d1) and close(y.eps12, d2, rtol=1e-14), y


def test_division_is_exact_not_a_reciprocal_product():
    x = HyperDual(1.0, 1.0, 1.0, 0.0)
    y = x / 3.0
    assert y.real == 1.0 / 3.0 and y.eps1 == 1.0 / 3.0 and y.eps12 == 0.0


def test_square_root_at_zero_keeps_zero_parts_zero():
    y = np.sqrt(HyperDual(0.0, 0.0, 0.0, 0.0))
    assert y.real == 0.0 and y.eps1 == 0.0 and y.eps12 == 0.0


# ---------------------------------------------------------------------------
# The chunked form: Hessian blocks
# ---------------------------------------------------------------------------

def mixed_np(x):
    """The mixed function of test_second written with NumPy ufuncs (they
    accept hyper-duals; math.* functions would refuse them)."""
    return (np.exp(x[0] * x[1]) * np.sin(x[2]) + np.log1p(x[1] ** 2 + x[3] ** 2)
            + np.arctan2(x[0], x[3]) * np.tanh(x[1] + x[2]))


def seed(x, rows, cols):
    """Hyper-duals for x with ε₁ lanes on the inputs ``rows``, ε₂ on ``cols``."""
    out = []
    for i, v in enumerate(x):
        e1 = [1.0 if i == r else 0.0 for r in rows]
        e2 = [1.0 if i == c else 0.0 for c in cols]
        out.append(HyperDual(float(v), e1, e2))
    return out


def test_chunked_blocks_give_the_compiled_hessian():
    x = np.array([0.3, -0.7, 1.1, 0.9])
    H = dd.hessian(mixed_np, x)
    full = mixed_np(seed(x, range(4), range(4)))
    np.testing.assert_allclose(full.eps12, H, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(full.eps1, dd.gradient(mixed_np, x), rtol=1e-14)
    # an off-diagonal block: rows {0, 1}, columns {2, 3}
    block = mixed_np(seed(x, [0, 1], [2, 3]))
    np.testing.assert_allclose(block.eps12, H[:2, 2:], rtol=1e-13, atol=1e-15)


def test_ufuncs_on_object_arrays_of_hyperduals():
    xs = np.array(seed(np.array([0.2, 0.5]), [0, 1], [0, 1]), dtype=object)
    s = np.sum(np.exp(xs) * xs)                 # d2/dxi2 (x e^x) = (x + 2) e^x
    np.testing.assert_allclose(s.eps12, np.diag([2.2 * math.exp(0.2), 2.5 * math.exp(0.5)]),
                               rtol=1e-15)


# ---------------------------------------------------------------------------
# Printing, conversions, errors
# ---------------------------------------------------------------------------

def test_repr_and_parts():
    x = HyperDual(2.0, 1.0, 0.5, 0.25)
    assert repr(x) == "HyperDual(2.0, 1.0, 0.5, 0.25)"
    c = HyperDual(1.0, [1.0, 0.0], [0.0, 1.0, 2.0])
    assert repr(c) == ("HyperDual(1.0, eps1=[1.0, 0.0], eps2=[0.0, 1.0, 2.0], "
                       "eps12=[[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])")
    assert c.eps12.shape == (2, 3)
    assert dd.primal(x) == 2.0 and x > 1.5 and int(x) == 2
    with pytest.raises(TypeError, match="drop"):
        float(x)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="eps12 must have shape"):
        HyperDual(1.0, [1.0, 0.0], [1.0], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="lanes"):
        HyperDual(1.0, [1.0, 0.0], [1.0, 0.0]) + HyperDual(1.0, [1.0], [1.0])
    with pytest.raises(TypeError, match="mix a HyperDual with a Dual"):
        HyperDual(1.0, 1.0, 1.0) * dd.Dual(2.0, 1.0)
    with pytest.raises(TypeError, match="mix a HyperDual with a Dual"):
        dd.Dual(2.0, 1.0) + HyperDual(1.0, 1.0, 1.0)
    with pytest.raises(TypeError, match="real numbers"):
        HyperDual("1.0", 1.0, 1.0)
    with pytest.raises(TypeError, match="nested dual"):
        HyperDual(dd.Dual(1.0, 1.0))


def test_binary_rule_with_a_plain_dual_first_is_refused():
    with pytest.raises(TypeError, match="mix a HyperDual with a Dual"):
        rules.arctan2(dd.Dual(1.0, 1.0), HyperDual(2.0, 1.0, 1.0))


def test_inputs_are_not_modified_and_parts_are_copies():
    e1 = np.array([1.0, 0.0])
    x = HyperDual(1.0, e1, [0.0, 1.0])
    x.eps1[0] = 5.0
    e1[1] = 7.0
    assert list(x.eps1) == [1.0, 0.0]


# ---------------------------------------------------------------------------
# The Numba boundary: a HyperDual goes in as Dual[Dual[float64, N1], N2]
# ---------------------------------------------------------------------------

@njit
def numba_identity_and_example(h):
    u = h * h + math.exp(h * h)
    return h, math.sqrt(u) + math.cos(u)


def example_np(h):
    u = h * h + np.exp(h * h)
    return np.sqrt(u) + np.cos(u)


def test_njit_function_receives_and_returns_hyperduals():
    x = HyperDual(0.7, 1.0, 1.0, 0.0)
    same, y = numba_identity_and_example(x)
    back = HyperDual(same)
    assert (back.real, back.eps1, back.eps2, back.eps12) == (0.7, 1.0, 1.0, 0.0)
    got = HyperDual(y)
    ref = example_np(x)
    assert got.real == pytest.approx(ref.real, rel=1e-15)
    assert got.eps1 == pytest.approx(ref.eps1, rel=1e-14)
    assert got.eps12 == pytest.approx(ref.eps12, rel=1e-13)
