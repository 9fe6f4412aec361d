"""Reverse mode: record a tape while ``f`` runs on ``Var`` numbers, sweep it backwards.

For many inputs and few outputs.  The user's function is compiled unchanged
for :class:`~dualdiff._compiled.var_array.VarArrayType` inputs.  Operations on ``Var``
numbers carry their derivative as a linear form of at most two tape nodes
(local partials from the rule table :mod:`dualdiff.rules`) and append a
32-byte node (two parent ids, two partials) to a tape the driver
preallocated only when a form would need more terms, or is stored or
returned: a Rosenbrock term costs one node.  A compiled loop then runs over
the nodes from last to first, accumulating adjoints.  ``vjp`` seeds the
outputs with ``u``; the reverse Jacobian is one recorded tape swept once per
output.

The tape's size is remembered per function, so steady-state calls record
exactly once; when a tape overflows, the call is re-run with twice the
capacity.  A limit (:func:`set_tape_limit`) turns a runaway tape into a
``MemoryError`` that says how large it got.

Tapes are per call (allocated by the caller's thread), so concurrent calls
from several threads are independent.

Use it through the public API: ``dd.gradient(f, x, mode="reverse")``,
``dd.vjp``, ``dd.jacobian(f, x, mode="reverse")``; ``mode="auto"`` picks
reverse mode for gradients of more than :data:`AUTO_REVERSE_MIN_INPUTS`
inputs.

Examples
--------
>>> import numpy as np, dualdiff as dd
>>> def f(x):
...     s = 0.0
...     for i in range(len(x)):
...         s += x[i] ** 2
...     return s
>>> dd.gradient(f, np.array([1.0, 2.0, 3.0]), mode="reverse")
array([2., 4., 6.])
"""

import functools
import math
import threading

import numpy as np

from ._compiled.tape import (
    FORM_NAN, HEADER_WORDS, NOT_FINITE, NODE_BYTES, OWN_ADDRESS_WORD, SECOND_WORD,
    VarType, make_var, node_of, per_operation_tape,
)
from ._compiled.var_array import VarArrayType, wrap_var_array
# the sweep lives beside the block runner it calls: Numba's cache of a
# function is only checked against its own file
from ._compiled.backward import backward as _backward
from ._compiled.compat import numba, overload, types
from ._engine.diskcache import cached_njit
from ._engine.target import NotCompiled, target_of

__all__ = ["set_tape_limit", "get_tape_limit", "tape_size", "NODE_BYTES",
           "AUTO_REVERSE_MIN_INPUTS"]

#: ``mode="auto"`` uses reverse mode for a gradient (and a vjp) when x has at
#: least this many elements.  Reverse costs a near-constant 2-3 us up to
#: n ~ 150; forward pays one sweep per 8 inputs.  Rerun the measurement with
#: ``python -m benchmarks crossover`` (section 2: Rosenbrock and a quadratic
#: chain, both modes per call; the quick run of 2026-12-02: forward / reverse
#: 2.5 / 3.1 us at n = 32 and 4.5 / 3.3 us at n = 64 for Rosenbrock).
#: Structured parameters always use reverse mode.
AUTO_REVERSE_MIN_INPUTS = 56
#: First tape capacity (nodes) for a function never seen before, per input.
_INITIAL_NODES_PER_INPUT = 16
_MIN_CAPACITY = 1024

_limit = {"bytes": 4 * 2 ** 30}
_ONE = np.ones((1, 1))
# flags after which the driver records again: nodes (1) or blob (2) full, a
# nan coefficient in a preaccumulated form (FORM_NAN); the "no second
# partials" flag (4) of the exact rerun means nothing to a gradient
_RERUN_FLAGS = 1 | 2 | FORM_NAN
_NOT_EXACT = np.empty((0, 3))  # a normal recording: no second-partials buffer
_REALS = (types.Integer, types.Float, types.Boolean)


