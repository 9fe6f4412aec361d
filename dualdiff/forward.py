"""Forward-mode API: derivative, gradient, jacobian, jvp, vjp and friends.

Seeding, chunk-size choice, extraction and the caching of compiled drivers
live here; the number types know nothing about them.

Every function works in two ways::

    dd.gradient(f, x)          # the gradient at x
    grad_f = dd.gradient(f)    # a function x -> gradient (also a decorator)

Extra arguments go through ``args=(...)`` as in SciPy, and the curried forms
accept SciPy's ``(x, *args)`` calling convention, so they can be passed to
``scipy.optimize.minimize(jac=...)`` directly.
"""

import functools
import itertools
import types
import math
import warnings
import weakref

import numpy as np

from ._drivers import build_driver, describe_output, input_type
from ._fallback import jit_helpers, pythonize
from ._frozen import Frozen
from .arrays import explain_compile_failure
from ._numba_compat import NumbaError, numba, vectorizing
from ._typeof import typeof_args
from .dual import Dual, DualObjectArray
from . import reverse as _reverse  # reverse mode; it imports this module back

__all__ = [
    "derivative", "gradient", "jacobian", "jvp", "vjp",
    "value_and_gradient", "value_and_jacobian", "choose_chunk",
    "FallbackWarning", "MAX_AUTO_CHUNK",
]

#: Largest chunk (partials per sweep) chosen automatically.  One sweep with N
#: partials costs about N times the plain function and the first-call compile
#: grows with N; 8 is where both are still small (see benchmarks/).
MAX_AUTO_CHUNK = 8
#: Largest chunk a user may ask for.
MAX_CHUNK = 64

_MODES = ("auto", "forward", "reverse")
_UNIT_SEED = np.ones((1, 1))
_UNIT_SEED.flags.writeable = False
_TAGS = itertools.count(1)


class FallbackWarning(UserWarning):
    """Numba could not compile the function for dual numbers; the slow Python
    path was used instead (results are still exact)."""


# ===========================================================================
# Input checking
# ===========================================================================

def _check_callable(f):
    if not callable(f):
        raise TypeError(f"f must be a callable, got {type(f).__name__}")


def _check_mode(mode):
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")


def _contains_duals(a):
    return a.dtype == object and a.size > 0 and any(isinstance(v, Dual) for v in a.ravel())


def _as_vector(x, what="x", copy=True):
    """A fresh float64 1-D copy of x, or an object array if x holds duals
    (``copy=False``: x itself if it is a C-contiguous float64 vector)."""
    if type(x) is np.ndarray and x.dtype == np.float64 and x.ndim == 1 and x.size:
        if copy or not x.flags.c_contiguous:  # the common case, checked cheaply
            return x.copy()
        return x
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{what} must be an array of real numbers, got a string")
    try:
        a = np.array(x, copy=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be an array of real numbers: {exc}") from None
    if a.dtype == object:
        if _contains_duals(a) and a.ndim == 1:
            return a
        raise TypeError(f"{what} must be an array of real numbers, got an object array")
    if a.dtype.kind == "c":
        raise TypeError(f"{what} must be real; got a complex array (dtype {a.dtype})")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be an array of real numbers, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array, got shape {a.shape}; "
                         "flatten it (x.ravel()) and reshape inside f")
    if a.size == 0:
        raise ValueError(f"{what} must have at least one element")
    return a.astype(np.float64)


def _as_scalar(x, what="x"):
    if isinstance(x, Dual):
        return x
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a real number, got {type(x).__name__}"
                        + ("; use gradient/jacobian for arrays" if np.ndim(x) > 0 else ""))
    return float(x)


def _check_args(args):
    if not isinstance(args, tuple):
        raise TypeError(f"args must be a tuple of extra arguments, got {type(args).__name__}")


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


# ===========================================================================
# Per-function state: the dispatcher, compiled drivers, or the fallback
# ===========================================================================

