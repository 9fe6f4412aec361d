"""Fast paths of the elementwise kernels on dual arrays (dualdiff._compiled.array_ops).

Without broadcasting, linear operations (x + y, x - y, c * x, x * c, x / c,
c + x, x + c, c - x, x - c, -x) run as flat loops over the float stores and
x ** 2 as a loop over rows; everything else takes the general broadcasting
loop.  Each case here is checked bit for bit against a NumPy closed form on
the float store (value in column 0, partials after it), with the same float
operations as the scalar rules, so a fast path taken where it must not be
(broadcast operands, strided or transposed views, nested duals, overlapping
in-place operands) or computing anything else shows up as a mismatch.
"""

import numpy as np
import pytest
from numba import njit

import dualdiff as dd
from dualdiff import examples
from dualdiff._compiled.array import wrap_dual_array
from dualdiff._compiled.dual import make_dual

RNG = np.random.default_rng(11)
K = 4   # floats per element: Dual[float64, 3], or Dual[Dual[float64, 1], 1]


@njit
def _first_order():
    return make_dual(0.0, (0.0, 0.0, 0.0), 0)


@njit
def _nested():
    inner = make_dual(0.0, (0.0,), 0)
    return make_dual(inner, (inner,), 0)


def _store(*shape):
    return RNG.normal(size=shape + (K,))


# ---------------------------------------------------------------------------
# Closed forms on float stores
# ---------------------------------------------------------------------------

def _with_primal(every, primal):
    out = every.copy()
    out[..., 0] = primal
    return out


def _square(d):
    v = d[..., :1]
    return np.concatenate([v * v, d[..., 1:] * (v + v)], axis=-1)


def _scalar_forms(d, c):
    c = float(c)
    v = d[..., 0]
    return (c * d, d * c, d / c, _with_primal(d, c + v), _with_primal(d, v + c),
            _with_primal(-d, c - v), _with_primal(d, v - c), -d)


# ---------------------------------------------------------------------------
# Dual arrays with a number: one compiled function per operand type
# ---------------------------------------------------------------------------

@njit
def _scalar_ops(data, c, proto):
    x = wrap_dual_array(data, proto)
    return ((c * x).data, (x * c).data, (x / c).data, (c + x).data, (x + c).data,
            (c - x).data, (x - c).data, (-x).data)


@njit
def _squares(data, proto):
    x = wrap_dual_array(data, proto)
    out = np.empty_like(x)
    for i in range(len(x)):
        out[i] = x[i] ** 2
    return (x ** 2).data, out.data


def _views(store):
    """C-contiguous 1-D and 2-D stores, a strided and a transposed view."""
    return {"C 1-D": store[0], "C 2-D": store, "strided": store[0, ::2],
            "transposed": store.transpose((1, 0, 2)), "empty": store[0, :0]}


@pytest.mark.parametrize("view", ["C 1-D", "C 2-D", "strided", "transposed", "empty"])
@pytest.mark.parametrize("c", [2.5, 3, np.int64(-2)], ids=["float", "int", "int64"])
def test_array_with_number(view, c):
    d = _views(_store(3, 6))[view]
    got = _scalar_ops(d, c, _first_order())
    for g, want in zip(got, _scalar_forms(d, c)):
        np.testing.assert_array_equal(g, want)


@pytest.mark.parametrize("view", ["C 1-D", "strided", "empty"])
def test_square(view):
    d = _views(_store(3, 6))[view]
    array_form, scalar_loop = _squares(d, _first_order())
    np.testing.assert_array_equal(array_form, _square(d))
    np.testing.assert_array_equal(array_form, scalar_loop)


def test_square_2d_and_transposed():
    @njit
    def square(data, proto):
        return (wrap_dual_array(data, proto) ** 2).data

    d = _store(3, 5)
    for view in (d, d.transpose((1, 0, 2))):
        np.testing.assert_array_equal(square(view, _first_order()), _square(view))


def test_nested_duals():
    # every float of a nested dual takes part in a linear operation, and only
    # the innermost primal in c + x; the square is not linear in the floats
    # (no fast path): compare it with scalar squares
    d = _store(5)
    got = _scalar_ops(d, 3, _nested())
    for g, want in zip(got, _scalar_forms(d, 3)):
        np.testing.assert_array_equal(g, want)
    array_form, scalar_loop = _squares(d, _nested())
    np.testing.assert_array_equal(array_form, scalar_loop)
    v, d_in, e_out, cross = d.T
    np.testing.assert_array_equal(array_form[:, 0], v * v)
    np.testing.assert_allclose(array_form[:, 3], 2 * (v * cross + d_in * e_out), rtol=1e-15)