def set_tape_limit(nbytes):
    """Set the largest tape (in bytes) a reverse-mode call may record.

    One node takes ``NODE_BYTES`` (32) bytes, plus 8 bytes of adjoint during
    the backward sweep (:func:`tape_size` counts a function's nodes).  A call
    whose tape would grow past the limit raises ``MemoryError``.  Returns the
    previous limit.

    Examples
    --------
    >>> import dualdiff.reverse as rv
    >>> old = rv.set_tape_limit(2 ** 20)
    >>> rv.get_tape_limit()
    1048576
    >>> _ = rv.set_tape_limit(old)
    """
    if isinstance(nbytes, bool) or not isinstance(nbytes, (int, np.integer)) or nbytes <= 0:
        raise ValueError(f"the tape limit must be a positive number of bytes, got {nbytes!r}")
    old, _limit["bytes"] = _limit["bytes"], int(nbytes)
    return old


def get_tape_limit():
    """The current tape limit in bytes (see :func:`set_tape_limit`)."""
    return _limit["bytes"]


# ===========================================================================
# Compiled pieces: outputs, backward sweep
# ===========================================================================

def _outputs(y):
    """(values (m,), node ids (m,), shape) of what the user's function returned."""
    raise NotImplementedError


def _put(vals, ids, r, v):
    raise NotImplementedError


@overload(_put)
def _put_impl(vals, ids, r, v):
    if isinstance(v, VarType):
        def impl(vals, ids, r, v):
            vals[r] = v.value
            ids[r] = node_of(v)
        return impl
    if isinstance(v, _REALS):
        def impl(vals, ids, r, v):
            vals[r] = v
            ids[r] = -1
        return impl


def describe_output(t):
    """None if ``t`` (a Numba type) is an output reverse mode supports, else
    what was returned."""
    scalar = (VarType,) + _REALS
    if isinstance(t, scalar) or isinstance(t, VarArrayType):
        return None
    if isinstance(t, types.Array) and isinstance(t.dtype, _REALS):
        return None
    if isinstance(t, types.BaseTuple) and len(t) > 0 and all(isinstance(e, scalar) for e in t):
        return None
    if isinstance(t, types.List) and isinstance(t.dtype, scalar):
        return None
    return f"a value of Numba type {t}"


@overload(_outputs)
def _outputs_impl(y):
    if isinstance(y, (VarType,) + _REALS):
        def impl(y):
            vals = np.empty(1)
            ids = np.empty(1, np.int64)
            _put(vals, ids, 0, y)
            return vals, ids, np.empty(0, np.int64)
        return impl
    if isinstance(y, VarArrayType):
        nd = y.ndim

        def impl(y):
            shape = np.empty(nd, np.int64)
            for k in range(nd):
                shape[k] = y.values.shape[k]
            return y.values.ravel().copy(), y.index.ravel().copy(), shape
        return impl
    if isinstance(y, types.Array):
        nd = y.ndim

        def impl(y):
            shape = np.empty(nd, np.int64)
            for k in range(nd):
                shape[k] = y.shape[k]
            vals = np.empty(y.size)
            flat = y.ravel()
            for r in range(y.size):
                vals[r] = flat[r]
            return vals, np.full(y.size, -1, np.int64), shape
        return impl
    if isinstance(y, types.BaseTuple):
        count = len(y)
        lines = ["def impl(y):", f"    vals = np.empty({count})",
                 f"    ids = np.empty({count}, np.int64)"]
        lines += [f"    _put(vals, ids, {r}, y[{r}])" for r in range(count)]
        lines.append(f"    return vals, ids, np.full(1, {count}, np.int64)")
        namespace = {"np": np, "_put": _put}
        exec("\n".join(lines) + "\n", namespace)
        return namespace["impl"]
    if isinstance(y, types.List):
        def impl(y):
            m = len(y)
            vals = np.empty(m)
            ids = np.empty(m, np.int64)
            for r in range(m):
                _put(vals, ids, r, y[r])
            return vals, ids, np.full(1, m, np.int64)
        return impl