class _Target:
    def __init__(self, f, renewed=False):
        self.f = f
        self.is_dispatcher = hasattr(f, "py_func") and hasattr(f, "overloads")
        self.dispatcher = None
        self.builtin_callers = {}
        self.python = None
        self.fallback_reason = None
        self.drivers = {}
        # what Numba will freeze into the compiled code (None: nothing)
        frozen = Frozen(f)
        self.frozen = frozen if frozen else None
        # a global f names has changed since an earlier target compiled:
        # a user's dispatcher keeps its old compilations, so compile afresh
        self.renewed = renewed

    def stale(self):
        """Whether a value Numba froze into f's compiled code has changed."""
        return self.frozen is not None and self.frozen.changed()

    def get_dispatcher(self, n_args=0):
        if self.is_dispatcher and not self.renewed:
            return self.f
        if self.is_dispatcher:
            if self.dispatcher is None:
                self.dispatcher = numba.njit(**self.f.targetoptions)(
                    jit_helpers(self.f.py_func, numba.njit))
            return self.dispatcher
        if isinstance(self.f, types.FunctionType):
            if self.dispatcher is None:
                self.dispatcher = numba.njit(jit_helpers(self.f, numba.njit))
            return self.dispatcher
        # a builtin or a ufunc (math.exp, np.sin): call it from a function of
        # the right arity, one per number of extra arguments
        if n_args not in self.builtin_callers:
            names = ", ".join(["x"] + [f"a{i}" for i in range(n_args)])
            namespace = {"fn": self.f}
            exec(f"def call({names}):\n    return fn({names})\n", namespace)
            self.builtin_callers[n_args] = numba.njit(namespace["call"])
        return self.builtin_callers[n_args]

    def get_python(self):
        if self.python is None:
            self.python = pythonize(self.f)
        return self.python

    def use_fallback(self, reason):
        self.fallback_reason = reason
        name = getattr(self.f, "__name__", repr(self.f))
        warnings.warn(
            f"dualdiff: Numba could not compile {name!r} for dual numbers ({reason}); "
            "using the exact but much slower Python path instead",
            FallbackWarning, stacklevel=4)


_targets = weakref.WeakKeyDictionary()
_unweakrefable = {}


def _target(f):
    """f's per-function state; a new one (compiling f afresh) when a global,
    closure cell or default that Numba froze into f has changed since."""
    f = getattr(f, "_dualdiff_function", f)  # a @differentiable function
    try:
        t = _targets.get(f)
        if t is None:
            t = _targets[f] = _Target(f)
        elif t.frozen is not None and t.frozen.changed():
            t = _targets[f] = _Target(f, renewed=True)
    except TypeError:  # not weak-referenceable (a builtin, say)
        t = _unweakrefable.setdefault(id(f), _Target(f))
    return t


def _first_line(exc):
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    skip = ("Failed in nopython mode", "During:", "File ", "Failed in object mode")
    useful = [ln for ln in lines if not ln.startswith(skip)]
    text = useful[0] if useful else (lines[0] if lines else type(exc).__name__)
    if text.endswith("signature:") and len(useful) > 1:
        text = f"{text} {useful[1].lstrip('>').strip()}"
    return text if len(text) < 200 else text[:197] + "..."


def compiled_for(target, key, in_type, proto, build, args):
    """The compiled driver ``build(dispatcher)`` for inputs of ``in_type``, or
    None when the Python path must be used (Numba could not compile f).

    ``key`` names the driver (kind and lane counts); the argument types are
    added to it.  Shared by the first- and second-order APIs.
    """
    if target.fallback_reason is not None:
        return None
    try:
        argtypes = typeof_args(args)
    except (ValueError, TypeError, NumbaError) as exc:
        target.use_fallback(f"an argument in args has no Numba type: {_first_line(exc)}")
        return None
    key = key + (argtypes,)
    driver = target.drivers.get(key)
    if driver is not None:
        return driver
    signature = (in_type,) + argtypes
    try:
        dispatcher = target.get_dispatcher(len(args))
        with vectorizing():
            dispatcher.compile(signature)
    except Exception as exc:  # any failure to compile: the Python path still works
        target.use_fallback(explain_compile_failure(exc) or _first_line(exc))
        return None
    problem = describe_output(dispatcher.overloads[signature].signature.return_type, proto)
    if problem is not None:
        raise TypeError(f"f must return a real number, a dual number, an array, or a "
                        f"tuple/list of numbers; it returned {problem}")
    driver = target.drivers[key] = build(dispatcher)
    return driver


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
    tag = next(_TAGS)
    y = target.get_python()(_python_input(x, seeds, tag), *args)
    return _python_output(y, tag, seeds.shape[1])


