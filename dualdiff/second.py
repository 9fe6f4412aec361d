"""Second-order forward mode: hessian, hvp, vhv and second derivatives.

Every operator here runs the user's function on nested duals
``Dual[Dual[float64, N1], N2]`` (forward over forward): the inner lanes carry
first derivatives along one set of seeds, the outer lanes along another, and
the inner partials of the outer partials are the second derivatives between
the two.

* :func:`hessian` fills the matrix by blocks of ``N`` inputs, only the blocks
  on or above the diagonal (``k (k + 1) / 2`` sweeps for ``k`` blocks), and
  mirrors them, so the result is exactly symmetric.  For a function returning
  one number of at least :data:`AUTO_TAPE_MIN_INPUTS` inputs, ``mode="auto"``
  first tries forward over reverse: one recorded tape with second partials,
  swept for all directions (:mod:`dualdiff._tape_hessian`), far cheaper
  beyond a few dozen inputs.
* :func:`hvp` seeds the inner lanes with the identity on a chunk and the one
  outer lane with ``v`` (``n / N`` sweeps); :func:`vhv` seeds both lanes with
  ``v`` (one sweep).
* ``derivative(f, x, order=2)`` is one sweep of the scalar hyper-dual
  ``Dual[Dual[float64, 1], 1]``.

A vector-valued ``f`` (array, tuple or list output) gets one Hessian per
output: shape ``f(x).shape + (n, n)``, each slice exactly symmetric; ``hvp``
gives ``f(x).shape + (n,)`` and ``derivative(order=2)`` ``f(x).shape``.  A
function returning one number takes lean compiled drivers
(``_HESSIAN_SCALAR``/``_HVP_SCALAR`` in :mod:`dualdiff._engine.drivers`), which
compile in a fraction of the general ones' time.  :class:`dualdiff.HyperDual`
is the same number type at the prompt.

When Numba cannot compile the function, the same sweeps run on Python-side
nested :class:`~dualdiff.numbers.dual.Dual` numbers (inner tag lower than the outer
one), with the same one-line :class:`~dualdiff.forward.FallbackWarning` as
the first-order operators.
"""

import functools
import math
import warnings

import numpy as np

from . import _tape_hessian
from ._compiled.compat import numba, types
from ._engine.drivers import (
    build_hessian_driver, build_hvp_driver, build_sweep2_driver, second_input_type,
)
from .numbers.dual import Dual
from ._engine.inputs import (
    ARGNUM_WITH_X, MODES, as_scalar, as_vector, check_args, check_callable, check_mode, curry,
    flatten_pair, flatten_params, holds_duals, is_nested, is_structured, scalar_value, unflatten,
)
from ._engine.target import (
    TAGS, FastPaths, argument_types, compiled_for, is_plain_vector, target_of,
)
from .forward import choose_chunk, structured_wrapper

__all__ = ["hessian", "value_gradient_and_hessian", "hvp", "vhv", "second_derivative",
           "choose_hessian_chunk", "MAX_AUTO_HESSIAN_CHUNK", "AUTO_TAPE_MIN_INPUTS"]

#: ``mode="auto"`` takes the second-order tape (forward over reverse) for
#: Hessians and HVPs of at least this many inputs, hyper-duals below.
#: Hyper-duals take k (k + 1) / 2 sweeps for k blocks of at most
#: :data:`MAX_AUTO_HESSIAN_CHUNK` inputs (6 up to n = 12, 15 up to 20, 21 from
#: 21 on); the tape one pass per 32 directions.  Rerun the measurement with
#: ``python -m benchmarks crossover`` (section 1: both modes per call,
#: Rosenbrock and a log-sum-exp with an extra argument).  Between n = 17 and 20
#: either choice costs one of the two problems up to 1.4x (the quick run of
#: 2026-12-02: forward / tape 8.7 / 6.3 us for Rosenbrock and 57 / 61 us for
#: log-sum-exp at n = 20; 13.3 / 7.3 and 92 / 75 us at n = 24).
AUTO_TAPE_MIN_INPUTS = 21

