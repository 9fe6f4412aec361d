"""Hessians from the second-order tape (forward over reverse, mode="reverse").

The tape's second partials are written by hand (arithmetic, powers) or come
from the rule table's ``d2`` (unary rules) and binary rules' ``d2``.  The
compiled forward-over-forward Hessian (nested dual numbers) never uses those:
it differentiates the first derivatives by nesting.  So comparing the two
modes checks every second partial independently.  Functions are module-level
and take a weight vector, so one compile serves every rule.
"""

import math
import warnings

import numpy as np
import pytest

import dualdiff as dd
from dualdiff import rules
from functions import assert_fast_path_guards, rosenbrock

RNG = np.random.default_rng(20261121)


def assert_close(got, expected, rtol=1e-12):
    scale = max(np.max(np.abs(expected)), 1e-300)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol * scale)


# ---------------------------------------------------------------------------
# Every unary rule with a second derivative, in one function: w selects rules
# ---------------------------------------------------------------------------

UNARY_WITH_D2 = [r for r in rules.UNARY if r.d2 is not None]


def _build_all_unary():
    lines = ["def all_unary(x, w):",
             "    u = x[0] * x[1] + 0.5 * x[0] - 0.25 * x[1] * x[1]",
             "    s = 0.0"]
    namespace = {}
    for k, rule in enumerate(UNARY_WITH_D2):
        lo, hi = rule.domain
        mid, scale = 0.5 * (lo + hi), 0.05 * (hi - lo)
        namespace[f"f{k}"] = rule.generic
        lines.append(f"    s += w[{k}] * f{k}({mid!r} + {scale!r} * u)")
    lines.append("    return s")
    exec("\n".join(lines) + "\n", namespace)
    return namespace["all_unary"]


all_unary = _build_all_unary()
X_UNARY = np.array([0.4, -0.7])


@pytest.mark.parametrize("k", range(len(UNARY_WITH_D2)),
                         ids=[r.name for r in UNARY_WITH_D2])
def test_every_unary_rule_second_partial(k):
    w = np.zeros(len(UNARY_WITH_D2))
    w[k] = 1.0
    H_tape = dd.hessian(all_unary, X_UNARY, args=(w,), mode="reverse")
    H_nested = dd.hessian(all_unary, X_UNARY, args=(w,), mode="forward")
    assert_close(H_tape, H_nested)
    assert np.array_equal(H_tape, H_tape.T)
    if UNARY_WITH_D2[k].name not in ("sign", "floor", "ceil", "trunc", "rint"):
        assert np.abs(H_tape).max() > 1e-8  # the check is not vacuous


# ---------------------------------------------------------------------------
# Binary rules, arithmetic, powers, selections
# ---------------------------------------------------------------------------

def binary_ops(x, w):
    u = x[0] + 0.3 * x[1] * x[0] + 1.5
    v = x[1] - 0.2 * x[0] * x[0] + 0.8
    terms = (
        math.atan2(u, v), math.hypot(u, v), math.copysign(u, v), np.logaddexp(u, v),
        u ** v, u ** 2.5, 2.0 ** u, u ** 3, u / v, 1.0 / v, u * v, u * u, u ** 2,
        max(u, v) * u, min(u, v) * v, np.sqrt(u) / 3.0, v ** 0.0 * u, u ** 1.0 * v,
        (-u) ** 3, u - 2.0 * v,
    )
    s = 0.0
    for k in range(len(terms)):
        s += w[k] * terms[k]
    return s


N_BINARY = 20
X_BINARY = np.array([0.6, -0.4])


@pytest.mark.parametrize("k", range(N_BINARY))
def test_binary_rules_arithmetic_and_powers(k):
    w = np.zeros(N_BINARY)
    w[k] = 1.0
    H_tape = dd.hessian(binary_ops, X_BINARY, args=(w,), mode="reverse")
    H_nested = dd.hessian(binary_ops, X_BINARY, args=(w,), mode="forward")
    assert_close(H_tape, H_nested)
    assert np.array_equal(H_tape, H_tape.T)


def kepler_eccentric_anomaly(p):
    """E with E - e sin E = M by Newton's method (a data-dependent while loop)."""
    M, e = p[0], p[1]
    E = M
    for _ in range(50):
        step = (E - e * math.sin(E) - M) / (1.0 - e * math.cos(E))
        E = E - step
        if abs(step) < 1e-15:
            break
    return E * E + math.sin(E) * e


