"""Reverse mode (dualdiff.reverse) against forward mode, closed forms and a
hand-written backprop; the tape's limits, threads and memory."""

import math
import threading
import tracemalloc
import warnings

import numpy as np
import pytest

import dualdiff as dd
from dualdiff import reverse as rv
from dualdiff._engine.target import target_of
from functions import (
    assert_fast_path_guards, branchy, broyden, iterate_and_collect, rosenbrock,
    rosenbrock_gradient, weighted_sum,
)

RNG = np.random.default_rng(20261121)
TIGHT = dict(rtol=1e-13, atol=1e-13)


def forward_gradient(f, x, args=()):
    return dd.gradient(f, x, args=args, mode="forward")


def reverse_gradient(f, x, args=()):
    with warnings.catch_warnings():
        warnings.simplefilter("error", dd.FallbackWarning)  # reverse really ran
        return dd.gradient(f, x, args=args, mode="reverse")


# ---------------------------------------------------------------------------
# Functions (module level: compiled once for the whole module)
# ---------------------------------------------------------------------------

def elementary(x):
    """Every rule spelling family once, on x in (0.1, 0.9)."""
    a, b, c = x[0], x[1], x[2]
    s = math.sqrt(a) + np.cbrt(b) + math.exp(c) + np.exp2(a) + math.expm1(b)
    s += math.log(a) + math.log2(b) + math.log10(c) + math.log1p(a)
    s += math.sin(a) * math.cos(b) + math.tan(c)
    s += math.asin(a) + math.acos(b) + math.atan(c) + np.arcsinh(a) + np.arccosh(1.0 + b)
    s += math.atanh(c) + math.sinh(a) + math.cosh(b) + math.tanh(c)
    s += math.erf(a) + math.erfc(b) + math.lgamma(c) + dd.rules.digamma(a + 1.0)
    s += np.square(b) + np.reciprocal(c) + np.sinc(a) + abs(a - b) + np.sign(c) * a
    s += np.floor(3.0 * a) + math.atan2(a, b) + math.hypot(b, c) + math.copysign(a, -1.0)
    s += np.logaddexp(a, c) + max(a, b) * min(b, c) + a ** b + a ** 2.5 + 2.0 ** c
    s += (a - c) / (b + 1.0) + 1.0 / a - c / 3.0 + (-b) ** 3
    return s


def while_loop(x):
    """A data-dependent while-loop (Newton's sqrt) and a branch on its result."""
    s = 0.0
    for i in range(len(x)):
        a = x[i]
        r = a if a > 1.0 else 1.0
        while abs(r * r - a) > 1e-15 * a:
            r = 0.5 * (r + a / r)
        s += r if r > 0.8 else -r
    return s


def writes_into_x(x):
    x[0] = 2.0 * x[0]
    y = np.zeros_like(x)
    for i in range(len(x)):
        y[i] = x[i] * x[len(x) - 1 - i]
    total = 0.0
    for v in y:
        total += v
    return total


def mlp_loss(params, X, t):
    """Squared loss of a tanh-sigmoid MLP, written loop-style."""
    W1, b1, W2, b2 = params
    n_in, n_hidden = W1.shape
    s = 0.0
    for r in range(X.shape[0]):
        out = b2
        for j in range(n_hidden):
            z = b1[j]
            for k in range(n_in):
                z += X[r, k] * W1[k, j]
            out += math.tanh(z) * W2[j, 0]
        p = 1.0 / (1.0 + math.exp(-out))
        s += 0.5 * (p - t[r]) ** 2
    return s


def mlp_loss_vectorised(params, X, t):
    """The same loss with array operations: matmuls become block nodes."""
    W1, b1, W2, b2 = params
    h = np.tanh(X @ W1 + b1)
    out = h @ W2[:, 0] + b2
    p = 1.0 / (1.0 + np.exp(-out))
    return 0.5 * np.sum((p - t) ** 2)


def mlp_backprop(params, X, t):
    W1, b1, W2, b2 = params
    z = X @ W1 + b1
    h = np.tanh(z)
    out = h @ W2[:, 0] + b2
    p = 1.0 / (1.0 + np.exp(-out))
    d_out = (p - t) * p * (1.0 - p)
    dW2 = h.T @ d_out
    db2 = d_out.sum()
    d_z = np.outer(d_out, W2[:, 0]) * (1.0 - h * h)
    return X.T @ d_z, d_z.sum(0), dW2.reshape(-1, 1), db2