def _is_nested(x):
    return isinstance(x, Dual) or (isinstance(x, np.ndarray) and x.dtype == object)


def _holds_duals(f, args):
    """True when f closes over, or is given, Python duals: we are inside an
    outer differentiation running on the Python path, so stay on it."""
    cells = getattr(getattr(f, "py_func", f), "__closure__", None) or ()
    if not cells and not args:
        return False
    values = []
    for cell in cells:
        try:
            values.append(cell.cell_contents)
        except ValueError:
            pass
    return any(_is_nested(v) for v in values + list(args) if isinstance(v, (Dual, np.ndarray)))


def _seeded(f, x, seeds, args, scalar, raw=False):
    """One sweep with the given seed matrix: (values, partials, shape).

    With ``raw``, a scalar output of the compiled scalar-input path comes
    back as the driver gives it, ``(value, partials tuple)``, which saves two
    array allocations per call.
    """
    target = _target(f)
    n_lanes = seeds.shape[1]
    driver = None
    if not _is_nested(x) and not _holds_duals(f, args):
        driver = _compiled_driver(target, "scalar" if scalar else "seeded", n_lanes, args)
    if driver is None:
        return _python_sweep(target, x, seeds, args)
    out = driver(x, seeds, args)
    if len(out) == 2:  # a scalar output: (value, partials tuple)
        return out if raw else (np.array([out[0]]), np.array([out[1]]), ())
    values, partials, shape = out
    return values, partials, tuple(shape)


def _full_jacobian(f, x, args, chunk):
    """(values (m,), jacobian (m, n), shape) by chunked identity seeding."""
    target = _target(f)
    n = len(x)
    driver = None
    if not _is_nested(x) and not _holds_duals(f, args):
        driver = _compiled_driver(target, "chunked", choose_chunk(n, chunk), args)
    if driver is None:
        return _python_sweep(target, x, np.eye(n), args)
    out = driver(x, args)
    if len(out) == 2:  # a scalar output: (value, gradient)
        return np.array([out[0]]), out[1].reshape(1, n), ()
    values, jac, shape = out
    return values, jac, tuple(shape)


def _scalar_value(values, shape):
    if shape != ():
        return values.reshape(shape)
    v = values[0]
    return float(v) if isinstance(v, (np.floating, float)) else v


# ===========================================================================
# Mode choice and structured parameters (reverse mode lives in reverse.py)
# ===========================================================================

def _is_structured(x):
    """A tuple holding at least one array: parameters like (W1, b1, W2, b2)."""
    return isinstance(x, tuple) and any(isinstance(p, (np.ndarray, list)) for p in x)


_FLOAT64 = np.dtype(np.float64)


def _flatten_params(x):
    """(flat float64 vector, layout: tuple of shapes) of structured parameters."""
    if len(x) == 0:
        raise ValueError("x must hold at least one parameter")
    parts, layout = [], []
    for p in x:  # the common case, checked cheaply: non-empty float64 arrays
        if type(p) is not np.ndarray or p.dtype != _FLOAT64 or not p.size or not p.ndim:
            break
        parts.append(p.ravel())
        layout.append(p.shape)
    else:
        return np.concatenate(parts), tuple(layout)
    parts, layout = [], []
    for k, p in enumerate(x):
        if isinstance(p, Dual):
            raise TypeError("structured parameters must be real arrays or numbers, "
                            f"element {k} is a dual number")
        a = _as_vector(np.ravel(p), f"x[{k}]") if np.ndim(p) else \
            np.array([_as_scalar(p, f"x[{k}]")])
        parts.append(a)
        layout.append(np.shape(p))
    return np.concatenate(parts), tuple(layout)


def _unflatten(flat, layout):
    out, offset = [], 0
    for shape in layout:
        size = math.prod(shape)  # of ints: np.prod costs ~2 us a call
        piece = flat[..., offset:offset + size]
        if shape == () and piece.ndim == 1:
            v = piece[0]
            out.append(float(v) if isinstance(v, (float, np.floating)) else v)
        else:
            out.append(piece.reshape(piece.shape[:-1] + shape))
        offset += size
    return tuple(out)


