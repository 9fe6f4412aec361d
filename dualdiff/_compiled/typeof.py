"""Numba types of the extra arguments ``args``, cached for plain NumPy arrays.

``numba.typeof`` of an array costs a few microseconds of Python (a dispatch,
a dtype conversion, a type interning); the drivers look the types of ``args``
up on every call to pick the compiled driver.  For an exact ``np.ndarray``
of a numeric or boolean dtype, the type depends only on what the key below
holds -- the dtype, the number of dimensions, C- and F-contiguity (Numba's
layout 'C', 'F' or 'A') and whether the array is writeable (Numba's
``readonly``) -- so it is computed once per key.  Anything else (subclasses,
other dtypes, numbers, tuples, ...) goes to ``numba.typeof`` unchanged, so
errors are raised exactly as before.
"""

import numpy as np

from .compat import numba

__all__ = ["typeof_args"]

_CACHE = {}
_CACHE_LIMIT = 4096      # keys are few in practice; this only bounds a pathological case
_CACHED_KINDS = frozenset("biufc")
_typeof = numba.typeof


# numpy's NPY_ARRAY_C_CONTIGUOUS, NPY_ARRAY_F_CONTIGUOUS and NPY_ARRAY_WRITEABLE
# bits of ``ndarray.flags.num`` (one attribute read instead of three)
_FLAG_BITS = 0x0001 | 0x0002 | 0x0400


def _typeof_array(a):
    key = (a.dtype, a.ndim, a.flags.num & _FLAG_BITS)
    t = _CACHE.get(key)
    if t is None:
        t = _typeof(a)
        if a.dtype.kind in _CACHED_KINDS and len(_CACHE) < _CACHE_LIMIT:
            _CACHE[key] = t
    return t


def typeof_args(args):
    """``tuple(numba.typeof(a) for a in args)``, cached for plain numeric arrays."""
    if len(args) == 1:  # the common case, without a generator
        a = args[0]
        return (_typeof_array(a) if type(a) is np.ndarray else _typeof(a),)
    return tuple([_typeof_array(a) if type(a) is np.ndarray else _typeof(a) for a in args])
