"""The Numba extension types and their overloads: the dual scalar
(:mod:`.dual`), the dual array (:mod:`.array`, with elementwise operations in
:mod:`.array_ops`, reductions and products in :mod:`.array_reduce`, shapes in
:mod:`.array_shape`), the tape's ``Var`` and ``VarArray`` (:mod:`.tape`) and
its block nodes and backward sweep (:mod:`.tape_blocks`).  Every Numba
internal dualdiff leans on is imported in :mod:`.compat` alone.  Imports
:mod:`dualdiff.rules` and :mod:`dualdiff.numbers` (to box Python duals), never
the engine or the modes.
"""

# Importing a module registers its overloads with Numba; the array modules
# are imported here, in dependency order, so that any use of the package
# has them all (array -> array_ops -> array_reduce -> array_shape).
from . import array, array_ops, array_reduce, array_shape  # noqa: E402,F401