def test_branches_and_while_loops():
    p = np.array([1.1, 0.3])
    assert_close(dd.hessian(kepler_eccentric_anomaly, p, mode="reverse"),
                 dd.hessian(kepler_eccentric_anomaly, p, mode="forward"), rtol=1e-10)


# ---------------------------------------------------------------------------
# Chunks of directions, tape growth, the fast path, inputs kept
# ---------------------------------------------------------------------------

def quadratic_plus_quartic(x, A):
    s = 0.0
    for i in range(len(x)):
        s += 0.25 * x[i] ** 4
        for j in range(len(x)):
            s += 0.5 * A[i, j] * x[i] * x[j]
    return s


def test_dense_hessian_over_several_chunks_of_directions():
    n = 2 * dd.second._tape_hessian.LANES + 5  # three chunks, every lane dense
    A = RNG.normal(size=(n, n))
    x = RNG.normal(size=n)
    expected = 0.5 * (A + A.T) + np.diag(3.0 * x ** 2)
    H = dd.hessian(quadratic_plus_quartic, x, args=(A,), mode="reverse")
    assert_close(H, expected)
    assert np.array_equal(H, H.T)


def repeated_terms(x):
    # the tape's length depends on x[0]
    s = 0.0
    for k in range(int(x[0])):
        s += math.sin(k * x[1]) * x[2] ** 2
    return s


def repeated_terms_hessian(x):
    H = np.zeros((3, 3))
    for k in range(int(x[0])):
        H[1, 1] += -k * k * math.sin(k * x[1]) * x[2] ** 2
        H[1, 2] += 2.0 * k * math.cos(k * x[1]) * x[2]
        H[2, 2] += 2.0 * math.sin(k * x[1])
    H[2, 1] = H[1, 2]
    return H


def test_a_tape_that_grows_between_calls():
    for steps in (3.0, 40.0, 3000.0, 5.0):
        x = np.array([steps, 0.7, -1.3])
        assert_close(dd.hessian(repeated_terms, x, mode="reverse"), repeated_terms_hessian(x))


def test_the_fast_path_gives_the_first_calls_result_and_keeps_x():
    x = RNG.uniform(-2, 2, 20)
    kept = x.copy()
    first = dd.hessian(rosenbrock, x)
    again = dd.hessian(rosenbrock, x)  # through the per-call fast path
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(x, kept)
    value, grad, H = dd.value_gradient_and_hessian(rosenbrock, x)
    np.testing.assert_array_equal(H, first)
    assert value == rosenbrock(x)


def test_auto_mode_takes_the_tape_from_a_threshold_on():
    n = dd.second.AUTO_TAPE_MIN_INPUTS
    for size, mode in ((n, "reverse"), (n - 1, "forward")):
        x = RNG.uniform(-2, 2, size)
        v = RNG.normal(size=size)
        np.testing.assert_array_equal(dd.hessian(rosenbrock, x),
                                      dd.hessian(rosenbrock, x, mode=mode))
        np.testing.assert_array_equal(dd.hvp(rosenbrock, x, v),
                                      dd.hvp(rosenbrock, x, v, mode=mode))


# ---------------------------------------------------------------------------
# NaN safety and what the tape does not cover
# ---------------------------------------------------------------------------

def sqrt_and_square(x):
    return math.sqrt(x[0]) + x[1] ** 2 * x[2]


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_a_singular_partial_does_not_spread_nan(mode):
    # sqrt'(0) = inf: the x[1], x[2] block stays exact.  (Nested duals gave NaN
    # everywhere: an outer lane's zero partial of sqrt, times sqrt's derivative
    # as an inner dual (inf, nan...), was NaN; it now stays zero.)
    x = np.array([0.0, 1.5, -2.0])
    H = dd.hessian(sqrt_and_square, x, mode=mode)
    np.testing.assert_array_equal(H[1:, 1:], [[-4.0, 3.0], [3.0, 0.0]])
    assert H[0, 1] == H[0, 2] == H[1, 0] == H[2, 0] == 0.0
    assert not np.isfinite(H[0, 0])  # sqrt''(0) = -inf
    # at a regular point the guard changes nothing
    y = np.array([0.64, 1.5, -2.0])
    expected = np.array([[-0.25 * 0.64 ** -1.5, 0.0, 0.0], [0.0, -4.0, 3.0], [0.0, 3.0, 0.0]])
    assert_close(dd.hessian(sqrt_and_square, y, mode=mode), expected)


