"""Allocation for the drivers, compiled once per machine.

A driver that calls ``np.zeros``/``np.empty`` makes Numba compile those
implementations again in every new process, one compile unit per shape
(0.02-0.18 s each; a first forward gradient ran eight of them).  These
functions hold the same calls behind Numba's own on-disk cache
(``cache=True``: they depend on nothing of the user's), so a driver's compile
loads them instead (issue 16).
"""

import numpy as np

from .compat import numba

__all__ = ["zeros", "empty", "empty_int"]


@numba.njit(cache=True)
def zeros(shape):
    """``np.zeros(shape)`` (float64)."""
    return np.zeros(shape)


@numba.njit(cache=True)
def empty(shape):
    """``np.empty(shape)`` (float64)."""
    return np.empty(shape)


@numba.njit(cache=True)
def empty_int(shape):
    """``np.empty(shape, np.int64)``."""
    return np.empty(shape, np.int64)
