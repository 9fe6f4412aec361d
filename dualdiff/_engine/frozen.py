"""What Numba freezes into compiled code, and a cheap check that it has not changed.

Numba reads the globals a function names, its closure cells and its default
values once, when it compiles, and bakes them in as constants: an array
becomes a constant copy, a helper function a direct call.  dualdiff keeps
compiled drivers per function object, so after ``G = 5`` (or ``w[0] = 2.0``
on a closed-over array, or a helper redefined in a notebook) a compiled
derivative would go on using the old value while ``f(x)`` uses the new one:
a silent stale answer (issue 18).

:class:`Frozen` records, when dualdiff first compiles ``f``, every such value
that ``f`` and the user functions it calls (recursively) can see: the
globals they name (but modules: ``np.sin`` is looked up in ``np``, which
nobody rebinds), their closure cells and their defaults.  Numbers, strings
and ``None`` are compared by value, arrays by identity, dtype, shape and
contents (bit for bit), everything else (functions, classes, ufuncs) by
identity.
:meth:`Frozen.changed` is run on every call; when it says so, the caller
compiles ``f`` afresh.  Its cost: nothing but a length test for a function
that names no global value (Rosenbrock: 13 ns), about 0.15 us per named
number or array of up to 64 kB (163 ns for one float, 329 ns for a float and
an array of two), and a comparison of the contents for larger arrays (about
0.25 ms per million elements).  Globals compared by identity are fetched
with one ``operator.itemgetter`` per namespace: one float global now costs
116 ns a check (it was 184; ``timeit`` of :meth:`Frozen.changed`).
"""

import operator
import types as pytypes

import numpy as np

from .fallback import _names_used

__all__ = ["Frozen"]

_SCALARS = (int, float, complex, bool, str, bytes, type(None), np.generic)
_ABSENT = object()
_BYTES_COMPARED = 1 << 16


def _python_function(value):
    """The Python function behind ``value`` (itself, or a dispatcher's), or None."""
    if isinstance(value, pytypes.FunctionType):
        return value
    py_func = getattr(value, "py_func", None)
    return py_func if isinstance(py_func, pytypes.FunctionType) else None


def _is_library(fn):
    module = getattr(fn, "__module__", None) or ""
    return module.split(".")[0] in ("numpy", "scipy", "numba", "dualdiff", "math") \
        and module != "dualdiff.examples"


def _same_scalar(old, new):
    """Whether a rebound scalar global still compiles to the same constant."""
    return type(new) is type(old) and (new == old or (new != new and old != old))


class _Contents:
    """The contents of a mutable frozen value (an array, or a tuple or dict
    holding arrays), to tell whether the same object has changed."""

    __slots__ = ("copy", "shape", "items")

    def __init__(self, value):
        self.copy = self.shape = self.items = None
        if isinstance(value, np.ndarray):
            self.shape = value.shape
            # small arrays compare as bytes (50 ns; np.array_equal takes 1.7 us)
            self.copy = value.tobytes() if value.nbytes <= _BYTES_COMPARED else value.copy()
        elif isinstance(value, tuple):
            self.items = [(item, _contents(item)) for item in value]
        elif isinstance(value, dict):  # keyword defaults
            self.items = [(key, value[key], _contents(value[key])) for key in value]
            self.shape = tuple(value)

    def differs(self, value):
        copy = self.copy
        if type(copy) is bytes:
            return value.shape != self.shape or value.tobytes() != copy
        if copy is not None:
            return value.shape != copy.shape \
                or not np.array_equal(value, copy, equal_nan=copy.dtype.kind in "fc")
        if self.shape is not None:  # a dict
            return tuple(value) != self.shape or any(
                _differs(old, contents, value[key]) for key, old, contents in self.items)
        return any(_differs(old, contents, new)
                   for (old, contents), new in zip(self.items, value))


def _contents(value):
    """A :class:`_Contents` for a value that can change in place, else None."""
    if isinstance(value, (np.ndarray, tuple, dict)):
        return _Contents(value)
    return None


def _differs(old, contents, new):
    if new is not old:
        return not isinstance(old, _SCALARS) or not _same_scalar(old, new)
    return contents is not None and contents.differs(new)


