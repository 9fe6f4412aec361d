"""First derivatives by finite differences: :func:`derivative` (of order 1
to 4), :func:`gradient`, :func:`jacobian` and :func:`jvp`.
"""

import numpy as np

from .inputs import Caller, as_real_array, as_scalar, as_vector, check_method
from .sweeps import along, finish, scalar_or_array


# ---------------------------------------------------------------------------
# Public API: derivative, gradient, jacobian, jvp
# ---------------------------------------------------------------------------

def derivative(f, x, args=(), method="central", step=None, order=1, *,
               scale=None, noise=None, full_output=False):
    """Finite-difference derivative of a function of one scalar.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` with ``x`` a float; returns a float or an array.
    x : float
        The point.
    args : tuple, optional
        Extra arguments passed to ``f``.
    method : str, optional
        One of ``"forward"``, ``"backward"``, ``"central"``, ``"central4"``,
        ``"central6"``, ``"richardson"``, ``"complex"``.
    step : float, optional
        Overrides the automatic step (see the module docstring).  For
        ``"richardson"`` the first step of the sequence; for ``"complex"``
        the imaginary step when ``order == 1``, else the real step.
    order : int, optional
        Derivative order, 1 to 4.
    scale : float, optional
        Typical magnitude of ``x``; the step is relative to ``max(|x|, scale)``
        (default ``scale = 1``).
    noise : float, optional
        Relative accuracy of the values of ``f`` (default machine epsilon).
    full_output : bool, optional
        Also return an :class:`FDInfo` with an error estimate.

    Returns
    -------
    numpy.float64 or numpy.ndarray
        The derivative, shaped like ``f(x)``; with ``full_output`` the pair
        ``(derivative, info)``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> d = fd.derivative(np.exp, 1.0, method="richardson")
    >>> bool(abs(d - np.e) < 1e-12)
    True
    >>> d, info = fd.derivative(np.sin, 0.5, method="richardson", full_output=True)
    >>> bool(abs(d - np.cos(0.5)) <= info.error_estimate)
    True
    """
    check_method(method)
    if not isinstance(order, (int, np.integer)) or not 1 <= order <= 4:
        raise ValueError(f"order must be an integer from 1 to 4, got {order!r}")
    x = as_scalar(x)
    call = Caller(f, args, scalar_input=True,
                   complex_step=method == "complex")
    d, err, steps = along(call, x, method, step, scale, noise,
                                 full_output, deriv=int(order))
    value = scalar_or_array(d[0])
    err = None if err is None else scalar_or_array(err[0])
    return finish(value, err, method, steps, call, full_output)


def gradient(f, x, args=(), method="central", step=None, *, scale=None,
             noise=None, full_output=False):
    """Finite-difference gradient of a scalar function of a vector.

    Costs ``n`` calls of ``f`` (plus one) for ``"forward"``/``"backward"``,
    ``2n`` for ``"central"``, ``4n``/``6n`` for ``"central4"``/``"central6"``,
    ``n`` for ``"complex"`` and about ``2n`` per step for ``"richardson"``;
    twice that with ``full_output`` (except ``"richardson"``).

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` with ``x`` a 1-D float array; returns a scalar.
    x : array_like, shape (n,)
        The point (never modified; ``f`` gets copies).
    args : tuple, optional
        Extra arguments passed to ``f``.
    method : str, optional
        See :func:`derivative`.
    step : float or array_like of shape (n,), optional
        Overrides the automatic per-coordinate steps.
    scale : float or array_like of shape (n,), optional
        Typical magnitude of each coordinate (default 1).
    noise : float, optional
        Relative accuracy of the values of ``f`` (default machine epsilon).
    full_output : bool, optional
        Also return an :class:`FDInfo` with an error estimate.

    Returns
    -------
    numpy.ndarray, shape (n,)
        The gradient; with ``full_output`` the pair ``(gradient, info)``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> g = fd.gradient(lambda x: x[0] ** 2 * x[1], [3.0, 2.0])
    >>> np.allclose(g, [12.0, 9.0])
    True
    """
    check_method(method)
    x = as_vector(x)
    call = Caller(f, args, scalar_input=False,
                   complex_step=method == "complex")
    d, err, steps = along(call, x, method, step, scale, noise,
                                 full_output)
    if d.ndim > 1 and d[0].size != 1:
        raise ValueError(f"gradient needs a scalar-valued f, but f returned "
                         f"shape {call.shape}; use jacobian()")
    d = d.reshape(x.size)
    err = None if err is None else err.reshape(x.size)
    return finish(d, err, method, steps, call, full_output)