_A = np.linspace(-1.0, 1.0, 24).reshape(4, 6)


def array_style(x):
    """Array operations on a VarArray: slices, dot, matmul both ways, sum, mean."""
    M = np.zeros_like(x[:4])
    M[1:3] = x[2:4] * 2.0
    u = _A @ x
    w = x[:4] @ _A
    return (np.dot(x[1:], x[:-1]) + np.sum(np.sin(x) * x) + np.mean(u * u) + w.sum()
            + (np.maximum(x, 0.1) / (1.0 + x * x)).sum() + np.sum(M) + x[:4] @ u)


def loop_style(x):
    """The same function with scalar loops (forward mode compiles it)."""
    n = len(x)
    s = 0.0
    for i in range(1, n):
        s += x[i] * x[i - 1]
    for i in range(n):
        s += math.sin(x[i]) * x[i] + max(x[i], 0.1) / (1.0 + x[i] * x[i])
    for i in range(2, 4):
        s += x[i] * 2.0
    for r in range(4):
        u = 0.0
        for k in range(n):
            u += _A[r, k] * x[k]
        s += u * u / 4.0 + x[r] * u
    for c in range(n):
        for r in range(4):
            s += x[r] * _A[r, c]
    return s


def grows_with_x(x):
    """Tape length depends on the data (more iterations for larger x[0]): each
    store into the array writes a node."""
    acc = np.zeros_like(x)
    k = 0
    while k < 10.0 * x[0]:
        acc[0] = acc[0] + x[1] * x[1] + k
        k += 1
    return acc[0]


def first(x):
    return x[0]


def constant(x):
    return 3.0


_COEFFICIENTS = {"a": 2.0}


def reads_a_global_dict(x):
    return _COEFFICIENTS["a"] * x[0]  # Numba cannot type a global dict


def reads_past_the_end(x):
    return x[len(x)]


def returns_a_string(x):
    return "x"


def rows_of_a_matrix(params):
    W, = params
    s = 0.0
    for row in W:  # iteration over a 2-D VarArray yields its rows
        for v in row:
            s += v * v
    return s + W.shape[0] * W[1, -1]


# ---------------------------------------------------------------------------
# Reverse equals forward (and closed forms)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 10, 37, 200])
def test_rosenbrock(n):
    x = RNG.uniform(-2, 2, n)
    g = reverse_gradient(rosenbrock, x)
    np.testing.assert_allclose(g, forward_gradient(rosenbrock, x), **TIGHT)
    np.testing.assert_allclose(g, rosenbrock_gradient(x), rtol=1e-14, atol=1e-12)


def test_value_is_the_function_value():
    x = RNG.uniform(-2, 2, 7)
    value, _ = dd.value_and_gradient(rosenbrock, x, mode="reverse")
    assert value == rosenbrock(x)


@pytest.mark.parametrize("f, low, high, args", [
    (branchy, -2.0, 2.0, ()),
    (elementary, 0.1, 0.9, ()),
    (while_loop, 0.2, 3.0, ()),
    (weighted_sum, -1.0, 1.0, (np.linspace(-1, 1, 6), 0.5)),
])
def test_reverse_equals_forward(f, low, high, args):
    x = RNG.uniform(low, high, 6)
    np.testing.assert_allclose(reverse_gradient(f, x, args), forward_gradient(f, x, args),
                               **TIGHT)


def test_array_operations_equal_scalar_loops():
    x = RNG.uniform(-1, 1, 6)
    assert array_style(x) == pytest.approx(loop_style(x), rel=1e-14)
    with warnings.catch_warnings():
        warnings.simplefilter("error", dd.FallbackWarning)  # reverse really ran
        value, g = dd.value_and_gradient(array_style, x, mode="reverse")
    assert value == pytest.approx(loop_style(x), rel=1e-14)
    np.testing.assert_allclose(g, forward_gradient(loop_style, x), **TIGHT)


