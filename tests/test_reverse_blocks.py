"""Elementwise block nodes of reverse mode (dualdiff._compiled.tape_elementwise).

Every array operation on VarArrays records one block; each test compares the
reverse gradient with forward mode (exact to rounding).  The functions are
module-level so each compiles once for all the cases that use it.
"""

import warnings

import numpy as np
import pytest

import dualdiff as dd
import dualdiff.reverse as rv
from dualdiff._compiled.tape_blocks import _id_layout
from dualdiff._compiled.tape_elementwise import _k_tanh  # the vectorised tanh kernel
from dualdiff._compiled.var_array import wrap_var_array
from dualdiff._compiled.compat import numba

RNG = np.random.default_rng(7)
TIGHT = dict(rtol=1e-13, atol=1e-13)
_C = np.linspace(-1.0, 1.5, 15).reshape(3, 5)     # a constant (3, 5) array
_ROW = np.linspace(0.5, 2.5, 5)                    # a constant row
_COL = np.linspace(-0.5, 0.75, 3).reshape(3, 1)     # a constant column


def both_modes(f, params, args=()):
    """(reverse, forward) gradients, with no silent fallback to forward mode."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", dd.FallbackWarning)
        rev = dd.gradient(f, params, args=args, mode="reverse")
        fwd = dd.gradient(f, params, args=args, mode="forward")
    return rev, fwd


def assert_same(rev, fwd):
    if isinstance(rev, tuple):
        assert len(rev) == len(fwd)
        for a, b in zip(rev, fwd):
            np.testing.assert_allclose(a, b, **TIGHT)
    else:
        np.testing.assert_allclose(rev, fwd, **TIGHT)


# ---------------------------------------------------------------------------
# Binary operations under every broadcast, both operand orders
# ---------------------------------------------------------------------------

_PAIRS = (("W", "b"), ("b", "W"), ("W", "c"), ("c", "W"), ("W", "W"), ("W", "2.0"),
          ("2.0", "W"), ("W", "s"), ("s", "W"), ("_C", "W"), ("W", "_ROW"), ("_COL", "b"),
          ("b", "b[0]"))
# every pairing for add (constant partials) and mul (operand-dependent
# partials, both orders); a few for the others, which share those code paths
# (each pairing costs a forward-mode compile of dual-array kernels)
_FEW_PAIRS = (("W", "b"), ("c", "W"), ("W", "2.0"), ("s", "W"), ("b", "b[0]"))
_SPELLINGS = {"add": "({a} + {b})", "sub": "({a} - {b})", "mul": "({a} * {b})",
              "div": "({a} / {b})", "pow": "({a} ** {b})", "max": "np.maximum({a}, {b})",
              "min": "np.minimum({a}, {b})"}
_PAIRS_OF = {name: _PAIRS if name in ("add", "mul") else _FEW_PAIRS
             for name in _SPELLINGS}


def _broadcast_function(name):
    """f((W (3, 5), b (5,), c (3, 1))): every operand pairing of one operation,
    each result weighted differently (s is a Var scalar: a scalar node)."""
    terms = [f"{k + 1.0} * np.sum({_SPELLINGS[name].format(a=a, b=b)} * _C[0, {k % 5}])"
             for k, (a, b) in enumerate(_PAIRS_OF[name])]
    if name == "pow":
        terms.append("np.sum(W ** 2)")
    src = (f"def broadcast_{name}(params):\n    W, b, c = params\n    s = b[1] * b[2]\n"
           "    return " + " + \\\n        ".join(terms) + "\n")
    namespace = {"np": np, "_C": _C, "_ROW": _ROW, "_COL": _COL}
    exec(src, namespace)
    return namespace[f"broadcast_{name}"]


BROADCASTS = {name: _broadcast_function(name) for name in _SPELLINGS}


@pytest.mark.parametrize("name", list(_SPELLINGS))
def test_binary_broadcasting_both_orders(name):
    W = RNG.uniform(0.5, 2.0, (3, 5))
    b = RNG.uniform(0.5, 2.0, 5)
    c = RNG.uniform(0.5, 2.0, (3, 1))
    if name in ("max", "min"):   # ties: the first operand wins, in both modes
        W[0, 0] = b[0]
        W[1, 2] = 2.0
        c[2, 0] = W[2, 3]
        b[3] = b[0]
    assert_same(*both_modes(BROADCASTS[name], (W, b, c)))


# ---------------------------------------------------------------------------
# Rules used in networks, on 1-D and 2-D arrays and on views
# ---------------------------------------------------------------------------

def activations(params):
    W, x = params
    h = np.tanh(W)
    e = np.exp(-x)
    sig = 1.0 / (1.0 + np.exp(-W))
    relu = np.maximum(W, 0.0)
    return (np.sum(h * W) + np.sum(e) + np.sum(sig ** 2) + np.sum(relu * relu)
            + np.sum(np.sin(x) * -x) + np.sum(np.log(x * x + 1.0)) + np.sum(np.tanh(x) ** 2))


def test_activation_rules():
    W = RNG.normal(size=(4, 6)) * 3.0
    W[0, 0] = 0.0      # relu at its kink: derivative 1 (first operand wins)
    W[1, 1] = -25.0    # tanh saturated: tanh' = 4e-22, kept to full relative accuracy
    x = RNG.normal(size=7)
    assert_same(*both_modes(activations, (W, x)))


def test_tanh_kernel_against_libm():
    x = np.concatenate([RNG.uniform(-1, 1, 3000) * 10.0 ** RNG.uniform(-12, 2.5, 3000),
                        [0.0, -0.0, 1e-310, 0.3465735902799726, 20.0, -22.0, 300.0]])
    kernel = numba.njit(lambda v: _k_tanh(v))
    got = np.array([kernel(v) for v in x])
    np.testing.assert_allclose(got[:, 0], np.tanh(x), rtol=1e-15, atol=0)
    np.testing.assert_allclose(got[:, 1], 1.0 / np.cosh(x) ** 2, rtol=2e-15, atol=0)
    assert np.array_equal(np.signbit(got[:, 0]), np.signbit(x))
    special = np.array([kernel(v) for v in (np.inf, -np.inf, 400.0)])
    np.testing.assert_array_equal(special, [[1.0, 0.0], [-1.0, 0.0], [1.0, 0.0]])
    assert np.isnan(kernel(np.nan)).all()


def strided_views(params):
    W, x = params
    V = W[::2, 1:]            # non-contiguous 2-D view
    u = x[::2]                # non-contiguous 1-D view
    col = W[:, 2]             # a column: strided ids
    return (np.sum(np.tanh(V) * V[0]) + np.sum(u * u)
            + np.sum(col / (1.0 + col * col)) + np.sum(np.exp(V) - u[:3]))


def test_non_contiguous_views():
    W = RNG.normal(size=(5, 4))
    x = RNG.normal(size=6)
    assert_same(*both_modes(strided_views, (W, x)))


# ---------------------------------------------------------------------------
# Ids of every origin in one array; in-place operators; zero partials
# ---------------------------------------------------------------------------

@numba.njit
def _layout_of(index):
    return _id_layout(wrap_var_array(np.zeros(index.shape), index, 0),
                      index.shape[0], index.shape[1])


def test_id_layout_classifies_contiguous_scattered_and_constant_ids():
    ids = np.arange(10, 22).reshape(3, 4)
    assert _layout_of(ids) == 10                     # contiguous: its first id
    assert _layout_of(ids[1:]) == 14                 # rows of a block: contiguous
    assert _layout_of(ids[:, :2]) == -3              # columns: scattered
    assert _layout_of(ids[::-1]) == -3
    for pos in [(0, 1), (1, 3), (2, 3)]:             # one id off, anywhere
        for delta in (1, -1, 12, -11):
            bad = ids.copy()
            bad[pos] += delta
            assert _layout_of(bad) == -3, (pos, delta)
    swapped = ids.copy()
    swapped[2, 2], swapped[2, 3] = swapped[2, 3], swapped[2, 2]
    assert _layout_of(swapped) == -3
    consts = np.full((2, 3), -1)
    assert _layout_of(consts) == -1                  # constants: no ids
    consts[1, 2] = 5
    assert _layout_of(consts) == -3                  # a first constant, then an id
    assert _layout_of(np.zeros((0, 3), np.int64)) == -1


def mixed_ids(x):
    v = np.zeros_like(x)          # constants (id -1) ...
    v[0] = x[0] * x[1]            # ... a scalar node ...
    v[1] = x[2]                   # ... an input ...
    v[3:5] = np.tanh(x[3:5])      # ... two elements of a block's output
    w = np.exp(v) * x + v ** 2    # blocks over the mixture
    return np.sum(w * v) + w[2] * x[5]


def test_blocks_over_inputs_scalar_nodes_blocks_and_constants():
    x = RNG.normal(size=6)
    rev, fwd = both_modes(mixed_ids, x)
    np.testing.assert_allclose(rev, fwd, **TIGHT)


def in_place(params):
    W, b = params
    y = W.copy()
    y *= b              # broadcast row
    y += W
    v = y[1:]           # a view: the updates below reach y
    v -= 1.5
    v /= (W[1:] * W[1:] + 1.0)
    y **= 2
    z = b.copy()
    z *= z
    return np.sum(y * W) + np.sum(z)


def test_in_place_operators_write_through_views():
    W = RNG.normal(size=(3, 4))
    b = RNG.normal(size=4)
    assert_same(*both_modes(in_place, (W, b)))


def zero_times_infinite(x):
    # maximum selects the constant 0 where x < 0 (partial 0); sqrt'(0) = inf:
    # the zero partial stops 0 * inf = nan.  And a zero adjoint: 0.0 * sqrt.
    return np.sum(np.sqrt(np.maximum(x, 0.0)) * x) + np.sum(0.0 * np.sqrt(x - x))


def test_zero_partial_or_adjoint_contributes_nothing():
    x = np.array([-1.0, 0.0, 2.0, -3.0, 4.0])
    x[1] = -0.5
    rev, fwd = both_modes(zero_times_infinite, x)
    assert np.all(np.isfinite(rev))
    np.testing.assert_allclose(rev, fwd, **TIGHT)


# ---------------------------------------------------------------------------
# Network, jacobian (several sweeps), tape growth
# ---------------------------------------------------------------------------

def mlp(params, X, t):
    W1, b1, W2, b2, W3, b3 = params
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.maximum(h1 @ W2 + b2, 0.0)
    out = h2 @ W3 + b3
    p = 1.0 / (1.0 + np.exp(-out[:, 0]))
    return 0.5 * np.sum((p - t) ** 2)


def _mlp_problem(batch=9, sizes=(4, 6, 5, 1)):
    rng = np.random.default_rng(3)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [rng.normal(size=(a, b)), 0.1 * rng.normal(size=b)]
    return tuple(params), rng.normal(size=(batch, sizes[0])), rng.uniform(size=batch)


def test_mlp_equals_forward_mode():
    params, X, t = _mlp_problem()
    assert_same(*both_modes(mlp, params, (X, t)))


def vector_valued(x):
    y = np.tanh(x) * x[0] + 1.0 / (1.0 + x * x)
    return y[1:] - y[:-1]


def test_reverse_jacobian_sweeps_blocks_once_per_output():
    x = RNG.normal(size=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error", dd.FallbackWarning)
        rev = dd.jacobian(vector_valued, x, mode="reverse")
    np.testing.assert_allclose(rev, dd.jacobian(vector_valued, x, mode="forward"), **TIGHT)


def grows_in_blocks(params, X, t):      # used only by the growth test
    return mlp(params, X, t) + np.sum(np.tanh(params[0]) * params[0])


def test_tape_and_blob_growth_rerecord_correctly(monkeypatch):
    monkeypatch.setattr(rv, "_MIN_CAPACITY", 4)
    monkeypatch.setattr(rv, "_INITIAL_NODES_PER_INPUT", 1)
    params, X, t = _mlp_problem(batch=40)
    expected = dd.gradient(grows_in_blocks, params, args=(X, t), mode="forward")
    for _ in range(2):   # first call: overflows and regrows; second: remembered size
        got = dd.gradient(grows_in_blocks, params, args=(X, t), mode="reverse")
        assert_same(got, expected)
    flat, layout = dd._engine.inputs.flatten_params(params)
    tape = rv._tape_for(grows_in_blocks, flat, (X, t), layout)
    assert tape.blob.size > 4 and tape.count > 4
