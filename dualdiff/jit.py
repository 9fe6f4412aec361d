"""Derivatives as Numba-compiled functions, callable from your own compiled code.

``dualdiff.derivative(f)`` returns a Python function: convenient, with input
checks and a fallback for code Numba cannot compile, but each call from
Python costs a couple of microseconds.  The functions here return Numba
dispatchers instead.  They cost what a hand-written derivative costs (a
fraction of a microsecond from Python, nothing extra inside a loop), and
other ``@numba.njit`` functions can call them, so a Newton iteration or an
ODE solver can be compiled around a derivative::

    import numba, dualdiff as dd

    dg = dd.jit.derivative(g)

    @numba.njit
    def newton(x):
        for _ in range(50):
            x -= g(x) / dg(x)
        return x

They trade the conveniences away: arguments must be plain floats and float
arrays (no nesting, no Python fallback), and a function Numba cannot compile
raises Numba's error.  The first call compiles, as for any ``njit`` function.
"""

import itertools

import numpy as np

from . import forward
from ._engine.inputs import check_callable
from ._engine.target import target_of
from ._compiled.array import DualArrayType, wrap_dual_array
from ._engine.diskcache import cached_njit
from ._engine.drivers import check_input_kept
from ._compiled.dual import DualType, convert_to, make_dual
from ._compiled.compat import TypingError, overload, types

__all__ = ["derivative", "gradient"]

_REALS = (types.Integer, types.Float, types.Boolean)
_NAMES = itertools.count()
DEFAULT_CHUNK = 4


def _require_real(x):
    raise NotImplementedError


@overload(_require_real)
def _require_real_impl(x):
    if isinstance(x, _REALS) or (isinstance(x, types.Array) and isinstance(x.dtype, _REALS)):
        return lambda x: None
    raise TypingError(f"dualdiff.jit derivatives take plain numbers and float arrays, got {x}; "
                      "use dualdiff.derivative/gradient for nested differentiation")


def _require_real_args(args):
    raise NotImplementedError


@overload(_require_real_args)
def _require_real_args_impl(args):
    # a dual among the extra arguments would carry the caller's perturbation
    # under the same tag as ours (perturbation confusion): refuse it
    for t in args:
        if isinstance(t, (DualType, DualArrayType)) or \
                (isinstance(t, types.BaseTuple) and any(isinstance(e, (DualType, DualArrayType))
                                                        for e in t)):
            raise TypingError(f"dualdiff.jit derivatives take plain numbers and float arrays, "
                              f"got {t} among the extra arguments; use dualdiff.derivative/"
                              "gradient for nested differentiation")
    return lambda args: None


def _slope(y):
    raise NotImplementedError


@overload(_slope)
def _slope_impl(y):
    if isinstance(y, DualType):
        return lambda y: y.partials[0]
    if isinstance(y, _REALS):
        return lambda y: 0.0
    raise TypingError(f"dualdiff.jit.derivative needs f to return a real number, got {y}")


def _compiled_function(f):
    return target_of(f).get_dispatcher(0)


def _name(kind, f):
    base = getattr(f, "__name__", "f")
    return f"{kind}_of_{base}" if base.isidentifier() else f"{kind}_{next(_NAMES)}"


_DERIVATIVE = """
def {name}(x, *args):
    _require_real(x)
    _require_real_args(args)
    return _slope(f(make_dual(float(x), (1.0,), 0), *args))
"""

_GRADIENT = """
def {name}(x, *args):
    _require_real(x)
    _require_real_args(args)
    n = x.shape[0]
    data = np.zeros((n, {K}))
    for i in range(n):
        data[i, 0] = x[i]
    proto = make_dual(0.0, ({zeros},), 0)
    grad = np.empty(n)
    start = 0
    while start < n:
        for k in range({N}):
            if start + k < n:
                data[start + k, 1 + k] = 1.0
        check_input_kept(data, x)
        y = convert_to(f(wrap_dual_array(data, proto), *args), proto)
        for k in range({N}):
            if start + k < n:
                grad[start + k] = y.partials[k]
                data[start + k, 1 + k] = 0.0
        start += {N}
    return grad
"""


def _build(template, f, kind, **fields):
    name = _name(kind, f)
    namespace = {"np": np, "f": _compiled_function(f), "make_dual": make_dual,
                 "convert_to": convert_to, "wrap_dual_array": wrap_dual_array,
                 "_require_real": _require_real, "_require_real_args": _require_real_args,
                 "_slope": _slope, "check_input_kept": check_input_kept}
    exec(compile(template.format(name=name, **fields), f"<dualdiff.jit {name}>", "exec"),
         namespace)
    return cached_njit(namespace[name])


def derivative(f):
    """``x -> f'(x)`` as a Numba-compiled function (a dispatcher).

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> float`` for a real ``x``, written as for Numba (a
        plain Python function, a ``numba.njit`` function or a math builtin).

    Returns
    -------
    numba dispatcher
        ``df(x, *args)``, callable from Python and from ``@numba.njit`` code.

    Examples
    --------
    >>> import math, numba, dualdiff as dd
    >>> def g(x):
    ...     return x ** 3 - 2.0
    >>> dg = dd.jit.derivative(g)
    >>> dg(2.0)
    12.0
    >>> @numba.njit
    ... def newton(x):
    ...     for _ in range(30):
    ...         x -= g_compiled(x) / dg(x)
    ...     return x
    >>> g_compiled = numba.njit(g)
    >>> round(newton(1.0) ** 3, 12)
    2.0
    """
    check_callable(f)
    return _build(_DERIVATIVE, f, "derivative")


def gradient(f, chunk=DEFAULT_CHUNK):
    """``x -> ∇f(x)`` as a Numba-compiled function (a dispatcher).

    Parameters
    ----------
    f : callable
        ``f(x, *args) -> float`` for a 1-D float array ``x``, written as for
        Numba.
    chunk : int
        Partials per forward sweep, fixed when the function compiles
        (default 4: one sweep costs about ``chunk`` evaluations of ``f``).

    Returns
    -------
    numba dispatcher
        ``grad(x, *args)`` returning a new float64 array of shape (n,),
        callable from Python and from ``@numba.njit`` code.

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> def energy(x, k):
    ...     s = 0.0
    ...     for i in range(len(x)):
    ...         s += 0.5 * k * x[i] ** 2
    ...     return s
    >>> grad = dd.jit.gradient(energy)
    >>> grad(np.array([1.0, -2.0, 0.5]), 2.0)
    array([ 2., -4.,  1.])
    """
    check_callable(f)
    n_lanes = forward.choose_chunk(1, chunk)
    return _build(_GRADIENT, f, "gradient", N=n_lanes, K=n_lanes + 1,
                  zeros=", ".join(["0.0"] * n_lanes))