#: Largest block (inputs per lane group) chosen automatically for Hessians.
#: An element holds (N + 1)^2 floats, so the generated code, and the compile
#: time, grow with N^2, while the work is ~n^2 / 2 function costs whatever N
#: (k (k + 1) / 2 sweeps for k = n / N blocks, each ~N^2 times the function).
#: ``python -m benchmarks crossover`` (section 3) measures the first call in a
#: fresh process and the per-call time at N = 3, 4, 5: N = 4 is the largest
#: block whose first call stays within ~10% of N = 3's while per call it is
#: as fast as N = 5 (the quick run of 2026-12-02, log-sum-exp 20 x 10: first
#: call 2.9 / 3.3 / 4.2 s CPU, per call 30 / 21 / 23 us).
MAX_AUTO_HESSIAN_CHUNK = 4


# ===========================================================================
# Chunk choice and compiled drivers
# ===========================================================================

def choose_hessian_chunk(n, chunk=None):
    """Inputs per block for an ``n``-input Hessian: balanced blocks of at most
    :data:`MAX_AUTO_HESSIAN_CHUNK` (or the validated user ``chunk``).

    Examples
    --------
    >>> from dualdiff.second import choose_hessian_chunk
    >>> choose_hessian_chunk(2), choose_hessian_chunk(10), choose_hessian_chunk(50)
    (2, 4, 4)
    """
    if chunk is not None:
        return choose_chunk(n, chunk)
    blocks = math.ceil(n / MAX_AUTO_HESSIAN_CHUNK)
    return math.ceil(n / blocks)


def _compiled(target, kind, n_inner, n_outer, args):
    """The compiled second-order driver, or None for the Python path."""
    in_type, proto = second_input_type(kind, n_inner, n_outer)
    # each builder picks a lean driver for a function returning one number
    if kind in ("hessian", "hvp"):
        lean = build_hessian_driver if kind == "hessian" else build_hvp_driver

        def build(dispatcher):
            return lean(dispatcher, n_inner, args)
    else:
        def build(dispatcher):
            return build_sweep2_driver(dispatcher, kind, n_inner, n_outer, args)
    return compiled_for(target, ("second", kind, n_inner, n_outer), in_type, proto, build, args)


def _use_compiled(x, f, args):
    return not is_nested(x) and not holds_duals(f, args)


# ===========================================================================
# The Python path: one sweep on nested Python duals
# ===========================================================================

def _split_at(y, tag, n_lanes):
    """(value, partials) of ``y`` at the level ``tag``; a constant at that
    level has zero partials."""
    if isinstance(y, Dual) and y.tag == tag and len(y.partials):
        return y.value, y.partials
    if isinstance(y, Dual) and y.tag == tag:
        return y.value, np.zeros(n_lanes)
    return y, np.zeros(n_lanes)


def _python_input(x, inner, outer, t_in, t_out):
    n1, n2 = inner.shape[1], outer.shape[1]

    def element(xi, s_in, s_out):
        value = Dual._make(xi, s_in.copy(), t_in)
        partials = np.empty(n2, dtype=object)
        for j in range(n2):
            partials[j] = Dual._make(s_out[j], np.zeros(n1), t_in)
        return Dual._make(value, partials, t_out)

    if np.ndim(x) == 0:
        return element(x, inner[0], outer[0])
    xin = np.empty(len(x), dtype=object)
    for i in range(len(x)):
        xin[i] = element(x[i], inner[i], outer[i])
    return xin


def _python_items(y):
    if isinstance(y, (Dual, int, float, np.integer, np.floating)) and not isinstance(y, bool):
        return [y], ()
    if isinstance(y, np.ndarray) and y.dtype.kind in "biufO":
        return list(y.ravel()), y.shape
    if isinstance(y, (tuple, list)) and len(y) > 0:
        return list(y), (len(y),)
    raise TypeError("f must return a real number, a dual number, an array, or a "
                    f"tuple/list of numbers; it returned {type(y).__name__}")


def _python_sweep2(target, x, inner, outer, args):
    """(values (m,), d_inner (m, N1), d_outer (m, N2), cross (m, N1, N2), shape)."""
    t_in = next(TAGS)
    t_out = next(TAGS)  # larger: the outer number (see dual.py, "Nesting and tags")
    n1, n2 = inner.shape[1], outer.shape[1]
    y = target.get_python()(_python_input(x, inner, outer, t_in, t_out), *args)
    items, shape = _python_items(y)
    m = len(items)
    values = np.empty(m, dtype=object)
    d_inner = np.zeros((m, n1), dtype=object)
    d_outer = np.zeros((m, n2), dtype=object)
    cross = np.zeros((m, n1, n2), dtype=object)
    for r, item in enumerate(items):
        if not isinstance(item, (Dual, int, float, np.integer, np.floating)):
            raise TypeError("f must return real numbers or dual numbers; one output is "
                            f"a {type(item).__name__}")
        value, outer_parts = _split_at(item, t_out, n2)
        values[r], d_inner[r] = _split_at(value, t_in, n1)
        for j in range(n2):
            d_outer[r, j], cross[r, :, j] = _split_at(outer_parts[j], t_in, n1)
    arrays = [values, d_inner, d_outer, cross]
    if not any(isinstance(v, Dual) for a in arrays for v in a.ravel()):
        arrays = [a.astype(np.float64) for a in arrays]
    return (*arrays, shape)