# ---------------------------------------------------------------------------
# Two dual arrays: same shapes (fast) and broadcast (general)
# ---------------------------------------------------------------------------

@njit
def _pair_ops(a, b, proto):
    x, y = wrap_dual_array(a, proto), wrap_dual_array(b, proto)
    return (x + y).data, (x - y).data, (y - x).data


PAIRS = {
    "C 1-D": ((5,), (5,)),
    "C 2-D": ((3, 4), (3, 4)),
    "rows broadcast": ((3, 4), (4,)),
    "size-1 axis": ((3, 4), (3, 1)),
    "size-1 vector": ((5,), (1,)),
}


@pytest.mark.parametrize("pair", list(PAIRS))
def test_dual_pairs(pair):
    sa, sb = PAIRS[pair]
    a, b = _store(*sa), _store(*sb)
    # broadcast the element axes of b like NumPy, keeping the float axis
    bb = b.reshape((1,) * (len(sa) - len(sb)) + b.shape)
    add, sub, rsub = _pair_ops(a, b, _first_order())
    np.testing.assert_array_equal(add, a + bb)
    np.testing.assert_array_equal(sub, a - bb)
    np.testing.assert_array_equal(rsub, bb - a)


def test_dual_pairs_strided_and_transposed():
    a, b = _store(4, 6), _store(6, 4)
    for x, y in ((a[::2], b.transpose((1, 0, 2))[::2]), (a[:, ::-1], b.transpose((1, 0, 2))),
                 (a, b.transpose((1, 0, 2)))):
        add, sub, rsub = _pair_ops(x, y, _first_order())
        np.testing.assert_array_equal(add, x + y)
        np.testing.assert_array_equal(sub, x - y)
        np.testing.assert_array_equal(rsub, y - x)


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="broadcast"):
        _pair_ops(_store(3, 4), _store(3, 5), _first_order())


# ---------------------------------------------------------------------------
# In place
# ---------------------------------------------------------------------------

@njit
def _inplace_number(data, c, proto):
    x = wrap_dual_array(data, proto)
    x += c
    x -= 2 * c
    x *= c
    x /= c
    x **= 2
    return data


@njit
def _inplace_pair(a, b, proto):
    x, y = wrap_dual_array(a, proto), wrap_dual_array(b, proto)
    x += y
    x -= y
    x -= y
    return a


@njit
def _inplace_overlap(a, proto):
    x = wrap_dual_array(a, proto)
    x[1:] += x[:-1]
    x[:-1] -= x[1:]
    return a


def _inplace_number_form(d, c):
    c = float(c)
    d = _with_primal(d, d[..., 0] + c)
    d = _with_primal(d, d[..., 0] - 2 * c)
    return _square(d * c / c)


@pytest.mark.parametrize("view", ["C 1-D", "C 2-D", "strided", "transposed"])
@pytest.mark.parametrize("c", [1.5, 3], ids=["float", "int"])
def test_inplace_with_number(view, c):
    store = _store(3, 6)
    d = _views(store)[view]
    want = _inplace_number_form(d, c)
    _inplace_number(d, c, _first_order())
    np.testing.assert_array_equal(d, want)


@pytest.mark.parametrize("sa, sb", [((6,), (6,)), ((3, 4), (3, 4)), ((3, 4), (4,))])
def test_inplace_pair(sa, sb):
    a, b = _store(*sa), _store(*sb)
    want = a + b - b - b
    _inplace_pair(a, b, _first_order())
    np.testing.assert_array_equal(a, want)


def test_inplace_overlapping_views():
    a = _store(7)
    want = a.copy()
    want[1:] += want[:-1].copy()
    want[:-1] -= want[1:].copy()
    _inplace_overlap(a, _first_order())
    np.testing.assert_array_equal(a, want)


# ---------------------------------------------------------------------------
# End to end: the vectorized Rosenbrock of the arrays benchmark
# ---------------------------------------------------------------------------

def rosenbrock_vec(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def test_rosenbrock_vectorized_equals_loops():
    # the same float operations in the same order as the loop version
    x = np.linspace(-1.2, 1.1, 11)
    g = dd.gradient(rosenbrock_vec, x, mode="forward", chunk=K - 1)
    np.testing.assert_array_equal(
        g, dd.gradient(examples.rosenbrock, x, mode="forward", chunk=K - 1))
    np.testing.assert_allclose(g, examples.rosenbrock_gradient(x), rtol=1e-13, atol=1e-13)
