"""The Numba extension types and their overloads: the dual scalar
(:mod:`.dual`), the dual array (:mod:`.array`, with elementwise operations in
:mod:`.array_ops`, reductions in :mod:`.array_reduce`, dot and matmul in
:mod:`.array_product`, shapes in :mod:`.array_shape`), the tape's ``Var``
(:mod:`.tape`: types and recording; :mod:`.var_ops`: its arithmetic and
rules) and ``VarArray`` (:mod:`.var_array`), the number protocol both
scalars register (:mod:`.protocol`: comparisons, conversions, predicates,
selections), the block nodes
(:mod:`.tape_blocks`: blob, matmul, sums; :mod:`.tape_elementwise`) and the
backward sweep (:mod:`.backward`).  Every Numba internal dualdiff leans on is
imported in :mod:`.compat` alone.  Imports :mod:`dualdiff.rules` and
:mod:`dualdiff.numbers` (to box Python duals), never the engine or the modes.
"""

# Importing a module registers its overloads with Numba; the array modules
# are imported here, in dependency order, so that any use of the package
# has them all (array -> array_ops -> array_reduce -> array_product ->
# array_shape), then reverse mode's (the scalar Var before VarArray, the
# VarArray type before the block operations on it).
from . import array, array_ops, array_reduce, array_product, array_shape  # noqa: E402,F401
from . import tape, var_ops, var_array, backward, tape_blocks, tape_elementwise  # noqa: E402,F401
