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
from ._numba_compat import NumbaError, numba
from .dual import Dual

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
    if mode == "reverse":
        raise NotImplementedError(
            "mode='reverse' is not available in this version; use mode='forward' "
            "(the default 'auto' picks forward mode)")


def _contains_duals(a):
    return a.dtype == object and a.size > 0 and any(isinstance(v, Dual) for v in a.ravel())


def _as_vector(x, what="x"):
    """A fresh float64 1-D copy of x, or an object array if x holds duals."""
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
    def __init__(self, f):
        self.f = f
        self.is_dispatcher = hasattr(f, "py_func") and hasattr(f, "overloads")
        self.dispatcher = None
        self.builtin_callers = {}
        self.python = None
        self.fallback_reason = None
        self.drivers = {}

    def get_dispatcher(self, n_args=0):
        if self.is_dispatcher:
            return self.f
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
    try:
        t = _targets.get(f)
        if t is None:
            t = _targets[f] = _Target(f)
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
        argtypes = tuple(numba.typeof(a) for a in args)
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
        dispatcher.compile(signature)
    except Exception as exc:  # any failure to compile: the Python path still works
        target.use_fallback(_first_line(exc))
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
    return xin


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
    values = []
    for cell in cells:
        try:
            values.append(cell.cell_contents)
        except ValueError:
            pass
    return any(_is_nested(v) for v in values + list(args) if isinstance(v, (Dual, np.ndarray)))


def _seeded(f, x, seeds, args, scalar):
    """One sweep with the given seed matrix: (values, partials, shape)."""
    target = _target(f)
    n_lanes = seeds.shape[1]
    driver = None
    if not _is_nested(x) and not _holds_duals(f, args):
        driver = _compiled_driver(target, "scalar" if scalar else "seeded", n_lanes, args)
    if driver is None:
        return _python_sweep(target, x, seeds, args)
    values, partials, shape = driver(x, seeds, args)
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
    values, jac, shape = driver(x, args)
    return values, jac, tuple(shape)


def _scalar_value(values, shape):
    if shape != ():
        return values.reshape(shape)
    v = values[0]
    return float(v) if isinstance(v, (np.floating, float)) else v


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
    values, partials, shape = _seeded(f, x, _UNIT_SEED, args, scalar=True)
    return _scalar_value(partials[:, 0], shape)


def value_and_gradient(f, x=None, args=(), mode="auto", chunk=None):
    """Value and gradient of a scalar function of a vector, from the same sweeps.

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> scalar`` with ``x`` a 1-D array.
    x : array_like, optional
        1-D point.  Omit it to get a function of ``x`` back.
    args : tuple
        Extra arguments for ``f``.
    mode : {"auto", "forward"}
        Differentiation mode ("reverse" arrives with the reverse-mode module).
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
    _check_callable(f)
    _check_args(args)
    _check_mode(mode)
    x = _as_vector(x)
    values, jac, shape = _full_jacobian(f, x, args, chunk)
    if shape != ():
        raise ValueError(f"gradient needs f to return a scalar; it returned shape {shape} "
                         "(use jacobian for vector-valued functions)")
    return _scalar_value(values, shape), jac[0]


def gradient(f, x=None, args=(), mode="auto", chunk=None):
    """Gradient of a scalar function of a vector.

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> scalar`` with ``x`` a 1-D array, written as for
        Numba (``s = 0.0`` accumulations, loops, branches work unmodified).
    x : array_like, optional
        1-D point.  Omit it to get a function ``x -> gradient`` (usable as a
        decorator and as ``scipy.optimize.minimize(jac=...)``).
    args : tuple
        Extra arguments for ``f``.
    mode : {"auto", "forward"}
        Differentiation mode.
    chunk : int, optional
        Partials per forward sweep (default: balanced chunks of at most 8).

    Returns
    -------
    ndarray, shape (n,)

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
    """
    if x is None:
        return _curry(gradient, f, args, mode=mode, chunk=chunk)
    return value_and_gradient(f, x, args=args, mode=mode, chunk=chunk)[1]


def value_and_jacobian(f, x=None, args=(), mode="auto", chunk=None):
    """Value and Jacobian of a function of a vector, from the same sweeps.

    Returns
    -------
    value : float or ndarray
        ``f(x)``, shaped as ``f`` returns it (tuples and lists become arrays).
    jacobian : ndarray
        Shape ``f(x).shape + (n,)``: ``(m, n)`` for a vector output.

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
    x = _as_vector(x)
    values, jac, shape = _full_jacobian(f, x, args, chunk)
    return _scalar_value(values, shape), jac.reshape(shape + (len(x),))


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


def vjp(f, x, u, args=(), chunk=None):
    """Vector-Jacobian product ``(f(x), u^T J)``.

    In this version it is computed from the forward-mode Jacobian (n/chunk
    sweeps); the reverse-mode module will make it one backward sweep.

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> dd.vjp(lambda x: (x[0] * x[1], x[0] + x[1]), np.array([2.0, 3.0]),
    ...        np.array([1.0, 0.0]))
    (array([6., 5.]), array([3., 2.]))
    """
    value, jac = value_and_jacobian(f, x, args=args, chunk=chunk)
    u = np.asarray(u, dtype=np.float64)
    out_shape = np.shape(value)
    if u.shape != out_shape:
        raise ValueError(f"u must have the shape of f(x) {out_shape}, got {u.shape}")
    n = jac.shape[-1]
    product = u.reshape(-1) @ jac.reshape(-1, n)
    return value, product
