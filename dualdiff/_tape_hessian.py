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
:mod:`dualdiff._compiled.tape_blocks`), a rule without a second derivative, or several
outputs make :func:`value_gradient_and_hessian` return None, and the caller
uses hyper-dual numbers (forward over forward).  Products are multiplied
NaN-safely (a zero tangent, adjoint or partial contributes zero even against
an infinite one), as the forward drivers do.

Forward mode decides singular points.  Reverse and forward sweeps sum the
same chain-rule products in different orders, and where a partial is
infinite the order matters: in ``cbrt(sin(x0) - sin(x0))`` forward mode's
tangent of the difference is exactly 0 (so the term is 0) while the backward
pass meets ``inf - inf``.  So a sweep whose gradient or Hessian holds an inf
or nan says so (:data:`NOT_FINITE`), and the caller computes that call with
hyper-duals instead: the answer is forward mode's, at the price of a forward
sweep on such calls only.
"""

import math

import numpy as np

from . import reverse
from ._compiled.tape import (
    HEADER_WORDS, NO_SECOND, NOT_FINITE, OWN_ADDRESS_WORD, SECOND_UNDERFLOW, SECOND_WORD,
    VarType,
    node_of, per_operation_tape,
)
from ._compiled.var_array import wrap_var_array
from ._compiled.compat import c_caller, numba, types
from ._compiled.typeof import typeof_args
from ._engine.diskcache import cached_njit
from ._engine.target import NotCompiled, first_line

__all__ = ["value_gradient_and_hessian", "fast_hessian", "unsupported_reason", "LANES",
           "NOT_FINITE"]

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
def _hessian_sweeps(links, second, count, n, out_id, lanes, seeds, grad, out, work, iwork):
    """Fill ``grad`` (n,; or nothing if it is empty) and ``out`` from a
    recorded tape: the Hessian (n, n) by chunks of ``lanes`` identity
    directions when ``seeds`` is empty, else ``H @ seeds`` (n, L) in one
    pass.  Return 0, or ``_BLOCK`` when the tape holds a block node (not
    supported here).  ``work`` (zeroed, at least ``count * (2 L + 1)``
    floats) and ``iwork`` (``4 count`` ints) are scratch, from the driver's
    one buffer.

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
        if grad.shape[0] > 0:
            grad[:] = 0.0
            if out_id >= 0:
                grad[out_id] = 1.0
        out[:, :] = 0.0
        return 0
    # Lanes [lo, hi) of a node's tangent (and [dlo, dhi) of its adjoint's
    # derivative) may be nonzero; every other lane is zero.  Terms that touch
    # few inputs (sums of local terms, banded problems) so cost a few lanes
    # instead of all of them.
    g = work[:count]
    tangent = work[count:count * (lanes + 1)].reshape((count, lanes))
    dadj = work[count * (lanes + 1):count * (2 * lanes + 1)].reshape((count, lanes))
    lo = iwork[:count]
    hi = iwork[count:2 * count]
    dlo = iwork[2 * count:3 * count]
    dhi = iwork[3 * count:4 * count]
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
            if grad.shape[0] > 0:
                grad[:] = g[:n]
            return _finite_or_flag(g[:n], out)  # g: also when grad is not asked for
        for r in range(n):
            for lane in range(width):
                out[r, c0 + lane] = dadj[r, lane]
    if grad.shape[0] > 0:
        grad[:] = g[:n]
    # exactly symmetric: keep the entries on and above the diagonal
    for r in range(n):
        for c in range(r + 1, n):
            out[c, r] = out[r, c]
    return _finite_or_flag(g[:n], out)  # g: also when grad is not asked for


@numba.njit(cache=True, error_model="numpy")
def _finite_or_flag(grad, out):
    """0, or ``NOT_FINITE`` when the gradient or the Hessian (block) holds an
    inf or nan: then forward over forward answers (see the module docstring)."""
    for value in grad:
        if not math.isfinite(value):
            return NOT_FINITE
    for value in out.ravel():
        if not math.isfinite(value):
            return NOT_FINITE
    return 0