def test_jacobian_reverse_equals_forward():
    x = RNG.uniform(-1, 1, 9)
    for f in (broyden, iterate_and_collect):
        v_rev, J_rev = dd.value_and_jacobian(f, x, mode="reverse")
        v_fwd, J_fwd = dd.value_and_jacobian(f, x, mode="forward")
        np.testing.assert_array_equal(v_rev, v_fwd)
        np.testing.assert_allclose(J_rev, J_fwd, **TIGHT)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_adjoint_identity(seed):
    """<u, J v> (forward jvp) == <J^T u, v> (reverse vjp)."""
    rng = np.random.default_rng(seed)
    x, u, v = rng.uniform(-1, 1, (3, 11))
    _, Jv = dd.jvp(broyden, x, v)
    _, uJ = dd.vjp(broyden, x, u, mode="reverse")
    assert np.dot(u, Jv) == pytest.approx(np.dot(uJ, v), rel=1e-13, abs=1e-13)


def test_edge_outputs():
    x = np.array([1.5, -2.0])
    np.testing.assert_array_equal(reverse_gradient(first, x), [1.0, 0.0])
    np.testing.assert_array_equal(reverse_gradient(constant, x), [0.0, 0.0])


def test_inputs_are_never_modified():
    x = np.array([0.3, -0.2, 1.1])
    before = x.copy()
    g = reverse_gradient(writes_into_x, x)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(g, forward_gradient(writes_into_x, x), **TIGHT)


# ---------------------------------------------------------------------------
# Structured parameters and the MLP against hand-written backprop
# ---------------------------------------------------------------------------

def _mlp_problem(seed=0, n_in=3, n_hidden=5, batch=8):
    rng = np.random.default_rng(seed)
    params = (rng.normal(size=(n_in, n_hidden)), rng.normal(size=n_hidden),
              rng.normal(size=(n_hidden, 1)), 0.3)
    X = rng.normal(size=(batch, n_in))
    t = rng.uniform(size=batch)
    return params, X, t