# ===========================================================================
# Drivers: generated per function and parameter structure
# ===========================================================================
# ``layout`` is None for a flat vector x, else a tuple of shapes (() for a
# scalar parameter): the flat x is cut into views of those shapes, and f
# receives them as a tuple.

def _scalar_output(y):
    """(value, node id) of a scalar that f returned (compiled code only)."""
    raise NotImplementedError


@overload(_scalar_output)
def _scalar_output_impl(y):
    if isinstance(y, VarType):
        return lambda y: (y.value, node_of(y))
    if isinstance(y, _REALS):
        return lambda y: (float(y), -1)


def _driver_source(layout, gradient, per_operation):
    """Source of the driver: set up a tape, run f on Var inputs, and return
    ``(header, values, ids, shape, links, blob)``; for ``gradient`` (f returns
    a number) sweep the tape in the same call and return
    ``(header, value, gradient)``, which saves a second call and the boxing
    of the tape (about 5 us a call).  ``per_operation``: the exact rerun's
    driver, which records one node per operation (``second`` is its buffer
    of second partials; other drivers ignore it)."""
    lines = ["def driver(x, capacity, blob_words, second, args):",
             "    n = x.shape[0]",
             f"    header = np.zeros({HEADER_WORDS}, np.int64)",
             "    links = np.empty((capacity, 4), np.int64)",
             "    blob = np.empty(blob_words)",
             "    header[0] = n",
             "    header[1] = capacity",
             "    header[3] = links.ctypes.data",
             "    header[4] = blob.ctypes.data",
             "    header[5] = blob_words",
             f"    header[{OWN_ADDRESS_WORD}] = header.ctypes.data",
             f"    tape = header[{OWN_ADDRESS_WORD}]"]
    if per_operation:
        lines += [f"    header[{SECOND_WORD}] = second.ctypes.data",
                  "    tape = per_operation_tape(tape)"]
    lines += ["    values = x.copy()  # f may write into its input",
             "    index = np.arange(n)"]
    if layout is None:
        lines.append("    xs = wrap_var_array(values, index, tape)")
    else:
        parts, offset = [], 0
        for k, shape in enumerate(layout):
            size = int(np.prod(shape, dtype=np.int64))
            if shape == ():
                lines.append(f"    p{k} = make_var(values[{offset}], {offset}, tape)")
            else:
                sl = f"[{offset}:{offset + size}]"
                shp = "(" + ", ".join(str(d) for d in shape) + ",)"
                lines.append(f"    p{k} = wrap_var_array(values{sl}.reshape({shp}), "
                             f"index{sl}.reshape({shp}), tape)")
            parts.append(f"p{k}")
            offset += size
        lines.append(f"    xs = ({', '.join(parts)},)")
    lines.append("    y = f(xs, *args)")
    if gradient:
        lines += ["    value, node = _scalar_output(y)",
                  f"    if header[2] & {_RERUN_FLAGS} != 0:",
                  "        return header, value, np.zeros(n)",
                  "    out_ids = np.full(1, node, np.int64)",
                  "    grad = backward(links, blob, header[0], n, out_ids, np.ones((1, 1)))",
                  "    if not all_finite(grad):",
                  f"        header[2] |= {NOT_FINITE}",
                  "    return header, value, grad[0]"]
    else:
        lines += ["    out_values, out_ids, shape = _outputs(y)",
                  "    return header, out_values, out_ids, shape, links, blob"]
    return "\n".join(lines) + "\n"


def _build_driver(dispatcher, layout, gradient, per_operation):
    namespace = {"np": np, "f": dispatcher, "wrap_var_array": wrap_var_array,
                 "make_var": make_var, "per_operation_tape": per_operation_tape,
                 "_outputs": _outputs, "_scalar_output": _scalar_output, "backward": _backward,
                 "all_finite": _all_finite}
    source = _driver_source(layout, gradient, per_operation)
    exec(compile(source, "<dualdiff reverse driver>", "exec"), namespace)
    return cached_njit(namespace["driver"])