@numba.njit(cache=True, error_model="numpy", inline="always")
def _safe(c, t):
    """``c * t``, or 0 when either factor is exactly 0 (even against inf or
    nan): the README's rule for singular partials, in both directions."""
    return c * t if (c != 0.0) & (t != 0.0) else 0.0


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
        elif accumulate:  # 0 * inf: nan, as in the backward sweep of reverse mode
            if a - a != 0.0:
                g[i] = math.nan
            if j >= 0 and b - b != 0.0:
                g[j] = math.nan
        # g[k] times the second partials, NaN-safely both ways: a zero second
        # partial (a linear node) times an infinite adjoint (one downstream
        # of sqrt or cbrt at 0) is 0, as forward mode has it (issue 22:
        # cbrt(x0 - x0) + x1 gave a nan Hessian)
        aa = _safe(second[k, 0], gk)
        ab = _safe(second[k, 1], gk) if j >= 0 else 0.0
        bb = _safe(second[k, 2], gk) if j >= 0 else 0.0
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
            if finite and aa == 0.0 and ab == 0.0:  # a linear node: one term
                for lane in range(c0, c1):
                    dadj[i, lane] += a * dadj[k, lane]
            elif finite and j < 0:
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
            if finite and ab == 0.0 and bb == 0.0:
                for lane in range(c0, c1):
                    dadj[j, lane] += b * dadj[k, lane]
            elif finite:
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
# The generated driver is the only code compiled per function, so it holds
# little besides the call of f.  Issue 4, Rosenbrock n = 10, CPU seconds of
# the first mode="reverse" call in a fresh process: 2.9 s before, 1.4-1.6 s
# now, of which compiling f for tape numbers is 0.8-1.2 s and the driver and
# the rest 0.75-0.9 s (it was 1.9-2.1 s):
#
# * the sweeps are called through the address of a cached C callback
#   (``_sweeps_callback``): calling the dispatcher ``_hessian_sweeps`` links
#   its code into every driver, where LLVM optimises and compiles it again
#   (0.86 s);
# * the one buffer of a recording (tape and sweep scratch) comes zeroed from
#   the cached ``_workspace`` (an ``np.zeros`` in the driver is a compile
#   unit of its own, 0.1-0.4 s each) and is cut up by slicing and ``view``
#   (lowered directly);
# * the output is read by code written for f's return type (no
#   ``reverse._outputs``: 0.3 s);
# * the caller allocates ``out`` and ``grad``: returning an array from
#   compiled code costs about 0.4 us to box, passing one in 0.03 us.
# A call at n = 10 went from 3.7 to 2.3 us (the driver) + 0.5 us (dd.hessian's
# fast path).

_SWEEPS_SIGNATURE = numba.types.int64(
    numba.types.CPointer(numba.types.int64),    # links (count, 4)
    numba.types.CPointer(numba.types.float64),  # second (count, 3)
    numba.types.int64, numba.types.int64, numba.types.int64, numba.types.int64,
    numba.types.CPointer(numba.types.float64), numba.types.int64, numba.types.int64,  # seeds
    numba.types.CPointer(numba.types.float64), numba.types.int64,   # grad
    numba.types.CPointer(numba.types.float64), numba.types.int64,   # out (n, columns)
    numba.types.CPointer(numba.types.float64), numba.types.CPointer(numba.types.int64))  # work


def _sweeps_c(links, second, count, n, out_id, lanes, seeds, seed_rows, seed_columns,
              grad, grad_size, out, columns, work, iwork):
    """``_hessian_sweeps`` on raw buffers (C-contiguous), for the drivers
    (compiled as a C callback by :func:`_sweeps_callback`)."""
    if seed_rows > 0:
        lanes = seed_columns
    return _hessian_sweeps(numba.carray(links, (count, 4)), numba.carray(second, (count, 3)),
                           count, n, out_id, lanes,
                           numba.carray(seeds, (seed_rows, seed_columns)),
                           numba.carray(grad, (grad_size,)), numba.carray(out, (n, columns)),
                           numba.carray(work, (count * (2 * lanes + 1),)),
                           numba.carray(iwork, (4 * count,)))


_call_sweeps = c_caller(_SWEEPS_SIGNATURE)
_SWEEPS_CALLBACK = []


def _sweeps_callback():
    """The C callback of the sweeps, compiled (or loaded from Numba's cache)
    on first use: at import it would make ``import dualdiff`` start Numba's
    compiler (0.3 s)."""
    if not _SWEEPS_CALLBACK:
        _SWEEPS_CALLBACK.append(
            numba.cfunc(_SWEEPS_SIGNATURE, cache=True, error_model="numpy")(_sweeps_c))
    return _SWEEPS_CALLBACK[0]


