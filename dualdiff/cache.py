"""``dd.cache``: the on-disk cache of compiled code.

dualdiff compiles a user's function for its numbers (dual numbers, tape
numbers) and the drivers that call it, and keeps the machine code on disk,
so a second process loads it instead of compiling again (a first gradient
costs about 2 s of compiling, a load about 0.1 s).  An entry is used only for
the same function with the same values of everything it reads (globals,
closure cells, defaults, helper functions, recursively), the same dualdiff,
Numba, NumPy and Python; anything else compiles afresh.

Environment variables, read when a function is first compiled:

* ``DUALDIFF_CACHE_DIR``: the folder (default: the platform's cache folder,
  ``~/.cache/dualdiff`` on Linux);
* ``DUALDIFF_CACHE=0``: no cache (nothing read or written).

How entries are named, checked and written: :mod:`dualdiff._engine.diskcache`.
"""

from ._engine.diskcache import cache_directory, clear, enabled, info

__all__ = ["info", "clear", "cache_directory", "enabled"]
