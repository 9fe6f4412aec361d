"""Hessians of scalar functions from one reverse-mode tape (forward over reverse).

The user's function runs ONCE on ``Var`` numbers with a tape that also keeps
every operation's second partials (``d2/di2, d2/di dj, d2/dj2``: the rule
table's ``d2``, hand-written ones for arithmetic and powers).  Then, for a
chunk of ``L`` input directions at a time,

* a forward pass over the tape pushes the tangents: ``T[k] = a T[i] + b T[j]``;
* a backward pass pushes the adjoints ``g`` (the gradient sweep) and their
  directional derivatives ``G`` (``L`` lanes)::

      G[i] += a G[k] + g[k] (aa T[i] + ab T[j])
      G[j] += b G[k] + g[k] (ab T[i] + bb T[j])

so ``G`` at the inputs is ``H`` times the chunk of directions.  The work is
about ``n`` times one gradient sweep over the tape, against about ``n^2 / 2``
function evaluations on hyper-dual numbers for forward over forward: much
less when the function costs more than a few operations per input (the
common case: Rosenbrock, sums of terms, log-sum-exp).  Entries above the
diagonal are kept and mirrored, so the result is exactly symmetric.

Supported: functions of a flat vector returning one number, made of scalar
operations (loops, indexing, branches, math/np calls, elementwise array
operations that record scalar nodes).  A block node (matmul, sum: see
:mod:`dualdiff._tape_blocks`), a rule without a second derivative, or several
outputs make :func:`value_gradient_and_hessian` return None, and the caller
uses hyper-dual numbers (forward over forward).  Products are multiplied
NaN-safely (a zero tangent or adjoint contributes zero even against an
infinite partial), as the forward drivers do.
"""

import math

import numpy as np

from . import reverse
from ._nbtape import (
    HEADER_WORDS, NO_SECOND, OWN_ADDRESS_WORD, SECOND_WORD, VarArrayType, wrap_var_array,
)
from ._numba_compat import numba
from .forward import _first_line

__all__ = ["value_gradient_and_hessian", "cached_hessian", "unsupported_reason", "LANES"]

#: Directions per forward/backward pass (columns of H per pass).  Tangents and
#: their adjoints take ``2 * LANES`` floats per tape node; the budget below
#: lowers the lanes for very long tapes.
LANES = 32
_LANE_WORDS_BUDGET = 1 << 23   # 2 x 64 MiB of tangents at most
_MIN_CAPACITY = 64

# driver results besides the overflow flags (1: nodes, 2: blob, 4: no d2)
_NOT_ONE_OUTPUT = 8
_BLOCK = 16
_REASONS = {
    2: "it uses a block operation (matmul, dot, sum)",
    NO_SECOND: "a function it uses has no second derivative in the rule table",
    _NOT_ONE_OUTPUT: "it does not return one number",
    _BLOCK: "it uses a block operation (matmul, dot, sum)",
}


# ===========================================================================
# The sweeps
# ===========================================================================

