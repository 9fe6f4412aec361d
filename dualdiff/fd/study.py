"""The error-versus-step study: the data of the log-log "V" plot of
finite-difference error against the step (:func:`error_vs_step`,
:class:`ErrorCurve`) and its plot (:func:`plot_error_vs_step`, needs
matplotlib).  The one part of :mod:`dualdiff.fd` that reaches outside it:
:mod:`dualdiff.operators`, imported lazily, for a reference derivative.
"""

from dataclasses import dataclass, field

import numpy as np

from .first import derivative
from .inputs import as_args, as_real_array, as_scalar, check_method


@dataclass
class ErrorCurve:
    """Data of an error-versus-step plot, as returned by :func:`error_vs_step`.

    Attributes
    ----------
    x : float
        The point.
    reference : float or numpy.ndarray
        The derivative the errors are measured against.
    steps : numpy.ndarray
        The steps, increasing.
    errors : dict of str to numpy.ndarray
        Absolute error (max over outputs) of each method at each step.
    auto_steps : dict of str to float
        The step each method would choose automatically.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> data = fd.error_vs_step(np.exp, 0.0, reference=1.0, steps=[1e-3, 1e-6])
    >>> sorted(data.errors), data.steps.tolist()
    (['central', 'complex', 'forward'], [1e-06, 0.001])
    """

    x: float
    reference: object
    steps: np.ndarray
    errors: dict = field(default_factory=dict)
    auto_steps: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# Error versus step
# ---------------------------------------------------------------------------

def error_vs_step(f, x, reference=None, steps=None,
                  methods=("forward", "central", "complex"), args=()):
    """Absolute error of finite-difference derivatives over a range of steps:
    the data of the classic log-log "V" plot (truncation error falling as
    ``h**p`` to the right, rounding error rising as ``1/h`` to the left).

    Parameters
    ----------
    f : callable
        ``f(x, *args)`` of a scalar ``x``.
    x : float
        The point.
    reference : float or array_like, optional
        The exact derivative.  By default the automatic-differentiation value
        ``dualdiff.operators.derivative(f, x, args)``.
    steps : array_like, optional
        Steps to try (default ``logspace(-20, 0, 81) * max(|x|, 1)``).
    methods : sequence of str, optional
        Methods to compare.
    args : tuple, optional
        Extra arguments passed to ``f``.

    Returns
    -------
    ErrorCurve
        ``steps``, ``errors[method]`` (max over outputs), ``reference`` and
        the automatic ``auto_steps[method]``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> data = fd.error_vs_step(np.sin, 1.0, reference=np.cos(1.0),
    ...                         steps=[1e-2, 1e-5, 1e-8])
    >>> bool(data.errors["central"][1] < data.errors["central"][0])
    True
    """
    for m in methods:
        check_method(m)
    x0 = float(as_scalar(x)[0])
    if reference is None:
        try:
            from .. import operators
        except ImportError as exc:
            raise ImportError("error_vs_step needs dualdiff.operators for the "
                              "reference derivative; pass reference= "
                              f"explicitly ({exc})") from exc
        reference = operators.derivative(f, x0, args=as_args(args))
    reference = np.asarray(reference, dtype=np.float64)
    if steps is None:
        steps = np.logspace(-20, 0, 81) * max(abs(x0), 1.0)
    steps = np.sort(as_real_array(steps, "steps").ravel())
    if steps.size == 0 or np.any(steps <= 0):
        raise ValueError("steps must be positive")
    curve = ErrorCurve(x=x0, reference=reference, steps=steps)
    with np.errstate(all="ignore"):
        for m in methods:
            errs = [np.max(np.abs(derivative(f, x0, args, m, h) - reference))
                    for h in steps]
            curve.errors[m] = np.array(errs, dtype=np.float64)
            auto = derivative(f, x0, args, m, full_output=True)[1].step
            curve.auto_steps[m] = float(np.ravel(auto)[0])
    return curve


def plot_error_vs_step(data, ax=None):
    """Log-log plot of :func:`error_vs_step` data (needs matplotlib).

    Parameters
    ----------
    data : ErrorCurve
        From :func:`error_vs_step`.
    ax : matplotlib.axes.Axes, optional
        Axes to draw on (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff import fd
    >>> data = fd.error_vs_step(np.exp, 0.5, reference=np.exp(0.5))
    >>> ax = fd.plot_error_vs_step(data)  # doctest: +SKIP
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plot_error_vs_step needs matplotlib; install it "
                          "with 'pip install matplotlib'") from exc
    if ax is None:
        _, ax = plt.subplots()
    for m, errs in data.errors.items():
        shown = np.where(errs > 0, errs, np.nan)  # log axes cannot show 0
        (line,) = ax.loglog(data.steps, shown, marker=".", label=m)
        if m in data.auto_steps:
            ax.axvline(data.auto_steps[m], color=line.get_color(),
                       linestyle=":", linewidth=0.8)
    ax.set_xlabel("step h")
    ax.set_ylabel("absolute error")
    ax.set_title(f"finite-difference error at x = {data.x:g}")
    ax.legend()
    return ax