def _structured_wrapper(f, layout, n_args):
    """f of one flat vector, for forward mode on structured parameters.

    Compiled: the flat dual array is cut into dual-array views of the
    parameters' shapes.  Python path (if that does not compile): the same on
    Python-side duals.
    """
    target = _target(f)
    cache = target.__dict__.setdefault("structured_wrappers", {})
    key = (layout, n_args)
    if key not in cache:
        python_f = target.get_python()

        def flat_f(flat, *args):
            return python_f(_unflatten(flat, layout), *args)

        flat_f.__name__ = getattr(f, "__name__", "f")
        cache[key] = flat_f
        wrapper = _target(flat_f)
        wrapper.python = flat_f
        if target.fallback_reason is None:
            try:
                wrapper.dispatcher = _compiled_unflatten(target.get_dispatcher(n_args), layout,
                                                         n_args)
            except Exception as exc:  # the Python path still works
                wrapper.use_fallback(_first_line(exc))
        else:
            wrapper.fallback_reason = target.fallback_reason
    return cache[key]


def _compiled_unflatten(dispatcher, layout, n_args):
    from ._nbarray import wrap_dual_array
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
    return numba.njit(namespace["flat_f"])


def _use_reverse(mode, n):
    return mode == "reverse" or (mode == "auto" and n >= _reverse.AUTO_REVERSE_MIN_INPUTS)


# ===========================================================================
# Per-call fast paths (dd.gradient, dd.hessian) once the full path has worked
# ===========================================================================
# The full path's checks, mode choice and driver lookups cost more than the
# compiled work on small problems (Rosenbrock gradient at n = 10: about 3 us
# of Python around a 1.3 us driver).  Once a call has worked for f at a size
# and with arguments of given types, the next such call with a plain float64
# vector goes straight to the compiled driver's entry point (no type
# dispatch).  Arguments that hold Python duals have other Numba types (or
# none), so they never match a key.

# numpy's NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED bits of ndarray.flags.num
_C_ALIGNED = 0x0001 | 0x0100


def is_plain_vector(x):
    """Whether x is a non-empty C-contiguous float64 ndarray of one dimension,
    what a fast path takes as it is."""
    return type(x) is np.ndarray and x.ndim == 1 and x.dtype is _FLOAT64 \
        and x.flags.num & _C_ALIGNED == _C_ALIGNED and x.shape[0] > 0


def argument_types(args):
    """The Numba types of ``args`` (a tuple), or None if one has none."""
    if not args:
        return ()
    try:
        return typeof_args(args)
    except (ValueError, TypeError, NumbaError):
        return None


def argument_types_key(args):
    """The ids of the Numba types of ``args`` (None if one has none).  Numba
    interns its types and a fast-path entry keeps its types alive, so equal
    ids mean the same types; hashing the types themselves costs 0.25 us
    each (their hash is not cached)."""
    if not args:
        return ()
    try:
        if len(args) == 1:
            return (id(typeof_args(args)[0]),)
        return tuple([id(t) for t in typeof_args(args)])
    except (ValueError, TypeError, NumbaError):
        return None


class FastPaths:
    """Remembered runs of one API function: ``id(f) -> (weak reference to f,
    {key: (run, argument types)}, whether f has a closure, the values Numba
    froze into f's compiled code)``; a run is not used once those changed.  A key is a
    ``head`` the caller chooses (mode, size) plus the ids of the argument
    types (:func:`argument_types_key`); the entry holds the types
    themselves, so those ids are never reused while it lives.  A closure may
    come to hold Python duals (an outer differentiation on the Python path),
    so for such f every lookup checks that it does not.  An entry goes when
    f does."""

    def __init__(self):
        self._entries = {}

    def get(self, f, head, args):
        """The run remembered for f under ``head`` and the types of ``args``,
        or None (the types are only looked up when f has an entry)."""
        entry = self._entries.get(id(f))
        if entry is None:
            return None
        found = entry[1].get(head + (argument_types_key(args),))
        if found is None or entry[0]() is not f or (entry[2] and _holds_duals(f, ())) \
                or (entry[3] is not None and entry[3].changed()):
            return None  # (a frozen value changed: the full path compiles afresh)
        return found[0]

    def keys(self, f):
        """The keys remembered for f."""
        entry = self._entries.get(id(f))
        return [] if entry is None or entry[0]() is not f else list(entry[1])

    def put(self, f, head, argtypes, run):
        """Remember ``run`` for f under ``head`` and arguments of ``argtypes``."""
        entry = self._entries.get(id(f))
        frozen = _target(f).frozen
        if entry is None or entry[0]() is not f or entry[3] is not frozen:
            try:
                ref = weakref.ref(f, self._forget)
            except TypeError:  # not weak-referenceable: no fast path
                return
            closure = getattr(getattr(f, "py_func", f), "__closure__", None) is not None
            entry = self._entries[id(f)] = (ref, {}, closure, frozen)
        entry[1][head + (tuple([id(t) for t in argtypes]),)] = (run, argtypes)

    def _forget(self, ref):
        for key, entry in list(self._entries.items()):
            if entry[0] is ref:
                del self._entries[key]