@numba.njit(cache=True, error_model="numpy")
def _hessian_sweeps(links, second, count, n, out_id, lanes, seeds, grad, out):
    """Fill ``grad`` (n,) and ``out`` from a recorded tape: the Hessian (n, n)
    by chunks of ``lanes`` identity directions when ``seeds`` is empty, else
    ``H @ seeds`` (n, L) in one pass.  Return 0, or ``_BLOCK`` when the tape
    holds a block node (not supported here).

    NaN safety: a node whose coefficients are all finite multiplies plainly
    (a zero coefficient times a finite lane is exactly zero, and the plain
    loops vectorise); a node with an infinite or NaN coefficient (a singular
    point, e.g. sqrt'(0)) takes a guarded loop in which a zero lane
    contributes zero, as the forward drivers' NaN-safe products do.
    """
    partials = links.view(np.float64)
    identity = seeds.shape[0] == 0
    if not identity:
        lanes = seeds.shape[1]
    if out_id < n:  # f returned a constant or one of its inputs
        for k in range(n, count):
            if links[k, 0] == -2:
                return _BLOCK
        grad[:] = 0.0
        if out_id >= 0:
            grad[out_id] = 1.0
        out[:, :] = 0.0
        return 0
    # Lanes [lo, hi) of a node's tangent (and [dlo, dhi) of its adjoint's
    # derivative) may be nonzero; every other lane is zero.  Terms that touch
    # few inputs (sums of local terms, banded problems) so cost a few lanes
    # instead of all of them.  One allocation for the floats, one for the ints.
    floats = np.zeros(count * (2 * lanes + 1))
    g = floats[:count]
    tangent = floats[count:count * (lanes + 1)].reshape((count, lanes))
    dadj = floats[count * (lanes + 1):].reshape((count, lanes))
    ints = np.empty((4, count), np.int64)
    lo, hi, dlo, dhi = ints[0], ints[1], ints[2], ints[3]
    g[out_id] = 1.0
    for c0 in range(0, n if identity else 1, lanes):
        width = min(lanes, n - c0)
        if c0 > 0:  # zero what the previous chunk wrote
            for k in range(count):
                tangent[k, lo[k]:hi[k]] = 0.0
                dadj[k, dlo[k]:dhi[k]] = 0.0
        for r in range(n):
            if not identity:
                lo[r] = lanes
                hi[r] = 0
                for lane in range(lanes):
                    t = seeds[r, lane]
                    tangent[r, lane] = t
                    if t != 0.0:
                        lo[r] = min(lo[r], lane)
                        hi[r] = lane + 1
            elif c0 <= r < c0 + width:
                tangent[r, r - c0] = 1.0
                lo[r] = r - c0
                hi[r] = r - c0 + 1
            else:
                lo[r] = lanes
                hi[r] = 0
        if not _tangents(links, partials, n, count, tangent, lo, hi):
            return _BLOCK
        dlo[:] = lanes
        dhi[:] = 0
        # the first chunk's backward pass also accumulates the adjoints g
        _second_adjoints(links, partials, second, g, c0 == 0, n, count, tangent, lo, hi,
                         dadj, dlo, dhi)
        if not identity:
            out[:, :] = dadj[:n, :]
            grad[:] = g[:n]
            return 0
        for r in range(n):
            for lane in range(width):
                out[r, c0 + lane] = dadj[r, lane]
    grad[:] = g[:n]
    # exactly symmetric: keep the entries on and above the diagonal
    for r in range(n):
        for c in range(r + 1, n):
            out[c, r] = out[r, c]
    return 0


@numba.njit(cache=True, error_model="numpy", inline="always")
def _safe(c, t):
    return c * t if t != 0.0 else 0.0


@numba.njit(cache=True, error_model="numpy")
def _tangents(links, partials, n, count, tangent, lo, hi):
    """Forward pass: ``T[k] = a T[i] + b T[j]`` for every recorded node;
    False if the tape holds a block node."""
    for k in range(n, count):
        i = links[k, 0]
        if i == -2:
            return False
        j = links[k, 1]
        a = partials[k, 2]
        b = partials[k, 3] if j >= 0 else 0.0
        l0 = lo[i]
        l1 = hi[i]
        if j >= 0:
            l0 = min(l0, lo[j])
            l1 = max(l1, hi[j])
        lo[k] = l0
        hi[k] = l1
        if math.isfinite(a) and math.isfinite(b):
            if j < 0:
                for lane in range(l0, l1):
                    tangent[k, lane] = a * tangent[i, lane]
            else:
                for lane in range(l0, l1):
                    tangent[k, lane] = a * tangent[i, lane] + b * tangent[j, lane]
        else:
            for lane in range(l0, l1):
                t = _safe(a, tangent[i, lane])
                if j >= 0:
                    t += _safe(b, tangent[j, lane])
                tangent[k, lane] = t
    return True