def test_mlp_gradient_equals_backprop():
    params, X, t = _mlp_problem()
    grads = dd.gradient(mlp_loss, params, args=(X, t))  # auto: reverse for structured
    expected = mlp_backprop(params, X, t)
    assert [np.shape(g) for g in grads] == [(3, 5), (5,), (5, 1), ()]
    assert isinstance(grads[3], float)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_vectorised_mlp_uses_block_nodes_and_equals_backprop():
    params, X, t = _mlp_problem(seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", dd.FallbackWarning)
        grads = dd.gradient(mlp_loss_vectorised, params, args=(X, t), mode="reverse")
    for got, want in zip(grads, mlp_backprop(params, X, t)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    flat, _ = dd._engine.inputs.flatten_params(params)
    tape = rv._tape_for(mlp_loss_vectorised, flat, (X, t), tuple(np.shape(p) for p in params))
    # ids: X @ W1 (block, 8x5), + b1 and tanh (8x5 each), h @ W2 (block, 8),
    # 7 elementwise per output (+ b2, -, exp, 1 +, 1 /, - t, **2), sum, 0.5 *;
    # scalar nodes for the matmuls would add 2 * 8 * 5 * 3 + 2 * 8 * 5 more
    assert tape.count - tape.n == 40 + 80 + 8 + 8 * 7 + 2


def test_iterating_over_matrix_rows():
    W = np.arange(6.0).reshape(2, 3)
    (g,) = dd.gradient(rows_of_a_matrix, (W,))
    expected = 2 * W
    expected[1, -1] += 2.0
    np.testing.assert_array_equal(g, expected)


def test_structured_vjp_and_forward_agree():
    params, X, t = _mlp_problem(seed=1, batch=3)
    _, by_vjp = dd.vjp(mlp_loss, params, 2.0, args=(X, t), mode="reverse")
    with warnings.catch_warnings():
        warnings.simplefilter("error", dd.FallbackWarning)  # forward mode compiles too
        by_forward = dd.gradient(mlp_loss, params, args=(X, t), mode="forward")
    assert [np.shape(g) for g in by_forward] == [np.shape(p) for p in params]
    for a, b in zip(by_vjp, by_forward):
        np.testing.assert_allclose(a, 2.0 * np.asarray(b), **TIGHT)


# ---------------------------------------------------------------------------
# Tape: growth, limit, threads, memory
# ---------------------------------------------------------------------------

def test_tape_grows_and_rerun_is_correct(monkeypatch):
    monkeypatch.setattr(rv, "_MIN_CAPACITY", 4)
    monkeypatch.setattr(rv, "_INITIAL_NODES_PER_INPUT", 1)
    for x0 in (0.5, 3.0, 30.0, 1.0):  # the remembered size is too small twice
        x = np.array([x0, 1.7])
        g = reverse_gradient(grows_with_x, x)
        np.testing.assert_allclose(g, forward_gradient(grows_with_x, x), **TIGHT)
        np.testing.assert_allclose(g, [0.0, 2 * 1.7 * math.ceil(10 * x0)], rtol=1e-13)
    assert max(c[0] for c in target_of(grows_with_x).reverse_state.capacity.values()) > 300


def test_tape_size_reports_operations_and_bytes():
    ops, nbytes = rv.tape_size(rosenbrock, np.zeros(5))
    # preaccumulated: a term depends on x_i and x_{i+1} only, so the partial
    # sum s stays a two-term form; from the second term on, adding a term
    # (three nodes) writes s's form as one node; one more for the result
    assert ops == 3 + 1 and nbytes == ops * rv.NODE_BYTES == ops * 32


def test_memory_limit_error_says_how_to_raise_it():
    old = rv.set_tape_limit(64 * 1024)
    try:
        with pytest.raises(MemoryError, match=r"grew past 168,224 bytes \(more than 5,001 nodes"
                                              r".*tape limit of 65,536 bytes.*set_tape_limit"):
            dd.gradient(rosenbrock, np.ones(5000), mode="reverse")
    finally:
        rv.set_tape_limit(old)
    assert rv.get_tape_limit() == old
    # a size remembered (and on the fast path) before the limit was lowered
    x = np.ones(3000)
    for _ in range(2):
        np.testing.assert_array_equal(dd.gradient(rosenbrock, x, mode="reverse"), 0.0)
    old = rv.set_tape_limit(64 * 1024)
    try:
        with pytest.raises(MemoryError, match="tape limit of 65,536 bytes"):
            dd.gradient(rosenbrock, x, mode="reverse")
    finally:
        rv.set_tape_limit(old)
    with pytest.raises(ValueError, match="positive"):
        rv.set_tape_limit(0)


def test_threads_compute_independent_gradients():
    xa = RNG.uniform(-2, 2, 300)
    xb = RNG.uniform(-1, 1, 250)
    wb = RNG.uniform(-1, 1, 250)
    want_a = rosenbrock_gradient(xa)
    want_b = wb / np.cosh(xb) ** 2
    reverse_gradient(rosenbrock, xa)
    reverse_gradient(weighted_sum, xb, (wb, 0.1))
    errors = []

    def work(f, x, args, want):
        try:
            for _ in range(200):
                np.testing.assert_allclose(dd.gradient(f, x, args=args, mode="reverse"),
                                           want, rtol=1e-13, atol=1e-11)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(rosenbrock, xa, (), want_a)),
               threading.Thread(target=work, args=(weighted_sum, xb, (wb, 0.1), want_b))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]


def test_no_leak_over_many_calls():
    x = RNG.uniform(-2, 2, 10)
    for _ in range(200):
        dd.gradient(rosenbrock, x, mode="reverse")
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(10_000):
            dd.gradient(rosenbrock, x, mode="reverse")
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, f"{grown} bytes kept after 10^4 calls"


# ---------------------------------------------------------------------------
# Modes, fallbacks and errors
# ---------------------------------------------------------------------------

def test_auto_mode_uses_reverse_for_many_inputs():
    def quadratic(x):
        s = 0.0
        for i in range(len(x)):
            s += (i + 1.0) * x[i] ** 2
        return s
    n_small, n_large = rv.AUTO_REVERSE_MIN_INPUTS - 1, rv.AUTO_REVERSE_MIN_INPUTS
    np.testing.assert_allclose(dd.gradient(quadratic, np.ones(n_small)),
                               2.0 * np.arange(1, n_small + 1), rtol=1e-15)
    np.testing.assert_allclose(dd.gradient(quadratic, np.ones(n_large), chunk=4),
                               2.0 * np.arange(1, n_large + 1), rtol=1e-15)
    assert not getattr(target_of(quadratic), "reverse_state", None)  # chunk: forward
    np.testing.assert_allclose(dd.gradient(quadratic, np.ones(n_large)),
                               2.0 * np.arange(1, n_large + 1), rtol=1e-15)
    assert target_of(quadratic).reverse_state.capacity