_fast_gradients = FastPaths()


def _fast_value_and_gradient(f, x, args, mode, chunk):
    """``(value, gradient)`` by a remembered run, or None (then the full path)."""
    if chunk is not None or not is_plain_vector(x) or type(args) is not tuple \
            or mode not in _MODES:
        return None
    run = _fast_gradients.get(f, (mode, x.shape[0]), args)
    return None if run is None else run(x, args)


def _remember_fast_gradient(f, n, mode, args):
    """After a full-path gradient of f (n inputs, no chunk given): remember a
    run of the driver that answered, for :func:`_fast_value_and_gradient`."""
    argtypes = argument_types(args)
    if argtypes is None or _fast_gradients.get(f, (mode, n), args) is not None:
        return
    target = _target(f)
    run = _reverse.fast_gradient(target, n, argtypes) if _use_reverse(mode, n) else None
    if run is None:  # forward mode answered (or reverse fell back to it)
        run = _forward_fast_gradient(target, n, argtypes)
    if run is not None:
        _fast_gradients.put(f, (mode, n), argtypes, run)


def _forward_fast_gradient(target, n, argtypes):
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


def _reverse_missed(f, mode):
    """Warn (once per function) that reverse mode was asked for but f does not
    compile for reverse-mode numbers; forward mode answers instead."""
    target = _target(f)
    state = _reverse._state(target)
    if mode == "reverse" and not getattr(state, "warned", False) \
            and target.fallback_reason is None:
        state.warned = True
        name = getattr(f, "__name__", repr(f))
        reason = state.fallback_reason or state.per_operation_failure
        warnings.warn(f"dualdiff: Numba could not compile {name!r} for reverse-mode "
                      f"numbers ({reason}); using forward mode instead "
                      "(exact, but its cost grows with the number of inputs)",
                      FallbackWarning, stacklevel=4)


def _value_and_jacobian_any(f, x, args, mode, chunk, gradient=False):
    """(values (m,), jacobian (m, n), shape, layout) in the chosen mode
    (``gradient``: the caller wants a scalar f's gradient; reverse mode then
    records and sweeps in one call)."""
    layout, given = None, x
    if _is_structured(x):
        x, layout = _flatten_params(x)
    else:
        x = _as_vector(x, copy=False)
    if mode == "auto" and chunk is not None:
        mode = "forward"  # a chunk size is a forward-mode choice
    if mode != "forward" and (layout is not None or _use_reverse(mode, len(x))) \
            and not _is_nested(x) and not _holds_duals(f, args):
        # the reverse drivers copy x before f sees it (no copy here: 2 us at
        # n = 10^4)
        checked = _reverse.checked_value_and_gradient if gradient else \
            _reverse.checked_value_and_jacobian
        result = checked(f, x, args, layout)
        if result is None:
            _reverse_missed(f, mode)
        elif result is not _reverse.NOT_FINITE:  # else forward mode decides
            values, jac, shape = result
            return values, jac, shape, layout
    if x is given:
        x = x.copy()  # forward mode works on its own copy, as _as_vector gives
    g = f if layout is None else _structured_wrapper(f, layout, len(args))
    values, jac, shape = _full_jacobian(g, x, args, chunk)
    return values, jac, shape, layout


# ===========================================================================
# Currying: dd.gradient(f) -> function of x
# ===========================================================================

def _curry(operator, f, args, **options):
    _check_callable(f)
    _check_args(args)

    @functools.wraps(f)
    def curried(x, *call_args):
        return operator(f, x, args=call_args if call_args else args, **options)

    curried.__name__ = f"{operator.__name__}_of_{getattr(f, '__name__', 'f')}"
    curried.__qualname__ = curried.__name__
    curried.__doc__ = (f"{operator.__name__} of {getattr(f, '__name__', 'f')}; "
                       "call as (x, *args).")
    return curried


