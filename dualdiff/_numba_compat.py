"""Every Numba name dualdiff uses, imported in one place.

Most come from ``numba.extending`` (the documented extension API).  The few
that are Numba internals (``cgutils``, ``Conversion``, ``iternext_impl``,
``RefType``, the error classes) are marked below, so a Numba upgrade that
moves them touches only this file.  Tested with the Numba range pinned in
pyproject.toml.
"""

import numba
from numba import types
from numba.extending import (
    NativeValue,
    box,
    intrinsic,
    lower_builtin,
    lower_cast,
    make_attribute_wrapper,
    models,
    overload,
    overload_attribute,
    overload_method,
    register_jitable,
    register_model,
    typeof_impl,
    unbox,
)

# --- Numba internals (not part of numba.extending) ---------------------------
from numba.core import cgutils                                 # struct proxies
from numba.core.errors import NumbaError, TypingError         # error classes
from numba.core.imputils import RefType, iternext_impl        # iterator lowering
from numba.core.typeconv import Conversion                    # unification rank
from numba.core.typing.templates import (                      # low-level typing
    AbstractTemplate, infer_global, signature,
)

NUMBA_VERSION = tuple(int(p) for p in numba.__version__.split(".")[:2])

__all__ = [
    "numba", "types", "NativeValue", "box", "intrinsic", "lower_builtin", "lower_cast",
    "make_attribute_wrapper", "models", "overload", "overload_attribute",
    "overload_method", "register_jitable", "register_model", "typeof_impl", "unbox",
    "cgutils", "NumbaError", "TypingError", "RefType", "iternext_impl", "Conversion",
    "AbstractTemplate", "infer_global", "signature",
    "NUMBA_VERSION",
]

# --- reverse mode (dualdiff._nbtape, _tape_blocks): LLVM IR for the tape intrinsics
from llvmlite import ir  # noqa: E402  (llvmlite ships with Numba)

__all__ += ["ir"]