def test_function_that_does_not_compile_falls_back_correctly():
    with pytest.warns(dd.FallbackWarning):
        g = dd.gradient(reads_a_global_dict, np.array([2.0, 3.0]), mode="reverse")
    np.testing.assert_array_equal(g, [2.0, 0.0])


def test_errors():
    with pytest.raises(ValueError, match="jacobian"):
        dd.gradient(broyden, np.ones(3), mode="reverse")
    with pytest.raises(ValueError, match="shape of f"):
        dd.vjp(broyden, np.ones(3), np.ones(4), mode="reverse")
    with pytest.raises(IndexError):
        dd.gradient(reads_past_the_end, np.ones(3), mode="reverse")
    with pytest.raises(TypeError, match="must return"):
        dd.gradient(returns_a_string, np.ones(3), mode="reverse")
    with pytest.raises(ValueError, match="mode"):
        dd.gradient(rosenbrock, np.ones(3), mode="backwards")


def scales_a_view_in_place(x):
    y = x.copy()
    v = y[:2]
    v *= 3.0          # writes through the view into y, as in NumPy
    return y[0] + y[2]


def adds_through_an_alias(x):
    y = x.copy()
    z = y
    y += x            # z is y: it sees the update
    return z[0] * z[1]


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_in_place_operators_update_views_and_aliases(mode):
    x = np.array([1.0, 2.0, 3.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", dd.FallbackWarning)
        v1, g1 = dd.value_and_gradient(scales_a_view_in_place, x, mode=mode)
        v2, g2 = dd.value_and_gradient(adds_through_an_alias, x, mode=mode)
    assert v1 == scales_a_view_in_place(x) == 6.0
    np.testing.assert_array_equal(g1, [3.0, 0.0, 1.0])
    assert v2 == adds_through_an_alias(x) == 8.0     # (2 x0)(2 x1)
    np.testing.assert_array_equal(g2, [8.0, 4.0, 0.0])


def fills_a_zeros_array(x):
    out = dd.arrays.zeros(len(x), like=x)
    for i in range(len(x)):
        out[i] = x[i] * x[i]
    s = 0.0
    for i in range(len(out)):
        s += out[i] * (i + 1)
    return s


def test_dd_arrays_zeros_works_in_reverse_mode():
    x = np.array([0.5, -1.0, 2.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error", dd.FallbackWarning)
        g = dd.gradient(fills_a_zeros_array, x, mode="reverse")
    np.testing.assert_array_equal(g, 2 * x * np.arange(1, 4))


# ---------------------------------------------------------------------------
# Preaccumulation: two-term forms in registers, nodes only past two terms
# ---------------------------------------------------------------------------

def four_products(x):
    return x[0] * x[1] + x[2] * x[3]


def zero_times_infinite_partial(x):
    # sqrt'(0) is inf: scaled by 0.0 (and by an input at 0) it must stay a zero
    return 0.0 * math.sqrt(x[0]) + x[1] * math.sqrt(x[0]) + x[1] ** 2


def shared_terms(x):
    # forms that share nodes fold: every term here is x0 or x1
    s = 0.0
    for k in range(5):
        s = s * x[0] + (k + 1) * x[1] - x[0] * x[1]
    return s


def test_four_new_nodes_write_two_and_the_result_one():
    x = np.array([1.5, -2.0, 0.5, 3.0])
    np.testing.assert_array_equal(reverse_gradient(four_products, x),
                                  [x[1], x[0], x[3], x[2]])
    # each product is a two-term form; their sum would have four terms, so
    # both are written as nodes, and the returned form is a third
    assert rv.tape_size(four_products, x) == (3, 3 * rv.NODE_BYTES)


def test_an_infinite_partial_behind_a_zero_adjoint_is_forward_modes_nan():
    x = np.array([0.0, 0.0])
    # f is 0 along x0 at x1 = 0, but x1 / (2 sqrt(x0)) is 0/0 there: forward
    # mode's product rule gives nan.  The sweep cannot tell this zero adjoint
    # from a rounded one (README, "Forward mode decides singular points"), so
    # it says nan and both modes give forward mode's answer.
    np.testing.assert_array_equal(reverse_gradient(zero_times_infinite_partial, x),
                                  [np.nan, 0.0])
    np.testing.assert_array_equal(dd.gradient(zero_times_infinite_partial, x, mode="forward"),
                                  [np.nan, 0.0])
    # and a nan that does not come from a zero factor stays nan
    assert np.isnan(reverse_gradient(zero_times_infinite_partial, np.array([-1.0, 1.0]))[0])


def kink_after_a_long_sum(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += x[i] * x[i + 1]
    return s + 0.0 * math.sqrt(x[0])


def kinks_in_two_outputs(x):
    return 0.0 * math.sqrt(x[0]) + x[1], x[0] * math.sqrt(x[1])


def test_a_nan_coefficient_records_again_one_node_per_operation():
    # 0 * sqrt'(0) is nan in a preaccumulated form; the driver then records
    # again without preaccumulation, where the sweep skips the zero partial
    n = 3000
    x = np.linspace(1.0, 2.0, n)
    expected = np.zeros(n)
    expected[:-1] += x[1:]
    expected[1:] += x[:-1]
    np.testing.assert_allclose(reverse_gradient(kink_after_a_long_sum, x), expected, **TIGHT)
    state = rv._state(dd._engine.target.target_of(kink_after_a_long_sum))
    remembered = dict(state.capacity)
    nodes = rv.tape_size(kink_after_a_long_sum, x)[0]
    assert nodes < n + 10  # preaccumulated: about one node per term
    # x0 = 0: the rerun needs several times the remembered capacity, so it
    # also grows the tape
    x[0] = 0.0
    expected[1] = x[2]
    got = reverse_gradient(kink_after_a_long_sum, x)
    np.testing.assert_allclose(got, expected, **TIGHT)
    assert not np.isnan(got).any()
    assert state.capacity == remembered  # the rerun's sizes are not kept
    x[0] = 1.0
    assert rv.tape_size(kink_after_a_long_sum, x)[0] == nodes  # and the next call is normal
    # several outputs (the plain driver) and a vjp
    y = np.array([0.0, 4.0])
    np.testing.assert_array_equal(dd.jacobian(kinks_in_two_outputs, y, mode="reverse"),
                                  [[0.0, 1.0], [2.0, 0.0]])
    value, pulled_back = dd.vjp(kinks_in_two_outputs, y, np.array([1.0, 1.0]), mode="reverse")
    np.testing.assert_array_equal(value, [4.0, 0.0])
    np.testing.assert_array_equal(pulled_back, [2.0, 1.0])


def test_folded_forms_equal_forward_and_need_one_node():
    x = np.array([0.7, -1.3])
    np.testing.assert_allclose(reverse_gradient(shared_terms, x),
                               forward_gradient(shared_terms, x), **TIGHT)
    assert rv.tape_size(shared_terms, x)[0] == 1  # only the returned form


# ---------------------------------------------------------------------------
# Per-call Python: the cached Numba types of args, structured parameters
# ---------------------------------------------------------------------------

def test_typeof_args_cache_matches_numba_typeof():
    from dualdiff._compiled.compat import numba
    from dualdiff._compiled.typeof import typeof_args
    base = np.arange(24.0).reshape(4, 6)
    readonly = base.copy()
    readonly.flags.writeable = False
    arrays = [base, base[:, ::2], np.asfortranarray(base), readonly, readonly[::2],
              np.arange(5.0), np.arange(10.0)[::3], np.array(2.0), np.zeros((0, 3)),
              base.astype(np.float32), np.arange(6, dtype=np.int32).reshape(2, 3),
              np.ones(3, bool), np.ones(3, complex)]
    for _ in range(2):  # the second round reads the cache
        for a in arrays:   # one at a time, in an order that alternates the layouts
            assert typeof_args((a,)) == (numba.typeof(a),), (a.dtype, a.shape, a.strides)
    others = (1.5, 3, True, (1.0, 2), "s", np.float32(1.0))
    assert typeof_args(others) == tuple(numba.typeof(a) for a in others)
    kinds = {typeof_args((a,))[0] for a in arrays[:5]}
    assert len(kinds) == 5   # C, A, F, read-only C, read-only A: all different


def weighted_squares(x, A):
    s = 0.0
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            s += A[i, j] * x[j] ** 2
    return s


def test_a_driver_per_layout_and_writeability_of_args():
    # one compiled driver per Numba type of A: a driver compiled for a
    # C-contiguous A must never be handed a strided or a read-only one
    x = RNG.uniform(-1, 1, 3)
    wide = RNG.uniform(-1, 1, (4, 6))
    readonly = wide[:, :3].copy()
    readonly.flags.writeable = False
    for A in (wide[:, :3].copy(), wide[:, ::2], readonly, np.asfortranarray(wide[:, 3:]),
              wide[:, :3].copy()):
        np.testing.assert_allclose(reverse_gradient(weighted_squares, x, (A,)),
                                   2.0 * x * A.sum(axis=0), rtol=1e-14, atol=0)
    argtypes = {key[-1][0] for key in target_of(weighted_squares).drivers if key[0] == "reverse"}
    assert {(t.layout, t.mutable) for t in argtypes} == {
        ("C", True), ("A", True), ("C", False), ("F", True)}
    assert not readonly.flags.writeable   # and the inputs are untouched


def test_flatten_params_fast_and_general_paths():
    from dualdiff._engine.inputs import flatten_params, unflatten
    W = np.arange(6.0).reshape(2, 3)
    params = (W, np.asfortranarray(W), W[:, ::2], np.arange(3.0))    # the fast path
    flat, layout = flatten_params(params)
    assert layout == ((2, 3), (2, 3), (2, 2), (3,))
    np.testing.assert_array_equal(flat, np.concatenate([np.ravel(p) for p in params]))
    flat[:] = -1.0                                    # a copy, never a view of x
    assert W[0, 0] == 0.0 and params[3][0] == 0.0
    back = unflatten(np.arange(19.0), layout)
    assert [b.shape for b in back] == [(2, 3), (2, 3), (2, 2), (3,)]
    np.testing.assert_array_equal(back[2], [[12.0, 13.0], [14.0, 15.0]])
    mixed = (W, 2.5, np.array(1.5), [1, 2], np.arange(2, dtype=np.int32))
    flat, layout = flatten_params(mixed)             # the general path
    assert flat.dtype == np.float64 and layout == ((2, 3), (), (), (2,), (2,))
    np.testing.assert_array_equal(flat, [0, 1, 2, 3, 4, 5, 2.5, 1.5, 1, 2, 0, 1])
    back = unflatten(flat, layout)
    assert back[1] == 2.5 and isinstance(back[1], float) and back[3].shape == (2,)
    with pytest.raises(TypeError):
        flatten_params((W, np.array(["a"])))
    with pytest.raises(ValueError, match="at least one element"):
        flatten_params((W, np.zeros(0)))             # float64, but empty


def test_threads_compute_independent_structured_gradients():
    problems = [_mlp_problem(seed=s) for s in (5, 6)]
    wants = [mlp_backprop(*p) for p in problems]
    reverse_gradient(mlp_loss_vectorised, problems[0][0], problems[0][1:])
    errors = []

    def work(params, X, t, want):
        try:
            for _ in range(300):
                got = dd.gradient(mlp_loss_vectorised, params, args=(X, t), mode="reverse")
                for g, w in zip(got, want):
                    np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=p + (w,)) for p, w in zip(problems, wants)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]


# ---------------------------------------------------------------------------
# The per-call fast path of dd.gradient / dd.value_and_gradient
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("mode, n", [("forward", 7), ("reverse", 7), ("auto", 7), ("auto", 60)])
def test_the_gradient_fast_path_agrees_with_the_full_path_and_guards_its_input(mode, n):
    x = RNG.uniform(-2, 2, n)
    kept = x.copy()
    value, first = dd.value_and_gradient(rosenbrock, x, mode=mode)
    np.testing.assert_allclose(first, rosenbrock_gradient(x), **TIGHT)
    assert (mode, n, ()) in dd.operators._fast_gradients.keys(rosenbrock)
    again_value, again = dd.value_and_gradient(rosenbrock, x, mode=mode)  # the fast path
    assert type(again_value) is float and again_value == value
    np.testing.assert_array_equal(again, first)
    np.testing.assert_array_equal(dd.gradient(rosenbrock, x, mode=mode), first)
    assert again is not first and np.array_equal(x, kept)
    # another point: computed afresh, never a remembered result
    y = x + 0.25
    np.testing.assert_allclose(dd.gradient(rosenbrock, y, mode=mode), rosenbrock_gradient(y),
                               **TIGHT)
    assert_fast_path_guards(dd.gradient, rosenbrock, x, mode, first)
    with pytest.raises(TypeError, match="args must be a tuple"):
        dd.gradient(weighted_squares, x, args=np.eye(n), mode=mode)


@pytest.mark.parametrize("mode", ["forward", "reverse"])
def test_the_gradient_fast_path_reads_its_arguments_on_every_call(mode):
    x = RNG.uniform(-1, 1, 4)
    A = RNG.uniform(-1, 1, (3, 4))
    for _ in range(2):  # the second call takes the fast path
        np.testing.assert_allclose(dd.gradient(weighted_squares, x, args=(A,), mode=mode),
                                   2.0 * x * A.sum(axis=0), rtol=1e-14, atol=0)
    B = A.copy()
    B[0, 1] += 3.0
    kept = B.copy()
    fortran = np.asfortranarray(B)
    read_only = B.copy()
    read_only.flags.writeable = False
    for other in (B, fortran, read_only, fortran, read_only, B):
        np.testing.assert_allclose(dd.gradient(weighted_squares, x, args=(other,), mode=mode),
                                   2.0 * x * B.sum(axis=0), rtol=1e-14, atol=0)
    np.testing.assert_array_equal(B, kept)


def test_the_gradient_fast_path_hands_tape_growth_and_kinks_to_the_full_path():
    # grows_with_x records more nodes for a larger x[0]: the remembered tape
    # is too small, the fast run reports it, the full path grows the tape
    x = np.array([0.5, 3.0])
    for _ in range(2):
        np.testing.assert_allclose(reverse_gradient(grows_with_x, x), [0.0, 2 * 5 * 3.0],
                                   **TIGHT)
    state = rv._state(target_of(grows_with_x))
    small = state.capacity[(None, 2)]
    big = np.array([300.0, 3.0])  # 3000 iterations
    np.testing.assert_allclose(reverse_gradient(grows_with_x, big), [0.0, 2 * 3000 * 3.0],
                               **TIGHT)
    assert state.capacity[(None, 2)][0] > small[0]
    # a kink (a nan coefficient) on the fast path: the exact rerun answers
    z = np.linspace(1.0, 2.0, 100)
    reverse_gradient(kink_after_a_long_sum, z)
    reverse_gradient(kink_after_a_long_sum, z)
    z[0] = 0.0
    got = reverse_gradient(kink_after_a_long_sum, z)
    assert not np.isnan(got).any() and got[0] == z[1]


def _scaled_sum_of_squares():
    scale = 1.0

    def scaled(x):
        return scale * (x[0] ** 2 + x[1] ** 2)

    def set_scale(value):
        nonlocal scale
        scale = value

    return scaled, set_scale


scaled_sum_of_squares, set_scale = _scaled_sum_of_squares()


def test_the_gradient_fast_path_steps_aside_for_a_closure_holding_duals():
    x = np.array([1.5, -2.0])
    for _ in range(2):  # remembered, then the fast path
        np.testing.assert_array_equal(dd.gradient(scaled_sum_of_squares, x), 2.0 * x)
    # as inside an outer differentiation: the closure now holds a Python dual,
    # which only the Python path sees (the compiled function froze 1.0)
    set_scale(dd.Dual(1.0, 1.0))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", dd.FallbackWarning)  # the Python path, no fallback
            got = dd.gradient(scaled_sum_of_squares, x)
    finally:
        set_scale(1.0)
    assert all(isinstance(g, dd.Dual) for g in got)
    assert [g.value for g in got] == list(2.0 * x)
    assert [float(g.partials[0]) for g in got] == list(2.0 * x)  # d/ds of 2 s x