# ===========================================================================
# Public API
# ===========================================================================

def derivative(f, x=None, order=1, args=()):
    """Derivative of a function of one real variable.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` with scalar ``x``; returns a scalar or a vector
        (array, tuple or list).  Written as for Numba: loops, branches,
        ``math``/``numpy`` calls.
    x : float, optional
        Where to differentiate.  Omit it to get a function of ``x`` back.
    order : int
        1 or 2 (the second derivative, one hyper-dual sweep).
    args : tuple
        Extra arguments passed to ``f`` after ``x``.

    Returns
    -------
    float or ndarray
        ``f'(x)``: a float for scalar ``f``, an array shaped like ``f(x)``
        otherwise.

    Examples
    --------
    >>> import math, dualdiff as dd
    >>> dd.derivative(lambda x: x ** 3, 2.0)
    12.0
    >>> dcos = dd.derivative(math.cos)
    >>> round(dcos(0.0), 12)
    -0.0
    """
    if x is None:
        return _curry(derivative, f, args, order=order)
    _check_callable(f)
    _check_args(args)
    if order == 2:
        from .second import second_derivative  # lazy: second.py imports this module
        return second_derivative(f, x, args=args)
    if order != 1:
        raise NotImplementedError("derivative supports order=1 and order=2")
    x = _as_scalar(x)
    out = _seeded(f, x, _UNIT_SEED, args, scalar=True, raw=True)
    if len(out) == 2:
        return out[1][0]
    values, partials, shape = out
    return _scalar_value(partials[:, 0], shape)


def value_and_gradient(f, x=None, args=(), mode="auto", chunk=None):
    """Value and gradient of a scalar function of a vector, from the same sweeps.

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> scalar`` with ``x`` a 1-D array.
    x : array_like or tuple of arrays, optional
        1-D point, or structured parameters such as ``(W1, b1, W2, b2)`` (a
        tuple holding at least one array; ``f`` receives the tuple, arrays in
        their own shapes, and the gradient has the same structure).  Omit it
        to get a function of ``x`` back.
    args : tuple
        Extra arguments for ``f``.
    mode : {"auto", "forward", "reverse"}
        ``"forward"``: chunked dual numbers, cost about ``n`` function
        evaluations.  ``"reverse"``: one recording on a tape and one backward
        sweep (:mod:`dualdiff.reverse`).  ``"auto"``: reverse mode for
        structured parameters and when ``x`` has at least
        ``dualdiff.reverse.AUTO_REVERSE_MIN_INPUTS`` (56) elements, else
        forward (always forward when ``chunk`` is given).
        If ``f`` does not compile for reverse-mode numbers, forward mode
        answers (with a ``FallbackWarning`` when reverse was asked for).
    chunk : int, optional
        Partials per forward sweep (default: balanced chunks of at most 8).

    Returns
    -------
    value : float
    gradient : ndarray, shape (n,)

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> dd.value_and_gradient(lambda x: x[0] * x[1] ** 2, np.array([3.0, 2.0]))
    (12.0, array([ 4., 12.]))
    """
    if x is None:
        return _curry(value_and_gradient, f, args, mode=mode, chunk=chunk)
    fast = _fast_value_and_gradient(f, x, args, mode, chunk)
    if fast is not None:
        return fast
    _check_callable(f)
    _check_args(args)
    _check_mode(mode)
    values, jac, shape, layout = _value_and_jacobian_any(f, x, args, mode, chunk,
                                                         gradient=True)
    if shape != ():
        raise ValueError(f"gradient needs f to return a scalar; it returned shape {shape} "
                         "(use jacobian for vector-valued functions)")
    if layout is None and chunk is None:
        _remember_fast_gradient(f, jac.shape[1], mode, args)
    grad = jac[0] if layout is None else _unflatten(jac[0], layout)
    return _scalar_value(values, shape), grad