def _mirror_upper(cross):
    """Exactly symmetric Hessians from (m, n, n) cross terms [inner a, outer b]:
    entry (a, b), a <= b, is kept and mirrored (the compiled drivers' rule)."""
    upper = np.triu(np.ones(cross.shape[1:], dtype=bool))
    out = np.where(upper, cross, np.swapaxes(cross, 1, 2))
    return out


# ===========================================================================
# Sweeps shared by the public functions
# ===========================================================================

def _full_hessian(f, x, args, chunk, mode="forward"):
    """(values (m,), gradients (m, n), hessians (m, n, n), shape)."""
    target = target_of(f)
    n = len(x)
    driver = None
    compiled = _use_compiled(x, f, args)
    if mode == "auto" and (chunk is not None or n < AUTO_TAPE_MIN_INPUTS):
        mode = "forward"  # a chunk size is a forward-mode choice; small n: see the constant
    if mode != "forward" and compiled:
        found = _tape_hessian.value_gradient_and_hessian(target, x, args)
        if found is None:
            if mode == "reverse":
                _tape_hessian_missed(f, target, args)
        elif found is not _tape_hessian.NOT_FINITE:  # else forward mode decides
            value, grad, hess = found
            return np.array([value]), grad.reshape(1, n), hess.reshape(1, n, n), ()
    if compiled:
        size = choose_hessian_chunk(n, chunk)
        driver = _compiled(target, "hessian", size, size, args)
    if driver is None:
        eye = np.eye(n)
        values, grad, _, cross, shape = _python_sweep2(target, x, eye, eye, args)
        return values, grad, _mirror_upper(cross), shape
    values, grad, hess, shape = driver(x, args)
    return values, grad, hess, tuple(map(int, shape))


def _tape_hessian_missed(f, target, args):
    """Warn once per function that mode="reverse" was asked for a Hessian the
    tape cannot give; hyper-dual numbers answer instead."""
    if "tape hessian" in target.warned:
        return
    target.warned.add("tape hessian")
    reason = _tape_hessian.unsupported_reason(target, args) or "Numba could not compile it"
    name = getattr(f, "__name__", "f")
    warnings.warn(f"dualdiff: no reverse-mode Hessian for {name!r} ({reason}); using "
                  "forward mode (hyper-dual numbers) instead", RuntimeWarning, stacklevel=4)


def _seeded2(f, x, inner, outer, args, scalar):
    """One sweep with inner and outer seed matrices: (values, d_inner, d_outer,
    cross, shape) as in :func:`_python_sweep2`."""
    target = target_of(f)
    n1, n2 = inner.shape[1], outer.shape[1]
    driver = None
    if _use_compiled(x, f, args):
        driver = _compiled(target, "scalar2" if scalar else "seeded2", n1, n2, args)
    if driver is None:
        return _python_sweep2(target, x, inner, outer, args)
    flat, shape = driver(x, inner, outer, args)
    m, w = flat.shape[0], n1 + 1
    rows = flat.reshape(m, n2 + 1, w)  # [outer level][inner level]
    return (rows[:, 0, 0].copy(), rows[:, 0, 1:].copy(), rows[:, 1:, 0].copy(),
            np.swapaxes(rows[:, 1:, 1:], 1, 2).copy(), tuple(map(int, shape)))


# ===========================================================================
# Public API
# ===========================================================================

