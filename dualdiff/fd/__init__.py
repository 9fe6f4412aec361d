"""Finite differences: stencils, Richardson extrapolation and the complex step.

Pure NumPy and independent of the rest of dualdiff (the one exception is
:func:`error_vs_step`, which asks :mod:`dualdiff.operators` for a reference value
when none is given, importing it lazily).

Methods
-------
``"forward"`` / ``"backward"``
    One-sided differences, first order in the step.
``"central"``, ``"central4"``, ``"central6"``
    Symmetric stencils of order 2, 4 and 6.
``"richardson"``
    Central differences at a decreasing sequence of steps, extrapolated to zero
    step with Neville's tableau (Ridders' method); gives an error estimate.
``"complex"``
    The complex step ``Im f(x + i h) / h``: no subtractive cancellation, so it
    is accurate to machine precision, but ``f`` must accept complex input.

Step selection
--------------
A stencil for the ``m``-th derivative with ``sum |w_k| = R`` and truncation
error ``C h**p |f^(m+p)|`` has total error about ``C h**p + m R noise / h**m``
when ``f`` is computed with relative noise ``noise`` (default machine epsilon)
and varies on the scale of ``x``.  The minimum lies at::

    h_i = (m R noise / (p C)) ** (1 / (p + m)) * max(|x_i|, scale_i)

with ``scale_i = 1`` by default (the SciPy convention: relative steps for large
coordinates, absolute ones near zero).  This gives ``2 sqrt(eps)`` for forward,
``(3 eps)**(1/3)`` for central and ``(11.25 eps)**(1/5)`` for central4
differences.  Steps are rounded so that ``x + h`` is exact (``h = (x+h) - x``).
When a coordinate is small *and* ``f`` varies on that small scale (physical
units), pass ``scale`` (typical magnitudes) or ``step``.  Hessians use the
same rule for their second-derivative stencils (``h ~ noise**(1/(p+2))``).

Richardson extrapolation starts at ``h0 = 0.1 * max(|x_i|, scale_i)`` and
halves the step, extrapolating each new central difference through Neville's
tableau.  Every entry carries a propagated bound on its rounding error; the
entry whose distance to its neighbours plus rounding bound is smallest wins,
and that sum is the error estimate.  Steps stop once rounding alone exceeds
the best estimate; leading steps that give non-finite values (the step left
f's domain) are skipped.  The estimate bounded the true error on every smooth
test function tried (see tests), typically by a factor 10-30.  Like any
sampling method it can be fooled by functions that oscillate on a scale much
shorter than ``h0`` (aliasing); pass a smaller ``step`` for those.

The complex step needs ``f`` to be analytic in the code path taken: ``abs``,
``conj`` or ``real`` silently break it; ``math`` functions, ``float()`` or
assignment into float arrays are detected and reported.

Every public function returns float64 results (NumPy scalars for scalar
outputs) and, with ``full_output=True``, a pair ``(result, info)`` where
``info`` is an :class:`FDInfo` holding an error estimate.

The subpackage owns finite differences, bottom up: :mod:`.stencils` (stencil
weights, the step rule, Ridders' extrapolation), :mod:`.inputs` (input checks,
calling ``f``), :mod:`.sweeps` (stencils along directions, :class:`FDInfo`),
:mod:`.first` (derivative, gradient, jacobian, jvp), :mod:`.hessians`
(hessian) and :mod:`.study` (error_vs_step).  It imports NumPy and the
standard library only, and :mod:`dualdiff.operators` lazily in :mod:`.study`.
"""

from . import stencils
from .first import derivative, gradient, jacobian, jvp
from .hessians import hessian
from .inputs import METHODS
from .study import ErrorCurve, error_vs_step, plot_error_vs_step
from .sweeps import FDInfo

__all__ = [
    "FDInfo",
    "ErrorCurve",
    "METHODS",
    "derivative",
    "gradient",
    "jacobian",
    "hessian",
    "jvp",
    "error_vs_step",
    "plot_error_vs_step",
]

EPS = stencils.EPS  # public (dualdiff.fd.EPS) but, as before, not in __all__
