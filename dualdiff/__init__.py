"""dualdiff: exact derivatives of ordinary numeric Python code, fast.

Write a function as you would for Numba (loops, indexing, ``math``/``numpy``
calls, branches, while-loops) and get its derivative, gradient, Jacobian,
JVP or VJP exactly, with no step size::

    import dualdiff as dd
    dd.gradient(f, x)          # or: grad_f = dd.gradient(f)
"""

from . import rules
from .numbers.dual import Dual, primal
from . import _compiled  # noqa: F401  (registers the Numba types)
from . import arrays, reverse
from ._engine.target import FallbackWarning
from .forward import choose_chunk
from .operators import (
    derivative, gradient, jacobian, jvp, value_and_gradient, value_and_jacobian, vjp,
)

from . import cache, fd, jit
from ._differentiable import Differentiable, differentiable
from .check import (
    assert_adjoint, assert_derivative, assert_gradient, assert_hessian, assert_jacobian,
    check_adjoint, check_derivative, check_gradient, check_hessian, check_jacobian,
)

__version__ = "0.1.0"

__all__ = [
    "Dual", "primal", "rules", "derivative", "gradient", "jacobian", "jvp", "vjp",
    "value_and_gradient", "value_and_jacobian", "choose_chunk", "FallbackWarning", "fd",
    "check_derivative", "check_gradient", "check_jacobian", "check_hessian", "check_adjoint",
    "assert_derivative", "assert_gradient", "assert_jacobian", "assert_hessian",
    "assert_adjoint", "differentiable", "Differentiable", "jit", "arrays", "reverse",
    "cache",
]

# Second order (forward over forward): hessian, hvp, vhv
from .second import (  # noqa: E402
    MAX_AUTO_HESSIAN_CHUNK, hessian, hvp, value_gradient_and_hessian, vhv,
)

__all__ += ["hessian", "hvp", "vhv", "value_gradient_and_hessian", "MAX_AUTO_HESSIAN_CHUNK"]

# Python-side hyper-dual numbers (second order at the prompt)
from .numbers.hyperdual import HyperDual  # noqa: E402

__all__ += ["HyperDual"]
