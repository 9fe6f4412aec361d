"""Forward mode: seeded sweeps of the user's function on dual numbers.

One sweep runs f once on ``Dual[float64, N]`` inputs seeded with N columns of
a seed matrix and returns f's values and the N directional derivatives;
:func:`full_jacobian` takes ceil(n / N) such sweeps (the chunk size comes from
:func:`choose_chunk`).  Compiled drivers come from :mod:`dualdiff._engine`;
when Numba cannot compile f the same sweep runs on Python-side duals.
Structured parameters (a tuple of arrays) are flattened around f here.  The
public operators that use these sweeps are in :mod:`dualdiff.operators`.
"""

import math

import numpy as np

from ._compiled.compat import numba
from ._engine.diskcache import cached_njit
from ._engine.drivers import build_driver, input_type
from ._engine.inputs import holds_duals, is_nested, unflatten
from ._engine.target import TAGS, compiled_for, first_line, target_of
from .numbers.dual import Dual, DualObjectArray

__all__ = ["choose_chunk", "seeded", "full_jacobian", "structured_wrapper",
           "forward_fast_gradient", "MAX_AUTO_CHUNK", "MAX_CHUNK", "UNIT_SEED"]

#: Largest chunk (partials per sweep) chosen automatically.  One sweep with N
#: partials costs about N times the plain function and the first-call compile
#: grows with N; 8 is where both are still small (see benchmarks/).
MAX_AUTO_CHUNK = 8
#: Largest chunk a user may ask for.
MAX_CHUNK = 64

UNIT_SEED = np.ones((1, 1))
UNIT_SEED.flags.writeable = False


def choose_chunk(n, chunk=None):
    """The number of partials per forward sweep for ``n`` inputs.

    Automatic choice: as few sweeps as chunks of at most ``MAX_AUTO_CHUNK``
    allow, with the inputs spread evenly over them (n = 10 gives 2 sweeps of
    5, not 8 + 2).

    Examples
    --------
    >>> from dualdiff.forward import choose_chunk
    >>> choose_chunk(10), choose_chunk(100), choose_chunk(3)
    (5, 8, 3)
    """
    if chunk is None:
        sweeps = math.ceil(n / MAX_AUTO_CHUNK)
        return math.ceil(n / sweeps)
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)):
        raise TypeError(f"chunk must be a positive integer, got {chunk!r}")
    if not 1 <= chunk <= MAX_CHUNK:
        raise ValueError(f"chunk must be between 1 and {MAX_CHUNK}, got {chunk}")
    return int(chunk)


def _compiled_driver(target, kind, n_lanes, args):
    in_type, proto = input_type(kind, n_lanes)
    return compiled_for(target, (kind, n_lanes), in_type, proto,
                        lambda dispatcher: build_driver(dispatcher, kind, n_lanes), args)


# ===========================================================================
# Sweeps
# ===========================================================================

def _python_input(x, seeds, tag):
    if np.ndim(x) == 0:
        return Dual._make(x, seeds[0].copy(), tag)
    xin = np.empty(len(x), dtype=object)
    for i in range(len(x)):
        xin[i] = Dual._make(x[i], seeds[i].copy(), tag)
    return xin.view(DualObjectArray)


def _python_output(y, tag, n_lanes):
    """(values (m,), partials (m, n_lanes), shape) from a Python-path result."""
    if isinstance(y, (Dual, int, float, np.integer, np.floating)) and not isinstance(y, bool):
        items, shape = [y], ()
    elif isinstance(y, np.ndarray) and y.dtype.kind in "biufO":
        items, shape = list(y.ravel()), y.shape
    elif isinstance(y, (tuple, list)) and len(y) > 0:
        items, shape = list(y), (len(y),)
    else:
        raise TypeError("f must return a real number, a dual number, an array, or a "
                        f"tuple/list of numbers; it returned {type(y).__name__}")
    m = len(items)
    values = np.empty(m, dtype=object)
    partials = np.zeros((m, n_lanes), dtype=object)
    nested = False
    for r, item in enumerate(items):
        if isinstance(item, Dual) and item.tag == tag:
            values[r] = item.value
            if len(item.partials):
                partials[r] = item.partials
        elif isinstance(item, Dual) or isinstance(item, (int, float, np.integer, np.floating)):
            values[r] = item
        else:
            raise TypeError("f must return real numbers or dual numbers; one output is "
                            f"a {type(item).__name__}")
        nested = nested or isinstance(values[r], Dual) or any(isinstance(p, Dual)
                                                              for p in partials[r])
    if not nested:
        values = values.astype(np.float64)
        partials = partials.astype(np.float64)
    return values, partials, shape


def _python_sweep(target, x, seeds, args):
    tag = next(TAGS)
    y = target.get_python()(_python_input(x, seeds, tag), *args)
    return _python_output(y, tag, seeds.shape[1])