def gradient(f, x=None, args=(), mode="auto", chunk=None):
    """Gradient of a scalar function of a vector.

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> scalar`` with ``x`` a 1-D array, written as for
        Numba (``s = 0.0`` accumulations, loops, branches work unmodified).
    x : array_like or tuple of arrays, optional
        1-D point, or structured parameters (see :func:`value_and_gradient`).
        Omit it to get a function ``x -> gradient`` (usable as a decorator
        and as ``scipy.optimize.minimize(jac=...)``).
    args : tuple
        Extra arguments for ``f``.
    mode : {"auto", "forward", "reverse"}
        Differentiation mode (see :func:`value_and_gradient`).
    chunk : int, optional
        Partials per forward sweep (default: balanced chunks of at most 8).

    Returns
    -------
    ndarray, shape (n,), or a tuple of arrays shaped like structured ``x``

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> def rosenbrock(x):
    ...     s = 0.0
    ...     for i in range(len(x) - 1):
    ...         s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    ...     return s
    >>> dd.gradient(rosenbrock, np.array([1.0, 1.0, 1.0]))
    array([0., 0., 0.])
    >>> def loss(params, X):
    ...     w, b = params
    ...     s = 0.0
    ...     for i in range(X.shape[0]):
    ...         s += (X[i, 0] * w[0, 0] + X[i, 1] * w[1, 0] + b) ** 2
    ...     return s
    >>> dW, db = dd.gradient(loss, (np.ones((2, 1)), 0.5), args=(np.eye(2),))
    >>> dW, db
    (array([[3.],
           [3.]]), 6.0)
    """
    if x is None:
        return _curry(gradient, f, args, mode=mode, chunk=chunk)
    return value_and_gradient(f, x, args=args, mode=mode, chunk=chunk)[1]


def value_and_jacobian(f, x=None, args=(), mode="auto", chunk=None):
    """Value and Jacobian of a function of a vector, from the same sweeps.

    Parameters
    ----------
    f, x, args, chunk
        As for :func:`jacobian`.
    mode : {"auto", "forward", "reverse"}
        ``"reverse"`` records one tape and sweeps it once per output (pays
        when there are many more inputs than outputs).  ``"auto"`` is forward
        mode for a vector ``x`` (the number of outputs is only known once
        ``f`` has run) and reverse mode for structured parameters.

    Returns
    -------
    value : float or ndarray
        ``f(x)``, shaped as ``f`` returns it (tuples and lists become arrays).
    jacobian : ndarray
        Shape ``f(x).shape + (n,)``: ``(m, n)`` for a vector output (a tuple
        of such blocks for structured ``x``).

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> value, J = dd.value_and_jacobian(lambda x: (x[0] * x[1], x[0] + x[1]),
    ...                                  np.array([2.0, 3.0]))
    >>> value, J
    (array([6., 5.]), array([[3., 2.],
           [1., 1.]]))
    """
    if x is None:
        return _curry(value_and_jacobian, f, args, mode=mode, chunk=chunk)
    _check_callable(f)
    _check_args(args)
    _check_mode(mode)
    if mode == "auto" and not _is_structured(x):
        mode = "forward"  # m is unknown before f runs; see the docstring
    values, jac, shape, layout = _value_and_jacobian_any(f, x, args, mode, chunk)
    if layout is not None:
        return _scalar_value(values, shape), _unflatten(jac.reshape(shape + (-1,)), layout)
    return _scalar_value(values, shape), jac.reshape(shape + (jac.shape[-1],))


def jacobian(f, x=None, args=(), mode="auto", chunk=None):
    """Jacobian of a function of a vector.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` returning a scalar, a dual array it filled (for
        example ``out = np.empty_like(x)``), a float array, a tuple or a list.
    x : array_like, optional
        1-D point.  Omit it to get a function ``x -> jacobian``.
    args, mode, chunk
        As for :func:`gradient`.

    Returns
    -------
    ndarray
        Shape ``f(x).shape + (n,)``: ``(m, n)`` for a vector ``f``.

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> def broyden(x):
    ...     out = np.empty_like(x)
    ...     n = len(x)
    ...     for i in range(n):
    ...         left = x[i - 1] if i > 0 else 0.0
    ...         right = x[i + 1] if i < n - 1 else 0.0
    ...         out[i] = (3.0 - 2.0 * x[i]) * x[i] - left - 2.0 * right + 1.0
    ...     return out
    >>> dd.jacobian(broyden, np.zeros(3))
    array([[ 3., -2.,  0.],
           [-1.,  3., -2.],
           [ 0., -1.,  3.]])
    """
    if x is None:
        return _curry(jacobian, f, args, mode=mode, chunk=chunk)
    return value_and_jacobian(f, x, args=args, mode=mode, chunk=chunk)[1]