@numba.njit(cache=True, error_model="numpy")
def _second_adjoints(links, partials, second, g, accumulate, n, count, tangent, lo, hi,
                     dadj, dlo, dhi):
    """Backward pass: the adjoints' derivatives along the tangents (and, with
    ``accumulate``, the adjoints g themselves: g[k] is complete when the
    pass reaches node k)."""
    for k in range(count - 1, n - 1, -1):
        gk = g[k]
        i = links[k, 0]
        j = links[k, 1]
        a = partials[k, 2]
        b = partials[k, 3] if j >= 0 else 0.0
        if accumulate and gk != 0.0:
            if a != 0.0:
                g[i] += a * gk
            if b != 0.0:
                g[j] += b * gk
        # g[k] times the second partials; zero when g[k] is (NaN-safe)
        aa = second[k, 0] * gk if gk != 0.0 else 0.0
        ab = second[k, 1] * gk if gk != 0.0 and j >= 0 else 0.0
        bb = second[k, 2] * gk if gk != 0.0 and j >= 0 else 0.0
        d0 = dlo[k]
        d1 = dhi[k]
        finite = math.isfinite(a) and math.isfinite(b) and math.isfinite(aa) \
            and math.isfinite(ab) and math.isfinite(bb)
        # The updates of i and j are written out: an inline="always" helper
        # for both made the sweeps 3-5x slower (benchmarks hessian, mode='reverse').
        # into i: a dadj[k] + aa T[i] + ab T[j], over the lanes they can touch
        c0, c1 = (d0, d1) if a != 0.0 else (tangent.shape[1], 0)
        if aa != 0.0:
            c0, c1 = min(c0, lo[i]), max(c1, hi[i])
        if ab != 0.0:
            c0, c1 = min(c0, lo[j]), max(c1, hi[j])
        if c0 < c1:
            dlo[i] = min(dlo[i], c0)
            dhi[i] = max(dhi[i], c1)
            if finite and j < 0:
                for lane in range(c0, c1):
                    dadj[i, lane] += a * dadj[k, lane] + aa * tangent[i, lane]
            elif finite:
                for lane in range(c0, c1):
                    dadj[i, lane] += a * dadj[k, lane] + aa * tangent[i, lane] \
                        + ab * tangent[j, lane]
            else:
                for lane in range(c0, c1):
                    t = _safe(a, dadj[k, lane]) + _safe(aa, tangent[i, lane])
                    if j >= 0:
                        t += _safe(ab, tangent[j, lane])
                    dadj[i, lane] += t
        if j < 0:
            continue
        # into j: b dadj[k] + ab T[i] + bb T[j]
        c0, c1 = (d0, d1) if b != 0.0 else (tangent.shape[1], 0)
        if ab != 0.0:
            c0, c1 = min(c0, lo[i]), max(c1, hi[i])
        if bb != 0.0:
            c0, c1 = min(c0, lo[j]), max(c1, hi[j])
        if c0 < c1:
            dlo[j] = min(dlo[j], c0)
            dhi[j] = max(dhi[j], c1)
            if finite:
                for lane in range(c0, c1):
                    dadj[j, lane] += b * dadj[k, lane] + ab * tangent[i, lane] \
                        + bb * tangent[j, lane]
            else:
                for lane in range(c0, c1):
                    dadj[j, lane] += _safe(b, dadj[k, lane]) + _safe(ab, tangent[i, lane]) \
                        + _safe(bb, tangent[j, lane])


# ===========================================================================
# The driver: record once, sweep, in one compiled call
# ===========================================================================

_DRIVER = f"""
def driver(x, seeds, capacity, lanes, args):
    n = x.shape[0]
    header = np.zeros({HEADER_WORDS}, np.int64)
    links = np.empty((capacity, 4), np.int64)
    second = np.zeros((capacity, 3))
    blob = np.empty(1)
    header[0] = n
    header[1] = capacity
    header[3] = links.ctypes.data
    header[4] = blob.ctypes.data
    header[5] = 0
    header[{OWN_ADDRESS_WORD}] = header.ctypes.data
    header[{SECOND_WORD}] = second.ctypes.data
    tape = header[{OWN_ADDRESS_WORD}]
    y = f(wrap_var_array(x.copy(), np.arange(n), tape), *args)
    out_values, out_ids, shape = outputs(y)
    grad = np.empty(n)
    out = np.empty((n, n if seeds.shape[0] == 0 else seeds.shape[1]))
    flags = header[2]
    if flags == 0:
        if shape.shape[0] != 0:  # an array, tuple or list, even of one number
            flags = {_NOT_ONE_OUTPUT}
        else:
            flags = sweeps(links, second, header[0], n, out_ids[0], lanes, seeds, grad, out)
    value = out_values[0] if out_values.shape[0] > 0 else 0.0
    return value, grad, out, flags, header[0]
"""


