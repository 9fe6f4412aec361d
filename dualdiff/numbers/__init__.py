"""Python-side dual numbers: :class:`Dual`, :class:`HyperDual` and the object
arrays that hold them.  They make, print and box derivatives at the prompt
and carry the Python fallback path.  Owns nothing compiled; imports only
:mod:`dualdiff.rules`.
"""

from .dual import Dual, DualObjectArray, primal
from .hyperdual import HyperDual

__all__ = ["Dual", "DualObjectArray", "HyperDual", "primal"]