def seeded(f, x, seeds, args, scalar, raw=False):
    """One sweep with the given seed matrix: (values, partials, shape).

    With ``raw``, a scalar output of the compiled scalar-input path comes
    back as the driver gives it, ``(value, partials tuple)``, which saves two
    array allocations per call.
    """
    target = target_of(f)
    n_lanes = seeds.shape[1]
    driver = None
    if not is_nested(x) and not holds_duals(f, args):
        driver = _compiled_driver(target, "scalar" if scalar else "seeded", n_lanes, args)
    if driver is None:
        return _python_sweep(target, x, seeds, args)
    out = driver(x, seeds, args)
    if len(out) == 2:  # a scalar output: (value, partials tuple)
        return out if raw else (np.array([out[0]]), np.array([out[1]]), ())
    values, partials, shape = out
    return values, partials, tuple(map(int, shape))


def full_jacobian(f, x, args, chunk):
    """(values (m,), jacobian (m, n), shape) by chunked identity seeding."""
    target = target_of(f)
    n = len(x)
    driver = None
    if not is_nested(x) and not holds_duals(f, args):
        driver = _compiled_driver(target, "chunked", choose_chunk(n, chunk), args)
    if driver is None:
        return _python_sweep(target, x, np.eye(n), args)
    out = driver(x, args)
    if len(out) == 2:  # a scalar output: (value, gradient)
        return np.array([out[0]]), out[1].reshape(1, n), ()
    values, jac, shape = out
    return values, jac, tuple(map(int, shape))


# ===========================================================================
# Structured parameters: f takes a tuple of arrays
# ===========================================================================


def structured_wrapper(f, layout, n_args):
    """f of one flat vector, for forward mode on structured parameters.

    Compiled: the flat dual array is cut into dual-array views of the
    parameters' shapes.  Python path (if that does not compile): the same on
    Python-side duals.
    """
    target = target_of(f)
    cache = target.__dict__.setdefault("structured_wrappers", {})
    key = (layout, n_args)
    if key not in cache:
        python_f = target.get_python()

        def flat_f(flat, *args):
            return python_f(unflatten(flat, layout), *args)

        flat_f.__name__ = getattr(f, "__name__", "f")
        wrapper = target_of(flat_f)
        wrapper.python = flat_f
        if target.fallback_reason is None:
            try:
                wrapper.dispatcher = _compiled_unflatten(target.get_dispatcher(n_args), layout,
                                                         n_args)
            except Exception as exc:  # the Python path still works
                wrapper.use_fallback(first_line(exc))

            def scratch_builder():  # f with scratch arrays, behind the same unflattening
                scratch = target.scratch_dispatcher()
                return None if scratch is None else _compiled_unflatten(scratch, layout, n_args)

            wrapper.scratch_builder = scratch_builder
        else:
            wrapper.fallback_reason = target.fallback_reason
        # published only when complete: a concurrent first call that saw a
        # half-built wrapper compiled its plain closure, failed, and took
        # the Python path for good (tests/test_threads.py)
        cache.setdefault(key, flat_f)
    return cache[key]


def _compiled_unflatten(dispatcher, layout, n_args):
    from ._compiled.array import wrap_dual_array
    names = "".join(f", a{i}" for i in range(n_args))
    lines, parts, offset = [f"def flat_f(x{names}):"], [], 0
    for k, shape in enumerate(layout):
        size = math.prod(shape)  # of ints: np.prod costs ~2 us a call
        if shape == ():
            lines.append(f"    p{k} = x[{offset}]")
        else:
            dims = ", ".join(str(d) for d in shape)
            lines.append(f"    p{k} = wrap_dual_array(x.data[{offset}:{offset + size}]"
                         f".reshape(({dims}, x.data.shape[1])), x)")
        parts.append(f"p{k}")
        offset += size
    lines.append(f"    return f(({', '.join(parts)},){names})")
    namespace = {"f": dispatcher, "wrap_dual_array": wrap_dual_array}
    exec(compile("\n".join(lines) + "\n", "<dualdiff structured parameters>", "exec"),
         namespace)
    return cached_njit(namespace["flat_f"])


# ===========================================================================
# The per-call fast path of dd.gradient (see dualdiff.operators)
# ===========================================================================

def forward_fast_gradient(target, n, argtypes):
    """``(x, args) -> (value, gradient)`` through the chunked forward driver
    (which copies x into its dual array: x is never written)."""
    driver = target.drivers.get(("chunked", choose_chunk(n), argtypes))
    if driver is None:
        return None
    signature = (numba.typeof(np.empty(n)), numba.types.BaseTuple.from_types(argtypes))
    overload = driver.overloads.get(signature)
    if overload is None:
        return None
    call = overload.entry_point

    def value_and_gradient(x, args):
        out = call(x, args)
        return (out[0], out[1]) if len(out) == 2 else None

    return value_and_gradient
