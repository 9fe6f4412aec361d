"""The ``@dualdiff.differentiable`` decorator: a function that knows its derivatives."""

import functools

import numpy as np

from . import check, operators, second
from ._engine.target import target_of
from ._compiled.compat import NumbaError


class Differentiable:
    """A numeric function with its derivatives attached; see :func:`differentiable`."""

    def __init__(self, f):
        if not callable(f):
            raise TypeError(f"differentiable expects a function, got {type(f).__name__}")
        if isinstance(f, Differentiable):
            f = f._dualdiff_function
        self._dualdiff_function = f
        self._plain = {}
        functools.update_wrapper(self, f)

    def __repr__(self):
        return f"<differentiable {getattr(self, '__qualname__', self._dualdiff_function)!r}>"

    def __call__(self, x, *args):
        # the plain function, compiled by Numba once per argument count when it
        # can be; otherwise (object-mode code) the Python function itself
        # (per target: a changed global makes a new one, compiled afresh)
        n_args = len(args)
        target = target_of(self._dualdiff_function)
        compiled = self._plain.get((target, n_args))
        if compiled is None:
            self._plain = {key: c for key, c in self._plain.items() if key[0] is target}
            compiled = target.get_dispatcher(n_args)
            self._plain[(target, n_args)] = compiled
        if compiled is not False:
            try:
                return compiled(x, *args)
            except NumbaError:
                self._plain[(target, n_args)] = False
        return self._dualdiff_function(x, *args)

    # -- first order -----------------------------------------------------------
    # Extra arguments come after x, as for f itself, or as args=(...) as for
    # the operators: both spellings work, not both at once.
    def derivative(self, x, *extra, args=(), order=1):
        """``dualdiff.derivative(f, x, order, args)``."""
        return operators.derivative(self._dualdiff_function, x, order=order,
                                    args=_extra(extra, args))

    def gradient(self, x, *extra, args=(), mode="auto", chunk=None):
        """``dualdiff.gradient(f, x, args)``."""
        return operators.gradient(self._dualdiff_function, x, args=_extra(extra, args),
                                  mode=mode, chunk=chunk)

    def value_and_gradient(self, x, *extra, args=(), mode="auto", chunk=None):
        """``dualdiff.value_and_gradient(f, x, args)``."""
        return operators.value_and_gradient(self._dualdiff_function, x,
                                            args=_extra(extra, args), mode=mode, chunk=chunk)

    def jacobian(self, x, *extra, args=(), mode="auto", chunk=None):
        """``dualdiff.jacobian(f, x, args)``."""
        return operators.jacobian(self._dualdiff_function, x, args=_extra(extra, args),
                                  mode=mode, chunk=chunk)

    def jvp(self, x, v, *extra, args=()):
        """``dualdiff.jvp(f, x, v, args)``: ``(f(x), J v)``."""
        return operators.jvp(self._dualdiff_function, x, v, args=_extra(extra, args))

    def vjp(self, x, u, *extra, args=(), mode="auto"):
        """``dualdiff.vjp(f, x, u, args)``: ``(f(x), uᵀ J)``."""
        return operators.vjp(self._dualdiff_function, x, u, args=_extra(extra, args),
                             mode=mode)

    # -- second order ----------------------------------------------------------
    def hessian(self, x, *extra, args=(), chunk=None, mode="auto"):
        """``dualdiff.hessian(f, x, args)``."""
        return second.hessian(self._dualdiff_function, x, args=_extra(extra, args),
                              chunk=chunk, mode=mode)

    def hvp(self, x, v, *extra, args=(), mode="auto"):
        """``dualdiff.hvp(f, x, v, args)``: ``H v``."""
        return second.hvp(self._dualdiff_function, x, v, args=_extra(extra, args), mode=mode)

    # -- checking --------------------------------------------------------------
    def check(self, x, *extra, args=(), **options):
        """Compare the derivative with finite differences at ``x``.

        Calls :func:`dualdiff.check_derivative` for scalar ``x``,
        :func:`dualdiff.check_gradient` for a scalar-valued ``f`` of a vector,
        and :func:`dualdiff.check_jacobian` otherwise; keyword options are
        passed on.  Returns the report (``report.passed``).
        """
        f = self._dualdiff_function
        args = _extra(extra, args)
        if np.ndim(x) == 0:
            return check.check_derivative(f, x, args=args, **options)
        if np.ndim(self(np.asarray(x, dtype=np.float64), *args)) == 0:
            return check.check_gradient(f, x, args=args, **options)
        return check.check_jacobian(f, x, args=args, **options)


def _extra(extra, args):
    if extra and args:
        raise TypeError("pass f's extra arguments after x or as args=(...), not both")
    return tuple(extra) if extra else args


def differentiable(f):
    """Decorate a numeric function so that it carries its own derivatives.

    The decorated function still computes ``f(x, *args)`` (compiled by Numba
    when it can be), and gains methods ``derivative``, ``gradient``,
    ``value_and_gradient``, ``jacobian``, ``jvp``, ``vjp``, ``hessian``,
    ``hvp`` and ``check``, each taking ``x`` (then any extra arguments of
    ``f``, or ``args=(...)`` as the operators take them) and sharing one
    compiled function.  Passing the decorated function
    to ``dualdiff.gradient`` and friends works too.

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` written as for Numba.

    Returns
    -------
    Differentiable
        A callable wrapping ``f``.

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> @dd.differentiable
    ... def energy(x, k):
    ...     s = 0.0
    ...     for i in range(len(x)):
    ...         s += 0.5 * k * x[i] ** 2
    ...     return s
    >>> x = np.array([1.0, -2.0])
    >>> float(energy(x, 3.0))
    7.5
    >>> energy.gradient(x, 3.0)
    array([ 3., -6.])
    >>> energy.hessian(x, 3.0)
    array([[3., 0.],
           [0., 3.]])
    >>> energy.check(x, 3.0).passed
    True
    """
    return Differentiable(f)