def with_a_sum_block(x):
    return np.sum(x ** 2) * x[0]


def with_tetragamma(x):
    return rules.tetragamma(x[0]) * x[1]


def two_outputs(x):
    return x[0] ** 2 * x[1], x[1] ** 3


@pytest.mark.parametrize("f, reason", [
    (with_a_sum_block, "block operation"),
    (with_tetragamma, "no second derivative"),
    (two_outputs, "one number"),
])
def test_where_the_tape_does_not_apply_forward_mode_answers(f, reason):
    x = np.array([0.7, 1.3, -0.4])
    expected = dd.hessian(f, x, mode="forward")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(dd.hessian(f, x), expected)  # auto: silently
    target = dd._engine.target.target_of(f)
    target.warned_tape_hessian = False
    with pytest.warns(RuntimeWarning, match=reason):
        np.testing.assert_array_equal(dd.hessian(f, x, mode="reverse"), expected)


def test_sum_block_hessian_is_right():
    x = np.array([0.7, 1.3, -0.4])
    # f = x0 * |x|^2: H = 2 x0 I + 2 (e0 x^T + x e0^T)
    expected = 2.0 * x[0] * np.eye(3)
    expected[0, :] += 2.0 * x
    expected[:, 0] += 2.0 * x
    assert_close(dd.hessian(with_a_sum_block, x), expected)


def test_mode_is_validated():
    with pytest.raises(ValueError, match="mode"):
        dd.hessian(rosenbrock, np.ones(3), mode="sideways")


# ---------------------------------------------------------------------------
# Hessian-vector products from one tangent pass
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [3, 40, 1000])
def test_hvp_from_the_tape_against_the_closed_form(n):
    from test_second import rosenbrock_hessian
    x = RNG.uniform(-2, 2, n)
    v = RNG.normal(size=n)
    v[1] = 0.0  # a zero seed lane
    expected = rosenbrock_hessian(x) @ v
    assert_close(dd.hvp(rosenbrock, x, v, mode="reverse"), expected)
    assert_close(dd.hvp(rosenbrock, x, v), expected)  # auto
    if n <= 40:
        assert_close(dd.hvp(rosenbrock, x, v, mode="forward"), expected)


def test_hvp_of_every_binary_operation_against_forward_mode():
    v = np.array([0.3, -1.7])
    for k in range(N_BINARY):
        w = np.zeros(N_BINARY)
        w[k] = 1.0
        assert_close(dd.hvp(binary_ops, X_BINARY, v, args=(w,), mode="reverse"),
                     dd.hvp(binary_ops, X_BINARY, v, args=(w,), mode="forward"))


def test_curried_hvp_passes_the_mode_and_scipy_arguments():
    A = RNG.normal(size=(5, 5))
    x, v = RNG.normal(size=5), RNG.normal(size=5)
    hessp = dd.hvp(quadratic_plus_quartic, mode="reverse")
    expected = (0.5 * (A + A.T) + np.diag(3.0 * x ** 2)) @ v
    assert_close(hessp(x, v, A), expected)


# ---------------------------------------------------------------------------
# The per-call fast paths of dd.hessian (forward and tape), their guards and
# thread safety; outputs that are not a tape number
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode, n", [("forward", 7), ("reverse", 7), ("auto", 7), ("auto", 20)])
def test_the_fast_paths_agree_with_the_full_path_and_guard_their_input(mode, n):
    from test_second import rosenbrock_hessian
    x = RNG.uniform(-2, 2, n)
    kept = x.copy()
    first = dd.hessian(rosenbrock, x, mode=mode)
    assert_close(first, rosenbrock_hessian(x))
    again = dd.hessian(rosenbrock, x, mode=mode)  # through the fast path
    np.testing.assert_array_equal(again, first)
    assert again is not first and np.array_equal(x, kept)
    np.testing.assert_array_equal(dd.value_gradient_and_hessian(rosenbrock, x, mode=mode)[2],
                                  first)
    assert_fast_path_guards(dd.hessian, rosenbrock, x, mode, first)
    # another size is another entry
    y = RNG.uniform(-2, 2, n + 1)
    assert_close(dd.hessian(rosenbrock, y, mode=mode), rosenbrock_hessian(y))