def jacobian(f, x, args=(), method="central", step=None, *, scale=None,
             noise=None, full_output=False):
    """Finite-difference Jacobian of a function of a vector.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` with ``x`` a 1-D float array; returns a scalar or an
        array (flattened: ``m`` is its size).
    x : array_like, shape (n,)
        The point.
    args, method, step, scale, noise, full_output
        As for :func:`gradient`.

    Returns
    -------
    numpy.ndarray, shape (m, n)
        ``J[i, j] = d f_i / d x_j`` (``m = 1`` for scalar ``f``); with
        ``full_output`` the pair ``(J, info)``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> J = fd.jacobian(lambda x: np.array([x[0] * x[1], np.sin(x[0])]),
    ...                 [1.0, 2.0], method="complex")
    >>> np.allclose(J, [[2.0, 1.0], [np.cos(1.0), 0.0]], atol=1e-15)
    True
    """
    check_method(method)
    x = as_vector(x)
    call = Caller(f, args, scalar_input=False,
                   complex_step=method == "complex")
    d, err, steps = along(call, x, method, step, scale, noise,
                                 full_output)
    jac = d.reshape(x.size, -1).T.copy()
    err = None if err is None else err.reshape(x.size, -1).T.copy()
    return finish(jac, err, method, steps, call, full_output)


def jvp(f, x, v, args=(), method="central", step=None, *, scale=None,
        noise=None, full_output=False):
    """Finite-difference Jacobian-vector product ``J(x) v`` (a directional
    derivative), at the cost of one derivative (2 calls for central).

    Unlike :func:`dualdiff.jvp` this returns ``J v`` only, not ``f(x)``.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` returning a scalar or an array.
    x, v : array_like, shape (n,)
        The point and the direction.
    args, method, noise, full_output
        As for :func:`gradient`.
    step : float, optional
        Step ``t`` along ``v`` (points ``x + t v``).  By default ``t`` is the
        largest step that moves no coordinate by more than its own automatic
        step: ``t = c * min_i max(|x_i|, scale_i) / |v_i|`` over ``v_i != 0``.
    scale : float or array_like of shape (n,), optional
        Typical magnitude of each coordinate (default 1).

    Returns
    -------
    numpy.float64 or numpy.ndarray
        ``J v``, shaped like ``f(x)``; with ``full_output`` ``(J v, info)``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> float(round(fd.jvp(lambda x: x @ x, [1.0, 2.0], [1.0, 1.0]), 8))
    6.0
    """
    check_method(method)
    x = as_vector(x)
    v = as_real_array(v, "v")
    if v.shape != x.shape:
        raise ValueError(f"v must have the shape of x {x.shape}, got {v.shape}")
    call = Caller(f, args, scalar_input=False,
                   complex_step=method == "complex")
    if not np.any(v):
        zero = np.zeros(Caller(f, args, False)(x).shape)
        return finish(scalar_or_array(zero), scalar_or_array(zero.copy()),
                       method, [0.0], call, full_output)
    if step is not None and np.ndim(step) != 0:
        raise ValueError(f"step for jvp must be a scalar (the step along v), "
                         f"got shape {np.shape(step)}")
    d, err, steps = along(call, x, method, step, scale, noise,
                                 full_output, direction=v)
    err = None if err is None else scalar_or_array(err[0])
    return finish(scalar_or_array(d[0]), err, method, steps, call,
                   full_output)