def jvp(f, x, v, args=()):
    """Jacobian-vector product in one forward sweep: ``(f(x), J v)``.

    Parameters
    ----------
    f : callable
    x : float or array_like
        Scalar or 1-D point.
    v : float or array_like
        Direction, shaped like ``x``.
    args : tuple

    Returns
    -------
    value : float or ndarray
    tangent : float or ndarray
        ``J v``, shaped like ``f(x)``.

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> dd.jvp(lambda x: x[0] * x[1], np.array([2.0, 3.0]), np.array([1.0, 1.0]))
    (6.0, 5.0)
    """
    _check_callable(f)
    _check_args(args)
    if np.ndim(x) == 0 and not isinstance(x, np.ndarray) or isinstance(x, Dual):
        x = _as_scalar(x)
        v = _as_scalar(v, "v")
        values, partials, shape = _seeded(f, x, np.full((1, 1), v), args, scalar=True)
    else:
        x = _as_vector(x)
        v = _as_vector(v, "v")
        if v.shape != x.shape:
            raise ValueError(f"v must have the shape of x {x.shape}, got {v.shape}")
        values, partials, shape = _seeded(f, x, v.reshape(-1, 1), args, scalar=False)
    return _scalar_value(values, shape), _scalar_value(partials[:, 0], shape)


def vjp(f, x, u, args=(), chunk=None, mode="auto"):
    """Vector-Jacobian product ``(f(x), u^T J)``.

    Parameters
    ----------
    f : callable
    x : array_like or tuple of arrays
        1-D point, or structured parameters (the product then has their
        structure).
    u : array_like
        Cotangent, shaped like ``f(x)``.
    args : tuple
    chunk : int, optional
        Partials per forward sweep (forward mode only).
    mode : {"auto", "forward", "reverse"}
        ``"reverse"``: one recording and one backward sweep.  ``"forward"``:
        from the forward Jacobian (``n / chunk`` sweeps).  ``"auto"`` uses
        reverse mode when x has at least
        ``dualdiff.reverse.AUTO_REVERSE_MIN_INPUTS`` elements.

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> dd.vjp(lambda x: (x[0] * x[1], x[0] + x[1]), np.array([2.0, 3.0]),
    ...        np.array([1.0, 0.0]))
    (array([6., 5.]), array([3., 2.]))
    """
    _check_callable(f)
    _check_args(args)
    _check_mode(mode)
    structured = _is_structured(x)
    if mode != "forward" and not isinstance(x, Dual):
        flat, layout = _flatten_params(x) if structured else (_as_vector(x), None)
        if (structured or _use_reverse(mode, len(flat))) and not _is_nested(flat) \
                and not _holds_duals(f, args):
            u_arr = np.asarray(u, dtype=np.float64)
            result = _reverse.checked_vjp(f, flat, u_arr, args, layout)
            if result is None:
                _reverse_missed(f, mode)
            elif result is not _reverse.NOT_FINITE:  # else forward mode decides
                values, product, shape = result
                value = _scalar_value(values, shape)
                if u_arr.shape != np.shape(value):
                    raise ValueError(f"u must have the shape of f(x) {np.shape(value)}, "
                                     f"got {u_arr.shape}")
                return value, product if layout is None else _unflatten(product, layout)
    value, jac = value_and_jacobian(f, x, args=args, chunk=chunk, mode="forward")
    if structured:
        jac_flat = np.concatenate([np.reshape(j, np.shape(value) + (-1,)) for j in jac], -1)
        _, layout = _flatten_params(x)
        u = np.asarray(u, dtype=np.float64)
        if u.shape != np.shape(value):
            raise ValueError(f"u must have the shape of f(x) {np.shape(value)}, got {u.shape}")
        n = jac_flat.shape[-1]
        return value, _unflatten(u.reshape(-1) @ jac_flat.reshape(-1, n), layout)
    u = np.asarray(u, dtype=np.float64)
    out_shape = np.shape(value)
    if u.shape != out_shape:
        raise ValueError(f"u must have the shape of f(x) {out_shape}, got {u.shape}")
    n = jac.shape[-1]
    product = u.reshape(-1) @ jac.reshape(-1, n)
    return value, product
