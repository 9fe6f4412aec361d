"""The one registrar: every spelling of every rule, for every Numba number type.

Each number type (the dual scalar, the tape's ``Var``, dual arrays, tape
arrays) says once how it implements a rule for one spelling, by handing
:func:`each_spelling` a function ``register(rule, function, native)``; the
registrar walks the rule table's spellings (:func:`dualdiff.rules.spelling_names`)
and calls it for each.  ``native`` is whether Numba compiles the spelling on
floats itself (``math.``, ``numpy.``); for others (``scipy.special.expit``)
the number type registers the float implementation too.

A spelling whose module is not imported yet (``scipy.special``: dualdiff
does not import it, a user's code does) is registered by
:func:`register_pending`, which the engine calls before it compiles.
"""

import sys

from .. import rules

__all__ = ["each_spelling", "register_pending"]

_REGISTRARS = []   # (arity, arrays, register)
_DONE = set()      # (registrar index, rule name, spelling name)
_MISSING = set()   # modules of spellings not registered yet


def each_spelling(arity, arrays, register):
    """Call ``register(rule, function, native)`` for every spelling of every
    rule of ``arity`` (1 or 2); ``arrays``: the array spellings (no ``math.``)."""
    _REGISTRARS.append((arity, arrays, register))
    _walk(len(_REGISTRARS) - 1)


def _walk(index):
    arity, arrays, register = _REGISTRARS[index]
    for rule in rules.UNARY if arity == 1 else rules.BINARY:
        for name in rules.spelling_names(rule, arrays):
            key = (index, rule.name, name)
            if key in _DONE:
                continue
            found = rules.spelling(name)
            if found is None:
                _MISSING.add(name.rpartition(".")[0])
                continue
            _DONE.add(key)
            register(rule, *found)


def register_pending():
    """Register the spellings whose module has been imported since (cheap
    when there are none: one dictionary lookup per missing module)."""
    if _MISSING and any(module in sys.modules for module in _MISSING):
        _MISSING.clear()
        for index in range(len(_REGISTRARS)):
            _walk(index)
