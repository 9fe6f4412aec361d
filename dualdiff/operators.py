"""The operators users call: derivative, gradient, jacobian, jvp, vjp and their
value_and_ forms, with ``mode="auto"``'s choice between forward and reverse
mode, the per-call fast paths, and currying (``dd.gradient(f)`` is a function
of x).  It sits above both first-order modes, so neither imports the other.

Every function works in two ways::

    dd.gradient(f, x)          # the gradient at x
    grad_f = dd.gradient(f)    # a function x -> gradient (also a decorator)

Extra arguments go through ``args=(...)`` as in SciPy, and the curried forms
accept SciPy's ``(x, *args)`` calling convention, so they can be passed to
``scipy.optimize.minimize(jac=...)`` directly.
"""

import warnings

import numpy as np

from . import reverse as _reverse
from ._engine.inputs import (
    ARGNUM_WITH_X, MODES, as_scalar, as_vector, check_args, check_callable, check_mode, curry,
    flatten_pair, flatten_params, holds_duals, is_nested, is_structured, scalar_value, unflatten,
)
from ._engine.target import (
    FallbackWarning, FastPaths, argument_types, is_plain_vector, target_of,
)
from .forward import (
    UNIT_SEED, forward_fast_gradient, full_jacobian, seeded, structured_wrapper,
)
from .numbers.dual import Dual

__all__ = ["derivative", "gradient", "jacobian", "jvp", "vjp", "value_and_gradient",
           "value_and_jacobian"]


_fast_gradients = FastPaths()


def _fast_value_and_gradient(f, x, args, mode, chunk):
    """``(value, gradient)`` by a remembered run, or None (then the full path)."""
    if chunk is not None or not is_plain_vector(x) or type(args) is not tuple \
            or mode not in MODES:
        return None
    run = _fast_gradients.get(f, (mode, x.shape[0]), args)
    return None if run is None else run(x, args)


def _remember_fast_gradient(f, n, mode, args):
    """After a full-path gradient of f (n inputs, no chunk given): remember a
    run of the driver that answered, for :func:`_fast_value_and_gradient`."""
    argtypes = argument_types(args)
    if argtypes is None or _fast_gradients.get(f, (mode, n), args) is not None:
        return
    target = target_of(f)
    run = _reverse.fast_gradient(target, n, argtypes) if _use_reverse(mode, n) else None
    if run is None:  # forward mode answered (or reverse fell back to it)
        run = forward_fast_gradient(target, n, argtypes)
    if run is not None:
        _fast_gradients.put(f, (mode, n), argtypes, run)


def _reverse_missed(f, mode):
    """Warn (once per function) that reverse mode was asked for but f does not
    compile for reverse-mode numbers; forward mode answers instead."""
    target = target_of(f)
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
    if is_structured(x):
        x, layout = flatten_params(x)
    else:
        x = as_vector(x, copy=False)
    if mode == "auto" and chunk is not None:
        mode = "forward"  # a chunk size is a forward-mode choice
    if mode != "forward" and (layout is not None or _use_reverse(mode, len(x))) \
            and not is_nested(x) and not holds_duals(f, args):
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
        x = x.copy()  # forward mode works on its own copy, as as_vector gives
    g = f if layout is None else structured_wrapper(f, layout, len(args))
    values, jac, shape = full_jacobian(g, x, args, chunk)
    return values, jac, shape, layout


def _use_reverse(mode, n):
    return mode == "reverse" or (mode == "auto" and n >= _reverse.AUTO_REVERSE_MIN_INPUTS)