@numba.njit(cache=True)
def _workspace(words):
    """The zeroed buffer of one recording, in int64 words (the driver views
    the float parts as float64)."""
    return np.zeros(words, np.int64)


_DRIVER = f"""
def driver(x, grad, out, seeds, capacity, lanes, sweeps_address, args):
    n = x.shape[0]
    width = lanes if seeds.shape[0] == 0 else seeds.shape[1]
    # header, nodes, input ids, sweep ints | second partials, input values, sweep floats
    start = {HEADER_WORDS} + 8 * capacity + n
    ints = workspace(start + 3 * capacity + n + capacity * (2 * width + 1))
    header = ints[:{HEADER_WORDS}]
    links = ints[{HEADER_WORDS}:{HEADER_WORDS} + 4 * capacity].reshape((capacity, 4))
    ids = ints[{HEADER_WORDS} + 4 * capacity:{HEADER_WORDS} + 4 * capacity + n]
    iwork = ints[{HEADER_WORDS} + 4 * capacity + n:start]
    floats = ints[start:].view(np.float64)
    second = floats[:3 * capacity].reshape((capacity, 3))
    values = floats[3 * capacity:3 * capacity + n]
    work = floats[3 * capacity + n:]
    for i in range(n):
        ids[i] = i
        values[i] = x[i]
    header[0] = n
    header[1] = capacity
    header[3] = links.ctypes.data
    header[4] = values.ctypes.data  # no blob (capacity 0): a block node sets flag 2
    header[{OWN_ADDRESS_WORD}] = header.ctypes.data
    header[{SECOND_WORD}] = second.ctypes.data
    y = f(wrap_var_array(values, ids, per_operation_tape(header[{OWN_ADDRESS_WORD}])), *args)
    {{output}}
    flags = header[2]
    if flags == 0:
        flags = call_sweeps(sweeps_address, (
            links.ctypes, second.ctypes, header[0], n, out_id, lanes, seeds.ctypes,
            seeds.shape[0], seeds.shape[1], grad.ctypes, grad.shape[0], out.ctypes,
            out.shape[1], work.ctypes, iwork.ctypes))
    return value, flags, header[0]
"""

# f's return type -> how the driver reads it
_VAR_OUTPUT = "value = y.value\n    out_id = node_of(y)"
_REAL_OUTPUT = "value = 1.0 * y\n    out_id = -1"


def _build_driver(dispatcher, return_type):
    """The compiled driver for f returning ``return_type`` (a Var or a real),
    or None for any other output (not one number)."""
    if isinstance(return_type, VarType):
        output = _VAR_OUTPUT
    elif isinstance(return_type, (numba.types.Integer, numba.types.Float, numba.types.Boolean)):
        output = _REAL_OUTPUT
    else:
        return None
    # the sweeps' C callback comes as an address at run time: in the code it
    # would make the driver uncacheable (it differs per process)
    namespace = {"np": np, "f": dispatcher, "wrap_var_array": wrap_var_array,
                 "per_operation_tape": per_operation_tape, "node_of": node_of,
                 "workspace": _workspace, "call_sweeps": _call_sweeps}
    exec(compile(_DRIVER.format(output=output), "<dualdiff tape Hessian driver>", "exec"),
         namespace)
    return cached_njit(namespace["driver"])


class _HessianState:
    """Per function: drivers by argument types, remembered capacities, and
    why the tape Hessian does not apply (then the caller uses hyper-duals)."""

    def __init__(self):
        self.capacity = {}
        self.unsupported = {}
        # (n, argument types) -> (driver, capacity, lanes) once a call has
        # succeeded: for the per-call fast path of dd.hessian
        self.fast = {}
        self.fast_runs = {}  # same key -> (that entry, the function fast_hessian made of it)


def _state(target):
    state = target.tape_hessian_state
    if state is None:
        state = target.tape_hessian_state = _HessianState()
    return state


def unsupported_reason(target, args):
    """Why the tape Hessian was found not to apply to f (None if unknown)."""
    try:
        key = typeof_args(args)
    except Exception:
        return None
    return _state(target).unsupported.get(key)