def value_gradient_and_hessian(f, x=None, args=(), chunk=None, mode="auto", argnum=0):
    """Value, gradient and Hessian of a function of a vector, from the same sweeps.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` with ``x`` a 1-D array, written as for Numba; it
        returns a scalar, or a vector (an array, a tuple or a list).
    x : array_like, optional
        1-D point.  Omit it to get a function of ``x`` back.
    args : tuple
        Extra arguments for ``f``.
    chunk : int, optional
        Inputs per block (default: balanced blocks of at most
        :data:`MAX_AUTO_HESSIAN_CHUNK`).  ``k`` blocks take ``k (k + 1) / 2``
        sweeps.  Forward mode only (giving it selects forward mode).
    mode : {"auto", "forward", "reverse"}
        ``"forward"``: hyper-dual numbers (forward over forward), about
        ``n^2 / 2`` function costs.  ``"reverse"``: forward over reverse,
        one recorded tape with second partials swept ``n`` times, for ``f``
        returning one number and made of scalar operations (loops, indexing,
        math calls, elementwise array operations; not matmul or ``np.sum``
        of Var arrays); otherwise it warns and uses forward mode.
        ``"auto"`` (default): reverse where it applies and ``x`` has at
        least :data:`AUTO_TAPE_MIN_INPUTS` elements, else forward, without
        a warning.
    argnum : int, optional
        With ``x`` omitted: which argument of f the returned function
        differentiates, the others passed through (JAX's ``argnums``):
        ``dd.jacobian(rhs, argnum=1)`` is the ``jac(t, y)`` of ``solve_ivp``.

    Returns
    -------
    value : float or ndarray
        ``f(x)``, shaped as ``f`` returns it (tuples and lists become arrays).
    gradient : ndarray, shape ``value.shape + (n,)``
        The gradient, or the Jacobian of a vector ``f``.
    hessian : ndarray, shape ``value.shape + (n, n)``
        One exactly symmetric Hessian per output.

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> dd.value_gradient_and_hessian(lambda x: x[0] ** 2 * x[1], np.array([1.0, 2.0]))
    (2.0, array([4., 1.]), array([[4., 2.],
           [2., 0.]]))
    """
    if x is None:
        return curry(value_gradient_and_hessian, f, args, chunk=chunk, mode=mode, argnum=argnum)
    if argnum != 0:
        raise ValueError(ARGNUM_WITH_X)
    check_callable(f)
    check_args(args)
    check_mode(mode)
    if is_structured(x):  # a tuple of parameter arrays: derivatives by their flat order
        x, layout = flatten_params(x)
        value, grad, hess = value_gradient_and_hessian(
            structured_wrapper(f, layout, len(args)), x, args=args, chunk=chunk,
            mode="forward" if mode == "auto" else mode)
        return value, (unflatten(grad, layout) if np.ndim(value) == 0 else grad), hess
    x = as_vector(x)
    n = len(x)
    values, grad, hess, shape = _full_hessian(f, x, args, chunk, mode)
    if shape == ():
        return scalar_value(values, shape), grad[0], hess[0]
    return scalar_value(values, shape), grad.reshape(shape + (n,)), hess.reshape(shape + (n, n))


def hessian(f, x=None, args=(), chunk=None, mode="auto", argnum=0):
    """Hessian of a function of a vector, exactly symmetric.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` with ``x`` a 1-D array, written as for Numba.  It
        returns a scalar, or a vector (array, tuple or list): then there is
        one Hessian per output.
    x : array_like, optional
        1-D point.  Omit it to get a function ``(x, *args) -> hessian``, usable
        as ``scipy.optimize.minimize(hess=...)``.
    args : tuple
        Extra arguments for ``f``.
    chunk : int, optional
        Inputs per block (see :func:`value_gradient_and_hessian`).
    mode : {"auto", "forward", "reverse"}
        Forward over forward, or forward over reverse (see
        :func:`value_gradient_and_hessian`).
    argnum : int, optional
        With ``x`` omitted: which argument of f the returned function
        differentiates, the others passed through (JAX's ``argnums``):
        ``dd.jacobian(rhs, argnum=1)`` is the ``jac(t, y)`` of ``solve_ivp``.

    Returns
    -------
    ndarray
        Shape ``(n, n)`` for a scalar ``f``; ``f(x).shape + (n, n)`` in
        general, ``(m, n, n)`` for ``f`` returning ``m`` numbers.  Every
        ``(n, n)`` slice is exactly symmetric.

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> dd.hessian(lambda x: x[0] ** 3 + x[0] * x[1], np.array([1.0, 2.0]))
    array([[6., 1.],
           [1., 0.]])

    A vector-valued function has one Hessian per output:

    >>> dd.hessian(lambda x: (x[0] * x[1], x[1] ** 2), np.array([1.0, 2.0]))
    array([[[0., 1.],
            [1., 0.]],
    <BLANKLINE>
           [[0., 0.],
            [0., 2.]]])
    """
    if x is None:
        return curry(hessian, f, args, chunk=chunk, mode=mode, argnum=argnum)
    if argnum != 0:
        raise ValueError(ARGNUM_WITH_X)
    if chunk is None and is_plain_vector(x) and type(args) is tuple and mode in MODES:
        # per-call fast path: f whose Hessian at this size and with arguments
        # of these types already worked (see dualdiff._engine.target.FastPaths)
        n = x.shape[0]
        run = _fast_hessians.get(f, (_takes_tape(mode, n), n), args)
        if run is not None:
            hess = run(x, args)
            if hess is not None:
                return hess
    hess = value_gradient_and_hessian(f, x, args=args, chunk=chunk, mode=mode)[2]
    if hess.ndim == 2 and chunk is None:
        _remember_fast_hessian(f, hess.shape[0], _takes_tape(mode, hess.shape[0]), args)
    return hess