class Frozen:
    """The values Numba froze when compiling ``f`` (see the module docstring)."""

    __slots__ = ("globals", "cells", "defaults", "attributes", "_quick", "_mutable", "_idle")

    def __init__(self, f, owner=None, names=()):
        self.globals = []   # [namespace dict, name, value, _Contents or None]
        self.cells = []     # [cell, value, _Contents or None]
        self.defaults = []  # [function, (__defaults__, __kwdefaults__), _Contents]
        # [object, attribute name, value, _Contents or None]: the attributes a
        # bound method or callable object reads through self (forms.py)
        self.attributes = []
        fn = _python_function(f)
        if fn is not None:
            self._collect(fn, set())
        for name in names:
            value = getattr(owner, name, _ABSENT)
            if value is not _ABSENT and not callable(value):
                self.attributes.append([owner, name, value, _contents(value)])
        self._group()

    def _group(self):
        """Split the globals: values compared by identity go in one
        ``itemgetter`` per namespace (one C call gets them all: a float global
        checked in ~60 ns instead of ~180), the mutable ones (arrays, tuples)
        stay entries of their own."""
        groups = {}
        self._mutable = []
        for entry in self.globals:
            if entry[3] is None:
                group = groups.setdefault(id(entry[0]), (entry[0], [], []))
                group[1].append(entry[1])
                group[2].append(entry[2])
            else:
                self._mutable.append(entry)
        self._quick = [(namespace, operator.itemgetter(*names),
                        tuple(values) if len(names) > 1 else values[0], len(names) > 1)
                       for namespace, names, values in groups.values()]
        # nothing but identity-compared globals to check
        self._idle = not (self._mutable or self.cells or self.defaults or self.attributes)

    def _collect(self, fn, seen):
        if id(fn) in seen:
            return
        seen.add(id(fn))
        namespace = fn.__globals__
        for name in sorted(_names_used(fn.__code__)):
            value = namespace.get(name, _ABSENT)
            if value is _ABSENT or isinstance(value, pytypes.ModuleType):
                continue  # a builtin, an attribute name, or a module
            self.globals.append([namespace, name, value, _contents(value)])
            self._follow(value, seen)
        for cell in fn.__closure__ or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell (a name bound later)
                continue
            self.cells.append([cell, value, _contents(value)])
            self._follow(value, seen)
        if fn.__defaults__ or fn.__kwdefaults__:
            value = (fn.__defaults__, fn.__kwdefaults__)
            self.defaults.append([fn, value, _Contents(value)])

    def _follow(self, value, seen):
        helper = _python_function(value)
        if helper is not None and not _is_library(helper):
            self._collect(helper, seen)

    def __bool__(self):
        return bool(self.globals or self.cells or self.defaults or self.attributes)

    def changed(self):
        """Whether any frozen value differs from what it is now.  A scalar
        rebound to an equal value is adopted, so later checks of it stay
        identity tests."""
        for namespace, getter, stored, many in self._quick:
            try:
                now = getter(namespace)
            except KeyError:  # a global was deleted
                return self._rebound()
            if many:
                if not all(map(operator.is_, now, stored)):
                    return self._rebound()
            elif now is not stored:
                return self._rebound()
        return self._idle is False and self._check(self._mutable)

    def _rebound(self):
        """:meth:`changed` over every global after one compared by identity
        was rebound: an equal scalar is adopted (the groups are made again)."""
        changed = self._check(self.globals)
        if not changed:
            self._group()
        return changed

    def _check(self, entries):
        for entry in entries:
            value = entry[0].get(entry[1], _ABSENT)
            contents = entry[3]
            if value is entry[2]:
                if contents is None:
                    continue
                if type(contents.copy) is bytes:  # the common array: written out
                    if value.tobytes() != contents.copy or value.shape != contents.shape:
                        return True
                    continue
            if _differs(entry[2], contents, value):
                return True
            entry[2] = value
        for entry in self.cells:
            try:
                value = entry[0].cell_contents
            except ValueError:
                return True
            if value is not entry[1] or entry[2] is not None:
                if _differs(entry[1], entry[2], value):
                    return True
                entry[1] = value
        for fn, old, contents in self.defaults:
            if contents.differs((fn.__defaults__, fn.__kwdefaults__)):
                return True
        for entry in self.attributes:
            value = getattr(entry[0], entry[1], _ABSENT)
            if value is not entry[2] or entry[3] is not None:
                if _differs(entry[2], entry[3], value):
                    return True
                entry[2] = value
        return False
