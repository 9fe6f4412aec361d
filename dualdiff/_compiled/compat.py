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
from numba.core.errors import (                               # error classes
    NumbaError, NumbaPendingDeprecationWarning, TypingError,
)
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

# --- reverse mode (tape.py, var_array.py, the block modules): LLVM IR for the tape intrinsics
from llvmlite import ir  # noqa: E402  (llvmlite ships with Numba)

__all__ += ["ir"]

# --- drivers of dual numbers: compiled with LLVM's SLP vectorizer ---------------
# Numba turns the SLP (straight-line) vectorizer off for all code since 0.57
# (numba#8852, after LLVM miscompilations).  A dual number's partials are a
# tuple, so each operation is N independent scalar operations: exactly what
# SLP packs into vector instructions.  The switch is read when a library's
# module passes are built (numba.core.codegen), so it is set only while a
# dualdiff driver compiles (the user's function is linked into the driver's
# module and optimised there), under Numba's compiler lock; the user's own
# code and every other Numba function keep Numba's default.
# DUALDIFF_SLP_VECTORIZE=0 turns it off.
import contextlib  # noqa: E402
import os  # noqa: E402
import warnings  # noqa: E402

from numba.core import config as _config  # noqa: E402  (internal)
from numba.core.compiler_lock import global_compiler_lock  # noqa: E402  (internal)
from numba.core.registry import CPUDispatcher  # noqa: E402  (internal)

SLP_VECTORIZE = os.environ.get("DUALDIFF_SLP_VECTORIZE", "1") != "0"


@contextlib.contextmanager
def vectorizing():
    """Compiles in this block use LLVM's SLP vectorizer (see above), unless
    DUALDIFF_SLP_VECTORIZE=0."""
    if not SLP_VECTORIZE:
        yield
        return
    with global_compiler_lock:
        old = _config.SLP_VECTORIZE
        _config.SLP_VECTORIZE = 1
        try:
            yield
        finally:
            _config.SLP_VECTORIZE = old


class _VectorizingDispatcher(CPUDispatcher):
    """A CPU dispatcher whose compiles run under :func:`vectorizing`."""

    def compile(self, sig):
        with vectorizing():
            return super().compile(sig)


def vectorizing_njit(func):
    """``numba.njit(func)``, compiled with SLP vectorization (see above)
    unless DUALDIFF_SLP_VECTORIZE=0."""
    if not SLP_VECTORIZE:
        return numba.njit(func)
    return _VectorizingDispatcher(py_func=func, locals={}, targetoptions={"nopython": True,
                                                                          "boundscheck": None})


__all__ += ["vectorizing", "vectorizing_njit", "SLP_VECTORIZE"]


@contextlib.contextmanager
def quiet_reflected_lists():
    """Numba's pending deprecation of reflected lists (a list passed in
    ``args``) says nothing a dualdiff user can act on in dualdiff's own
    compiles: kept out of their warnings.  Used under the compiler lock, so
    the global warning filters are changed by one thread at a time."""
    with global_compiler_lock, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=NumbaPendingDeprecationWarning,
                                message="(?s).*reflected list")
        yield


__all__ += ["quiet_reflected_lists", "NumbaPendingDeprecationWarning"]

# --- the on-disk compile cache (dualdiff._engine.diskcache): Numba's cache
# interface and the (de)serialisation of a compile result, all internal
from numba.core.caching import NullCache, _Cache as cache_base  # noqa: E402  (internal)
from numba.core.compiler import CompileResult  # noqa: E402  (internal)
from numba.core.serialize import dumps as pickle_dumps  # noqa: E402  (internal)
from numba.core.sigutils import normalize_signature  # noqa: E402  (internal)

__all__ += ["NullCache", "cache_base", "CompileResult", "pickle_dumps", "normalize_signature"]


def c_caller(signature):
    """An intrinsic ``call(address, arguments)`` that calls the C function at
    ``address`` (an int64, e.g. a ``numba.cfunc``'s ``.address``) with the
    tuple ``arguments``, cast to the C types of ``signature`` (an array's
    ``.ctypes`` becomes its data pointer).  The address is a run-time value,
    so code calling it can be cached on disk, and an int64 costs nothing to
    pass (a ctypes function object costs 1.5 us a call to unbox)."""

    @intrinsic
    def call(typingctx, address, arguments):
        if not isinstance(address, types.Integer) or not isinstance(arguments, types.BaseTuple) \
                or len(arguments) != len(signature.args):
            return None

        def codegen(context, builder, sig, llargs):
            values = cgutils.unpack_tuple(builder, llargs[1], len(arguments))
            cast = [context.cast(builder, v, t, want)
                    for v, t, want in zip(values, arguments.types, signature.args)]
            fnty = ir.FunctionType(context.get_value_type(signature.return_type),
                                   [context.get_value_type(a) for a in signature.args])
            pointer = builder.inttoptr(llargs[0], fnty.as_pointer())
            return builder.call(pointer, cast)

        return signature.return_type(address, arguments), codegen

    return call


__all__ += ["c_caller"]