@functools.lru_cache(maxsize=256)
def input_type(layout, per_operation=False):
    """The Numba type f receives: a 1-D VarArray, or a tuple of them (and
    Vars), on a tape of the given kind (see :class:`~dualdiff._compiled.tape.TapeType`).
    Kept: every call looks its driver up by it (making the types of six arrays
    cost 45 us a call)."""
    if layout is None:
        return VarArrayType(1, "C", per_operation)
    return types.Tuple([VarType(per_operation) if s == () else
                        VarArrayType(len(s), "C", per_operation) for s in layout])


class _State:
    """Per-function reverse-mode state, stored on forward's per-function target."""

    def __init__(self):
        self.fallback_reason = None
        self.per_operation_failure = None
        self.capacity = {}
        self.lock = threading.Lock()


def _state(target):
    state = target.reverse_state
    if state is None:
        state = target.reverse_state = _State()
    return state


def compiled_driver(target, layout, args, gradient=False, per_operation=False):
    """The reverse driver for f, or None when f does not compile for Var
    numbers (the caller then uses forward mode).  ``gradient``: the driver
    that also sweeps, if f returns a number (else the plain driver).
    ``per_operation``: the driver of the exact rerun (see :func:`_run`),
    compiled when a call first needs it."""
    state = _state(target)
    if state.fallback_reason is not None or target.fallback_reason is not None:
        return None
    if per_operation and state.per_operation_failure is not None:
        return None

    try:  # (no closure made here: this runs on every call)
        return target.driver(("reverse", layout, gradient, per_operation),
                             input_type(layout, per_operation), args, _checked_build,
                             target, layout, args, gradient, per_operation, vectorize=False)
    except NotCompiled as exc:  # f does not compile for Var: use forward mode
        if per_operation:  # only the exact rerun is lost: forward mode takes those calls
            state.per_operation_failure = str(exc)
        else:
            state.fallback_reason = str(exc)
        return None


def _checked_build(dispatcher, returned, target, layout, args, gradient, per_operation):
    problem = describe_output(returned)
    if problem is not None:
        raise TypeError("f must return a real number, an array, or a tuple/list of "
                        f"numbers; it returned {problem}")
    if gradient and not isinstance(returned, (VarType,) + _REALS):
        return compiled_driver(target, layout, args, False, per_operation)
    return _build_driver(dispatcher, layout, gradient, per_operation)


# ===========================================================================
# Recording and sweeping
# ===========================================================================

class Tape:
    """One recorded tape: node arrays, block blob, node count, inputs, outputs."""

    __slots__ = ("links", "blob", "count", "n", "values", "ids", "shape")

    def sweep(self, seeds):
        """``seeds (k, m) -> seeds J (k, n)`` by k backward sweeps."""
        return _backward(self.links, self.blob, self.count, self.n, self.ids, seeds)


def _limit_error(f, nbytes, nodes):
    name = getattr(f, "__name__", "f")
    return MemoryError(
        f"dualdiff reverse mode: the tape of {name!r} grew past {nbytes:,} bytes "
        f"(more than {nodes:,} nodes at {NODE_BYTES} bytes each, plus block "
        f"records) and hit the tape limit of {get_tape_limit():,} bytes; raise it with "
        "dualdiff.reverse.set_tape_limit(nbytes) or use mode='forward'")


