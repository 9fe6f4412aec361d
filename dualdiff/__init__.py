"""dualdiff: exact derivatives of ordinary numeric Python code, fast.

Write a function as you would for Numba (loops, indexing, ``math``/``numpy``
calls, branches, while-loops) and get its derivative, gradient, Jacobian,
JVP or VJP exactly, with no step size::

    import dualdiff as dd
    dd.gradient(f, x)          # or: grad_f = dd.gradient(f)
"""

from . import rules
from .dual import Dual, primal
from . import _nbdual, _nbarray  # noqa: F401  (registers the Numba types)
from .forward import (
    FallbackWarning, choose_chunk, derivative, gradient, jacobian, jvp,
    value_and_gradient, value_and_jacobian, vjp,
)

__version__ = "0.1.0"

__all__ = [
    "Dual", "primal", "rules", "derivative", "gradient", "jacobian", "jvp", "vjp",
    "value_and_gradient", "value_and_jacobian", "choose_chunk", "FallbackWarning",
]