def derivative(f, x=None, order=1, args=(), argnum=0):
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
    argnum : int, optional
        With ``x`` omitted: which argument of f the returned function
        differentiates, the others passed through (JAX's ``argnums``):
        ``dd.jacobian(rhs, argnum=1)`` is the ``jac(t, y)`` of ``solve_ivp``.

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
        return curry(derivative, f, args, order=order, argnum=argnum)
    if argnum != 0:
        raise ValueError(ARGNUM_WITH_X)
    check_callable(f)
    check_args(args)
    if order == 2:
        from .second import second_derivative  # lazy: second.py imports this module
        return second_derivative(f, x, args=args)
    if order != 1:
        raise NotImplementedError("derivative supports order=1 and order=2")
    x = as_scalar(x)
    out = seeded(f, x, UNIT_SEED, args, scalar=True, raw=True)
    if len(out) == 2:
        return out[1][0]
    values, partials, shape = out
    return scalar_value(partials[:, 0], shape)


def value_and_gradient(f, x=None, args=(), mode="auto", chunk=None, argnum=0):
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
    argnum : int, optional
        With ``x`` omitted: which argument of f the returned function
        differentiates, the others passed through (JAX's ``argnums``):
        ``dd.jacobian(rhs, argnum=1)`` is the ``jac(t, y)`` of ``solve_ivp``.

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
        return curry(value_and_gradient, f, args, mode=mode, chunk=chunk, argnum=argnum)
    if argnum != 0:
        raise ValueError(ARGNUM_WITH_X)
    fast = _fast_value_and_gradient(f, x, args, mode, chunk)
    if fast is not None:
        return fast
    check_callable(f)
    check_args(args)
    check_mode(mode)
    values, jac, shape, layout = _value_and_jacobian_any(f, x, args, mode, chunk,
                                                         gradient=True)
    if shape != ():
        raise ValueError(f"gradient needs f to return a scalar; it returned shape {shape} "
                         "(use jacobian for vector-valued functions)")
    if layout is None and chunk is None:
        _remember_fast_gradient(f, jac.shape[1], mode, args)
    grad = jac[0] if layout is None else unflatten(jac[0], layout)
    return scalar_value(values, shape), grad


def gradient(f, x=None, args=(), mode="auto", chunk=None, argnum=0):
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
    argnum : int, optional
        With ``x`` omitted: which argument of f the returned function
        differentiates, the others passed through (JAX's ``argnums``):
        ``dd.jacobian(rhs, argnum=1)`` is the ``jac(t, y)`` of ``solve_ivp``.

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
        return curry(gradient, f, args, mode=mode, chunk=chunk, argnum=argnum)
    if argnum != 0:
        raise ValueError(ARGNUM_WITH_X)
    return value_and_gradient(f, x, args=args, mode=mode, chunk=chunk)[1]


def value_and_jacobian(f, x=None, args=(), mode="auto", chunk=None, argnum=0):
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
    argnum : int, optional
        With ``x`` omitted: which argument of f the returned function
        differentiates, the others passed through (JAX's ``argnums``):
        ``dd.jacobian(rhs, argnum=1)`` is the ``jac(t, y)`` of ``solve_ivp``.

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
        return curry(value_and_jacobian, f, args, mode=mode, chunk=chunk, argnum=argnum)
    if argnum != 0:
        raise ValueError(ARGNUM_WITH_X)
    check_callable(f)
    check_args(args)
    check_mode(mode)
    if mode == "auto" and not is_structured(x):
        mode = "forward"  # m is unknown before f runs; see the docstring
    values, jac, shape, layout = _value_and_jacobian_any(f, x, args, mode, chunk)
    if layout is not None:
        return scalar_value(values, shape), unflatten(jac.reshape(shape + (-1,)), layout)
    return scalar_value(values, shape), jac.reshape(shape + (jac.shape[-1],))


def jacobian(f, x=None, args=(), mode="auto", chunk=None, argnum=0):
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
    argnum : int, optional
        With ``x`` omitted: which argument of f the returned function
        differentiates, the others passed through (JAX's ``argnums``):
        ``dd.jacobian(rhs, argnum=1)`` is the ``jac(t, y)`` of ``solve_ivp``.

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
        return curry(jacobian, f, args, mode=mode, chunk=chunk, argnum=argnum)
    if argnum != 0:
        raise ValueError(ARGNUM_WITH_X)
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
    check_callable(f)
    check_args(args)
    if is_structured(x):  # parameter arrays, and v shaped like them
        flat, v_flat, layout = flatten_pair(x, v)
        return jvp(structured_wrapper(f, layout, len(args)), flat, v_flat, args=args)
    if np.ndim(x) == 0 and not isinstance(x, np.ndarray) or isinstance(x, Dual):
        x = as_scalar(x)
        v = as_scalar(v, "v")
        values, partials, shape = seeded(f, x, np.full((1, 1), v), args, scalar=True)
    else:
        x = as_vector(x)
        v = as_vector(v, "v")
        if v.shape != x.shape:
            raise ValueError(f"v must have the shape of x {x.shape}, got {v.shape}")
        values, partials, shape = seeded(f, x, v.reshape(-1, 1), args, scalar=False)
    return scalar_value(values, shape), scalar_value(partials[:, 0], shape)


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
    check_callable(f)
    check_args(args)
    check_mode(mode)
    structured = is_structured(x)
    if mode != "forward" and not isinstance(x, Dual):
        flat, layout = flatten_params(x) if structured else (as_vector(x), None)
        if (structured or _use_reverse(mode, len(flat))) and not is_nested(flat) \
                and not holds_duals(f, args):
            u_arr = np.asarray(u, dtype=np.float64)
            result = _reverse.checked_vjp(f, flat, u_arr, args, layout)
            if result is None:
                _reverse_missed(f, mode)
            elif result is not _reverse.NOT_FINITE:  # else forward mode decides
                values, product, shape = result
                value = scalar_value(values, shape)
                if u_arr.shape != np.shape(value):
                    raise ValueError(f"u must have the shape of f(x) {np.shape(value)}, "
                                     f"got {u_arr.shape}")
                return value, product if layout is None else unflatten(product, layout)
    value, jac = value_and_jacobian(f, x, args=args, chunk=chunk, mode="forward")
    if structured:
        jac_flat = np.concatenate([np.reshape(j, np.shape(value) + (-1,)) for j in jac], -1)
        _, layout = flatten_params(x)
        u = np.asarray(u, dtype=np.float64)
        if u.shape != np.shape(value):
            raise ValueError(f"u must have the shape of f(x) {np.shape(value)}, got {u.shape}")
        n = jac_flat.shape[-1]
        return value, unflatten(u.reshape(-1) @ jac_flat.reshape(-1, n), layout)
    u = np.asarray(u, dtype=np.float64)
    out_shape = np.shape(value)
    if u.shape != out_shape:
        raise ValueError(f"u must have the shape of f(x) {out_shape}, got {u.shape}")
    n = jac.shape[-1]
    product = u.reshape(-1) @ jac.reshape(-1, n)
    return value, product