def _run(target, x, args, layout, gradient):
    """Run f's driver (``gradient``: the sweeping one) on x, growing the tape
    until it fits; its result, or None when f does not compile for Var numbers.

    The sizes that fitted are remembered per (function, input layout), so a
    steady-state call records once.  Growth doubles what overflowed (nodes
    or block records), up to the tape limit.  A nan coefficient in a
    preaccumulated form (``0 * inf`` at a kink, or a genuine nan) makes f
    run again on a tape that records one node per operation (the tape's
    Hessian layout, whose second partials are not used here; f is compiled
    for it on first need): there the backward sweep skips zero partials, so
    a zero factor wins over inf exactly as in forward mode.
    """
    driver = compiled_driver(target, layout, args, gradient)
    if driver is None:
        return None
    state = _state(target)
    n = len(x)
    key = (layout, n)
    remembered = state.capacity.get(key)
    capacity, blob_words = remembered or (
        max(_MIN_CAPACITY, _INITIAL_NODES_PER_INPUT * n + 1), _MIN_CAPACITY)
    limit = get_tape_limit()
    at_limit = False
    exact, second = False, _NOT_EXACT
    while True:
        if capacity * NODE_BYTES + blob_words * 8 >= limit:  # use what the limit allows
            at_limit = True
            blob_words = min(blob_words, max(_MIN_CAPACITY, limit // 16))
            capacity = max(n + 1, (limit - blob_words * 8) // NODE_BYTES)
        if exact and second.shape[0] != capacity:
            second = np.empty((capacity, 3))
        result = driver(x, capacity, blob_words, second, args)
        header = result[0]
        flags = header[2] & _RERUN_FLAGS
        if flags == 0:
            break
        if flags & FORM_NAN and not exact:
            exact = True  # the exact rerun (rare: see above)
            driver = compiled_driver(target, layout, args, gradient, per_operation=True)
            if driver is None:
                return None
            continue
        if at_limit:
            # (the count stops where recording overflowed: the capacity is
            # what the tape held; it said "1 nodes" for a million)
            raise _limit_error(target.f, capacity * NODE_BYTES + blob_words * 8, capacity)
        if flags & 1:
            capacity *= 2
        if flags & 2:
            blob_words *= 2
    if exact:
        return result  # sizes of a tape with one node per operation: not remembered
    needed = (int(header[0]) + 1, max(int(header[6]), 1))
    if remembered is None or needed[0] > remembered[0] or needed[1] > remembered[1]:
        with state.lock:
            old = state.capacity.get(key, (0, 0))
            state.capacity[key] = (max(old[0], needed[0]), max(old[1], needed[1]))
    return result


def fast_gradient(target, n, argtypes):
    """``(x, args) -> (value, gradient)`` through f's sweeping driver for a
    flat x of n elements and arguments of ``argtypes`` (the per-call fast path
    of ``dd.gradient``), or None if there is none.  A call that needs more
    than the tape size remembered, or the exact rerun, returns None: the
    caller then takes the full path (:func:`_run`)."""
    state = _state(target)
    driver = target.drivers.get(("reverse", None, True, False, argtypes))
    key = (None, n)
    if driver is None or key not in state.capacity:
        return None
    signature = (numba.typeof(np.empty(n)), types.int64, types.int64,
                 numba.typeof(_NOT_EXACT), types.BaseTuple.from_types(argtypes))
    overload = driver.overloads.get(signature)
    if overload is None or not isinstance(overload.signature.return_type, types.BaseTuple) \
            or len(overload.signature.return_type) != 3:  # not the sweeping driver
        return None
    call = overload.entry_point
    capacities = state.capacity

    def value_and_gradient(x, args):
        capacity, blob_words = capacities[key]
        if capacity * NODE_BYTES + blob_words * 8 >= _limit["bytes"]:
            return None  # the limit was lowered: _run applies it
        header, value, grad = call(x, capacity, blob_words, _NOT_EXACT, args)
        if header[2] & (_RERUN_FLAGS | NOT_FINITE):
            return None
        return value, grad

    return value_and_gradient


def _tape(result, n):
    """The :class:`Tape` of a plain driver's result."""
    header, values, ids, shape, links, blob = result
    tape = Tape()
    tape.links, tape.blob = links, blob
    tape.count, tape.n = int(header[0]), n
    tape.values, tape.ids, tape.shape = values, ids, tuple(int(s) for s in shape)
    return tape




def _value_and_jacobian(tape):
    """``(values (m,), jacobian (m, n), shape)``: m backward sweeps."""
    m = len(tape.ids)
    return tape.values, tape.sweep(_ONE if m == 1 else np.eye(m)), tape.shape


def tape_size(f, x, args=()):
    """Nodes recorded (and bytes of tape) for one reverse-mode call of f.

    Operations whose result depends on at most two nodes record nothing (see
    :mod:`dualdiff._compiled.tape`): here ``x0 * x1 + x1`` is one node, written
    when f returns it.

    Examples
    --------
    >>> import numpy as np, dualdiff.reverse as rv
    >>> def f(x):
    ...     return x[0] * x[1] + x[1]
    >>> rv.tape_size(f, np.array([1.0, 2.0]))
    (1, 32)
    """
    tape = _tape_for(f, x, args)
    if tape is None:
        raise TypeError("f does not compile for reverse-mode numbers: "
                        f"{_state(_target_of(f)).fallback_reason}")
    return tape.count - tape.n, (tape.count - tape.n) * NODE_BYTES


def _target_of(f):
    return target_of(f)


def _tape_for(f, x, args, layout=None):
    """The :class:`Tape` of f at x, or None when f does not compile for Var numbers."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    result = _run(_target_of(f), x, args, layout, gradient=False)
    return None if result is None else _tape(result, len(x))


# ===========================================================================
# Entry points of the operators (dualdiff.operators), which have checked x and u:
# not for direct use
# ===========================================================================

# Each returns None when f does not compile for Var numbers, and NOT_FINITE
# when the answer holds an inf or nan: the backward sweep sums the chain
# rule's products in another order than forward mode, which differs where a
# partial is infinite (cbrt(sin(x0) - sin(x0)): forward mode's tangent of the
# difference is exactly 0, the backward sweep meets inf - inf), so forward
# mode decides such calls (issue 22).

@numba.njit(cache=True)
def _all_finite(a):
    for value in a.ravel():
        if not math.isfinite(value):
            return False
    return True


def _checked(values, jac, shape):
    return (values, jac, shape) if _all_finite(jac) else NOT_FINITE


def checked_value_and_jacobian(f, x, args=(), layout=None):
    """``(values (m,), jacobian (m, n), shape)`` by m backward sweeps over one
    tape, None, or NOT_FINITE (see above)."""
    tape = _tape_for(f, x, args, layout)
    if tape is None:
        return None
    return _checked(*_value_and_jacobian(tape))


def checked_value_and_gradient(f, x, args=(), layout=None):
    """``(values (1,), gradient (1, n), ())`` for an f that returns a number,
    recorded and swept in one compiled call; for other f, as
    :func:`checked_value_and_jacobian`.  None when f does not compile for Var
    numbers, NOT_FINITE as above."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    result = _run(_target_of(f), x, args, layout, gradient=True)
    if result is None:
        return None
    if len(result) == 3:  # the sweeping driver: (header, value, gradient)
        if result[0][2] & NOT_FINITE:
            return NOT_FINITE
        return np.array([result[1]]), result[2].reshape(1, -1), ()
    return _checked(*_value_and_jacobian(_tape(result, len(x))))


def checked_vjp(f, x, u, args=(), layout=None):
    """``(values (m,), u^T J (n,), shape)`` in one backward sweep, None, or
    NOT_FINITE (see above)."""
    tape = _tape_for(f, x, args, layout)
    if tape is None:
        return None
    if u.size != len(tape.ids):
        raise ValueError(f"u must have the shape of f(x) {tape.shape}, got {u.shape}")
    return _checked(tape.values,
                    tape.sweep(np.ascontiguousarray(u, dtype=np.float64).reshape(1, -1))[0],
                    tape.shape)