def _driver_for(target, args, state):
    """``(driver, argument types)``, or ``(None, why the tape Hessian does not
    apply)``."""
    try:
        argtypes = typeof_args(args)
    except Exception as exc:  # no Numba type (what typeof raises varies)
        return None, f"an argument has no Numba type: {first_line(exc)}"
    reason = state.unsupported.get(argtypes)
    if reason is not None:
        return None, reason
    reverse_state = target.reverse_state
    if target.fallback_reason is not None or \
            (reverse_state is not None and reverse_state.fallback_reason is not None):
        return None, "it does not compile for reverse-mode numbers"
    try:
        return target.driver(("tape hessian",), reverse.input_type(None, per_operation=True),
                             args, _one_number_driver, vectorize=False), argtypes
    except NotCompiled as exc:
        reason = str(exc)
        if reason != _REASONS[_NOT_ONE_OUTPUT]:
            reason = f"it does not compile for reverse-mode numbers: {reason}"
        state.unsupported[argtypes] = reason
        return None, reason


def _one_number_driver(dispatcher, returned):
    driver = _build_driver(dispatcher, returned)
    if driver is None:
        raise NotCompiled(_REASONS[_NOT_ONE_OUTPUT])
    return driver


_IDENTITY = np.empty((0, 0))
_NO_GRADIENT = np.empty(0)  # the sweeps skip the gradient (never written)


def value_gradient_and_hessian(target, x, args, seeds=_IDENTITY):
    """``(value, gradient (n,), hessian (n, n))`` of a scalar f from one
    second-order tape, None when the tape Hessian does not apply, or
    :data:`NOT_FINITE` when the answer at x holds an inf or nan (forward mode
    decides it: see the module docstring); with ``seeds`` (n, L),
    ``H @ seeds`` instead of the Hessian, in one pass.  ``x`` is a float64
    vector, never modified."""
    state = _state(target)
    driver, key = _driver_for(target, args, state)
    if driver is None:
        return None
    n = x.shape[0]
    capacity = state.capacity.get((key, n), max(_MIN_CAPACITY, 8 * n + 1))
    seeds = np.ascontiguousarray(seeds, dtype=np.float64)
    grad = np.empty(n)
    out = np.empty((n, n if seeds.shape[0] == 0 else seeds.shape[1]))
    while True:
        lanes = max(1, min(n, LANES, _LANE_WORDS_BUDGET // max(capacity, 1)))
        value, flags, count = driver(x, grad, out, seeds, capacity, lanes,
                                     _sweeps_callback().address, args)
        if flags & 1:  # the nodes overflowed: record again with room
            if capacity * 56 >= reverse.get_tape_limit():
                return None  # hyper-duals need no tape
            capacity *= 2
            continue
        if flags & (NOT_FINITE | SECOND_UNDERFLOW):
            return NOT_FINITE  # forward mode decides this call
        if flags != 0:
            for bit, reason in _REASONS.items():
                if flags & bit:
                    state.unsupported[key] = reason
                    return None
        if state.capacity.get((key, n), 0) < count + 1:
            state.capacity[(key, n)] = count + 1
        if seeds.shape[0] == 0:
            state.fast[(n, key)] = (driver, state.capacity[(key, n)], lanes)
        return value, grad, out


def fast_hessian(target, n, argtypes=()):
    """A function ``(x, args) -> Hessian`` (or None when the tape overflows:
    then take the full path, which grows it) for f at ``n`` inputs and extra
    arguments of the Numba types ``argtypes``, through the driver of an
    earlier successful call; None if there was none.  ``x`` must be a float64
    vector of ``n`` elements, C-contiguous and aligned, and ``args`` of those
    types: the driver's compiled entry point is called directly, without
    Numba's type dispatch (0.2-0.3 us a call)."""
    state = target.tape_hessian_state
    key = (n, argtypes)
    entry = state.fast.get(key) if state is not None else None
    if entry is None:
        return None
    made = state.fast_runs.get(key)
    if made is not None and made[0] == entry:
        return made[1]
    driver, capacity, lanes = entry
    sweeps = _sweeps_callback().address
    signature = tuple(numba.typeof(a) for a in (np.empty(n), _NO_GRADIENT, np.empty((n, n)),
                                                _IDENTITY, capacity, lanes, sweeps))
    compiled = driver.overloads.get(signature + (types.BaseTuple.from_types(argtypes),))
    if compiled is None:
        return None
    call = compiled.entry_point

    def hessian(x, args):
        hess = np.empty((n, n))
        return hess if call(x, _NO_GRADIENT, hess, _IDENTITY, capacity, lanes, sweeps,
                            args)[1] == 0 else None

    state.fast_runs[key] = (entry, hessian)
    return hessian