def _takes_tape(mode, n):
    """Whether ``mode`` means the tape Hessian first for ``n`` inputs."""
    return mode == "reverse" or (mode == "auto" and n >= AUTO_TAPE_MIN_INPUTS)


# Per-call fast path of hessian(f, x, args), once the full path has worked
# for f at that size and with arguments of those types: keys (tape?, n, ids
# of the argument types).  The full path's checks and buffers cost more than
# the compiled work at n = 10 (issue 4, Rosenbrock: 0.7 us of 3.7 for the
# tape, about 4.5 us of 6.5 for hyper-duals).
_fast_hessians = FastPaths()


def _remember_fast_hessian(f, n, tape, args):
    argtypes = argument_types(args)
    if argtypes is None:
        return
    if not tape and _fast_hessians.get(f, (tape, n), args) is not None:
        return  # a forward driver does not change
    target = target_of(f)
    if tape:
        run = _tape_hessian.fast_hessian(target, n, argtypes)
    else:
        driver = target.drivers.get(("second", "hessian", choose_hessian_chunk(n),
                                     choose_hessian_chunk(n), argtypes))
        run = _forward_fast_hessian(driver, n, argtypes) if driver is not None else None
    if run is not None:
        _fast_hessians.put(f, (tape, n), argtypes, run)


def _forward_fast_hessian(driver, n, argtypes):
    """``(x, args) -> H`` through the lean hyper-dual driver
    (``_HESSIAN_SCALAR``), or None for the general one.  Buffers are taken
    from a pool and put back after a successful call, so concurrent calls
    never share one."""
    lean = getattr(driver, "lean", None)
    if lean is None:
        return None
    compiled, width = lean
    signature = tuple(numba.typeof(a) for a in (
        np.empty(n), np.empty((n, width)), np.empty((1, width)), np.empty(n),
        np.empty((n, n)))) + (types.BaseTuple.from_types(argtypes),)
    overload = compiled.overloads.get(signature)
    if overload is None:
        return None
    call = overload.entry_point
    pool = []

    def hessian(x, args):
        try:
            data, flat, grad = pool.pop()
        except IndexError:
            data, flat, grad = np.empty((n, width)), np.empty((1, width)), np.empty(n)
        hess = np.empty((n, n))
        call(x, data, flat, grad, hess, args)
        pool.append((data, flat, grad))
        return hess

    return hessian


def _vector_pair(x, v):
    x = as_vector(x)
    v = as_vector(v, "v")
    if v.shape != x.shape:
        raise ValueError(f"v must have the shape of x {x.shape}, got {v.shape}")
    return x, v