@pytest.mark.parametrize("mode, n", [("forward", 7), ("reverse", 7), ("auto", 20)])
def test_the_fast_paths_take_extra_arguments_by_their_types(mode, n):
    A = RNG.standard_normal((n, n))
    x = RNG.uniform(-2, 2, n)

    def expected(A):
        return 0.5 * (A + A.T) + np.diag(3.0 * x ** 2)

    first = dd.hessian(quadratic_plus_quartic, x, args=(A,), mode=mode)
    assert_close(first, expected(A))
    again = dd.hessian(quadratic_plus_quartic, x, args=(A,), mode=mode)  # the fast path
    np.testing.assert_array_equal(again, first)
    remembered = dd.second._fast_hessians.keys(quadratic_plus_quartic)
    assert any(key[1] == n and len(key[2]) == 1 for key in remembered)
    # the arguments are read on every call, never remembered
    B = A.copy()
    B[0, 1] += 3.0
    B_kept = B.copy()
    assert_close(dd.hessian(quadratic_plus_quartic, x, args=(B,), mode=mode), expected(B))
    # other array types (Fortran order, read-only) are other drivers, each right
    fortran = np.asfortranarray(B)
    read_only = B.copy()
    read_only.flags.writeable = False
    for other in (fortran, read_only, fortran, read_only):
        assert_close(dd.hessian(quadratic_plus_quartic, x, args=(other,), mode=mode),
                     expected(B))
    np.testing.assert_array_equal(B, B_kept)
    with pytest.raises(TypeError, match="args must be a tuple"):
        dd.hessian(quadratic_plus_quartic, x, args=A, mode=mode)


def test_concurrent_hessians_are_each_right():
    from concurrent.futures import ThreadPoolExecutor
    from test_second import rosenbrock_hessian
    points = [RNG.uniform(-2, 2, n) for n in (5, 5, 5, 30, 30, 30)]
    for x in points[::3]:
        dd.hessian(rosenbrock, x)  # the first call of each size takes the full path

    def repeat(x):
        return [dd.hessian(rosenbrock, x) for _ in range(300)]

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(repeat, points))
    for x, got in zip(points, results):
        expected = rosenbrock_hessian(x)
        for H in got:
            assert_close(H, expected)


def writes_into_its_input(x):
    if x[0] > 0.0:
        x[1] = 2.0 * x[1]
    return x[0] * x[1] ** 2 + x[2]


def test_an_input_written_on_a_later_call_is_refused_and_does_not_leak():
    # seven inputs: three blocks, six hyper-dual sweeps over the same input
    x = np.array([-1.0, 2.0, 3.0, 0.0, 0.0, 0.0, 0.0])
    x_writes = x.copy()
    x_writes[0] = 1.0
    expected = np.zeros((7, 7))
    expected[0, 1] = expected[1, 0] = 4.0
    expected[1, 1] = -2.0
    np.testing.assert_array_equal(dd.hessian(writes_into_its_input, x, mode="forward"), expected)
    with pytest.raises(ValueError, match="modified its input"):
        dd.hessian(writes_into_its_input, x_writes, mode="forward")
    # the tape records f on a copy of x: the write is differentiated
    # (f = 4 x0 x1^2 + x2 there)
    on_tape = np.zeros((7, 7))
    on_tape[0, 1] = on_tape[1, 0] = 16.0
    on_tape[1, 1] = 8.0
    np.testing.assert_array_equal(dd.hessian(writes_into_its_input, x_writes, mode="reverse"),
                                  on_tape)
    for _ in range(2):  # the refused call left nothing behind
        np.testing.assert_array_equal(dd.hessian(writes_into_its_input, x, mode="forward"),
                                      expected)


def returns_an_int(x):
    return 3


def returns_an_input(x):
    return x[1]


@pytest.mark.parametrize("f", [returns_an_int, returns_an_input])
def test_outputs_without_second_derivatives_give_zeros_from_the_tape(f):
    x = np.array([0.5, -1.5, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        value, grad, H = dd.value_gradient_and_hessian(f, x, mode="reverse")
    assert value == f(x)
    np.testing.assert_array_equal(grad, [0.0, 1.0, 0.0] if f is returns_an_input else 0.0)
    np.testing.assert_array_equal(H, np.zeros((3, 3)))
    np.testing.assert_array_equal(dd.hessian(f, x, mode="reverse"), np.zeros((3, 3)))