def _build_driver(dispatcher):
    namespace = {"np": np, "f": dispatcher, "wrap_var_array": wrap_var_array,
                 "outputs": reverse._outputs, "sweeps": _hessian_sweeps}
    exec(compile(_DRIVER, "<dualdiff tape Hessian driver>", "exec"), namespace)
    return numba.njit(namespace["driver"])


class _HessianState:
    """Per function: drivers by argument types, remembered capacities, and
    why the tape Hessian does not apply (then the caller uses hyper-duals)."""

    def __init__(self):
        self.drivers = {}
        self.capacity = {}
        self.unsupported = {}
        # n -> (driver, capacity, lanes) for f(x) without extra arguments,
        # once a call has succeeded: the per-call fast path of dd.hessian
        self.fast = {}


def _state(target):
    state = getattr(target, "tape_hessian_state", None)
    if state is None:
        state = target.tape_hessian_state = _HessianState()
    return state


def unsupported_reason(target, args):
    """Why the tape Hessian was found not to apply to f (None if unknown)."""
    try:
        key = tuple(numba.typeof(a) for a in args)
    except Exception:
        return None
    return _state(target).unsupported.get(key)


def _driver_for(target, args, state):
    try:
        argtypes = tuple(numba.typeof(a) for a in args) if args else ()
    except Exception as exc:
        return None, f"an argument has no Numba type: {_first_line(exc)}"
    driver = state.drivers.get(argtypes)
    if driver is not None:
        return driver, argtypes
    if target.fallback_reason is not None or reverse._state(target).fallback_reason is not None:
        return None, "it does not compile for reverse-mode numbers"
    reason = state.unsupported.get(argtypes)
    if reason is not None:
        return None, reason
    try:
        dispatcher = target.get_dispatcher(len(args))
        dispatcher.compile((VarArrayType(1, "C"),) + argtypes)
    except Exception as exc:
        state.unsupported[argtypes] = f"it does not compile for reverse-mode numbers: " \
                                      f"{_first_line(exc)}"
        return None, state.unsupported[argtypes]
    driver = state.drivers[argtypes] = _build_driver(dispatcher)
    return driver, argtypes


_IDENTITY = np.empty((0, 0))


def value_gradient_and_hessian(target, x, args, seeds=_IDENTITY):
    """``(value, gradient (n,), hessian (n, n))`` of a scalar f from one
    second-order tape, or None when the tape Hessian does not apply (see the
    module docstring); with ``seeds`` (n, L), ``H @ seeds`` instead of the
    Hessian, in one pass.  ``x`` is a float64 vector, never modified."""
    state = _state(target)
    driver, key = _driver_for(target, args, state)
    if driver is None:
        return None
    n = x.shape[0]
    capacity = state.capacity.get((key, n), max(_MIN_CAPACITY, 8 * n + 1))
    while True:
        lanes = max(1, min(n, LANES, _LANE_WORDS_BUDGET // max(capacity, 1)))
        value, grad, out, flags, count = driver(x, seeds, capacity, lanes, args)
        if flags == 1:  # the nodes overflowed: record again with room
            if capacity * 56 >= reverse.get_tape_limit():
                return None  # hyper-duals need no tape
            capacity *= 2
            continue
        if flags != 0:
            for bit, reason in _REASONS.items():
                if flags & bit:
                    state.unsupported[key] = reason
                    return None
        if state.capacity.get((key, n), 0) < count + 1:
            state.capacity[(key, n)] = count + 1
        if not args and seeds.shape[0] == 0:
            state.fast[n] = (driver, state.capacity[(key, n)], lanes)
        return value, grad, out


def cached_hessian(target, x):
    """The Hessian of f at x (a C-contiguous float64 vector; no extra
    arguments) through the driver of an earlier successful call, or None.
    The checks of the public API were passed by that call; this path only
    saves their cost (a tape that now overflows returns None, and the caller
    takes the full path, which grows it)."""
    state = getattr(target, "tape_hessian_state", None)
    if state is None:
        return None
    entry = state.fast.get(x.shape[0])
    if entry is None:
        return None
    driver, capacity, lanes = entry
    value, grad, hess, flags, count = driver(x, _IDENTITY, capacity, lanes, ())
    return hess if flags == 0 else None