def hvp(f, x=None, v=None, args=(), chunk=None, mode="auto"):
    """Hessian-vector product ``H v`` without forming ``H``.

    Forward over reverse (``mode="reverse"``, and ``"auto"`` where it
    applies: ``f`` returns one number and is made of scalar operations): one
    recorded tape with second partials, one tangent pass along ``v`` and one
    backward pass, about the cost of a gradient.  Forward over forward
    (``mode="forward"``): the outer lane is seeded with ``v``, the inner
    lanes with the identity on a chunk of inputs, so each sweep gives a chunk
    of the gradient of ``grad f . v`` (``n / chunk`` sweeps).

    Parameters
    ----------
    f : callable
        ``f(x, *args)``, returning a scalar or a vector (array, tuple, list).
    x, v : array_like, optional
        Point and direction (1-D, same shape).  Omit both to get a function
        ``(x, v, *args) -> H v``: SciPy's ``hessp(x, p, *args)`` convention.
    args : tuple
    chunk : int, optional
        Inputs per sweep (default: balanced chunks of at most 8); forward
        mode only (giving it selects forward mode).
    mode : {"auto", "forward", "reverse"}
        As for :func:`value_gradient_and_hessian`.

    Returns
    -------
    ndarray
        Shape ``(n,)`` for a scalar ``f``; ``f(x).shape + (n,)`` in general
        (row ``i`` is ``H_i v`` for output ``i``).

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> dd.hvp(lambda x: x[0] ** 2 * x[1], np.array([1.0, 2.0]), np.array([1.0, 0.0]))
    array([4., 2.])
    """
    if x is None:
        return __curry_hvp(f, args, chunk, mode)
    check_callable(f)
    check_args(args)
    check_mode(mode)
    if v is None:
        raise TypeError("hvp needs a direction v shaped like x")
    if is_structured(x):  # parameter arrays, and v shaped like them: H v shaped so too
        flat, v_flat, layout = flatten_pair(x, v)
        hv = hvp(structured_wrapper(f, layout, len(args)), flat, v_flat, args=args, chunk=chunk,
                 mode="forward" if mode == "auto" else mode)
        return unflatten(hv, layout) if hv.ndim == 1 else hv
    x, v = _vector_pair(x, v)
    target = target_of(f)
    driver = None
    if mode == "auto" and (chunk is not None or len(x) < AUTO_TAPE_MIN_INPUTS):
        mode = "forward"
    if mode != "forward" and _use_compiled(x, f, args) and not is_nested(v):
        found = _tape_hessian.value_gradient_and_hessian(
            target, x, args, seeds=np.ascontiguousarray(v, dtype=np.float64).reshape(-1, 1))
        if found is None:
            if mode == "reverse":
                _tape_hessian_missed(f, target, args)
        elif found is not _tape_hessian.NOT_FINITE:  # else forward mode decides
            return found[2][:, 0]
    if _use_compiled(x, f, args):
        driver = _compiled(target, "hvp", choose_chunk(len(x), chunk), 1, args)
    if driver is None:
        values, _, _, cross, shape = _python_sweep2(target, x, np.eye(len(x)),
                                                    v.reshape(-1, 1), args)
        hv = cross[:, :, 0]
    else:
        values, _, hv, shape = driver(x, v, args)
        shape = tuple(map(int, shape))
    return hv.reshape(shape + (len(x),))


def __curry_hvp(f, args, chunk, mode):
    check_callable(f)
    check_args(args)

    @functools.wraps(f)
    def curried(x, v, *call_args):
        return hvp(f, x, v, args=call_args if call_args else args, chunk=chunk, mode=mode)

    curried.__name__ = curried.__qualname__ = f"hvp_of_{getattr(f, '__name__', 'f')}"
    curried.__doc__ = f"hvp of {getattr(f, '__name__', 'f')}; call as (x, v, *args)."
    return curried


def vhv(f, x, v, args=()):
    """The quadratic form ``v^T H v`` in one sweep of scalar hyper-duals
    (a float, or an array shaped like ``f(x)`` for a vector ``f``).

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> dd.vhv(lambda x: x[0] ** 2 * x[1], np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    8.0
    """
    check_callable(f)
    check_args(args)
    if is_structured(x):  # parameter arrays, and v shaped like them
        flat, v_flat, layout = flatten_pair(x, v)
        return vhv(structured_wrapper(f, layout, len(args)), flat, v_flat, args=args)
    x, v = _vector_pair(x, v)
    seeds = v.reshape(-1, 1)
    values, _, _, cross, shape = _seeded2(f, x, seeds, seeds, args, scalar=False)
    return scalar_value(cross[:, 0, 0], shape)


def second_derivative(f, x, args=()):
    """``f''(x)`` of a function of one real variable (scalar or vector valued):
    one sweep of ``Dual[Dual[float64, 1], 1]``.  ``dd.derivative(f, x, order=2)``
    calls this.

    Examples
    --------
    >>> import dualdiff as dd
    >>> dd.derivative(lambda x: x ** 3, 2.0, order=2)
    12.0
    """
    check_callable(f)
    check_args(args)
    x = as_scalar(x)
    one = np.ones((1, 1))
    values, _, _, cross, shape = _seeded2(f, x, one, one, args, scalar=True)
    return scalar_value(cross[:, 0, 0], shape)
