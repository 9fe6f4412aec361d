"""The number protocol shared by the compiled number types (issue 15).

Where a derivative cannot matter, the dual scalar (:mod:`.dual`) and the
tape's ``Var`` (:mod:`.var_ops`) behave as their primal value: comparisons
(with each other and with plain numbers), ``int``, ``bool``, ``math.floor``/
``ceil``/``trunc`` and the ``math.``/``np.`` ``isnan``/``isinf``/``isfinite``;
``float()`` refuses, as it would silently drop the derivatives.  The
selections (``max``, ``min``, ``np.maximum``/``minimum``/``fmax``/``fmin``/
``clip``) return one operand whole, picked by ``rules.select_*``.  Each type
module calls :func:`register_number_protocol` once; this module imports
neither type.
"""

import math
import operator

import numpy as np

from .. import rules
from .compat import overload, types

__all__ = ["primal_value", "register_number_protocol"]

_INLINE = {"forceinline": True}
_COMPARISONS = (operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne)
# functions of the primal value alone (step functions, whose derivative is 0
# wherever it exists, and predicates)
_OF_PRIMAL = (math.floor, math.ceil, math.trunc, math.isnan, math.isinf, math.isfinite,
              np.isnan, np.isinf, np.isfinite)
_SELECTIONS = (((max, np.maximum), rules.select_max), ((min, np.minimum), rules.select_min),
               ((np.fmax,), rules.select_fmax), ((np.fmin,), rules.select_fmin))


def primal_value(x):
    """The innermost float value of ``x`` (compiled code only)."""
    raise NotImplementedError


@overload(primal_value, jit_options=_INLINE)
def _primal_of_real(x):
    if isinstance(x, (types.Integer, types.Float, types.Boolean)):
        return lambda x: x


def register_number_protocol(number_type, pair_kind, float_message, operand=None):
    """Register the protocol for the Numba type class ``number_type``, whose
    numbers hold their primal value (or a number of a lower type holding it)
    in ``.value``.  ``pair_kind(a, b)``, at typing time: None unless ``a, b``
    are operands of the type (two of its numbers, or one and a constant to
    it).  ``float_message``: what ``float(x)`` raises.  ``operand(x,
    like=None)``: None, or a compiled function making each operand of a
    selection a number of the type (of ``like``) before it is picked."""
    is_number = lambda *ts: any(isinstance(t, number_type) for t in ts)  # noqa: E731

    @overload(primal_value, jit_options=_INLINE)
    def _primal(x):
        if is_number(x):
            return lambda x: primal_value(x.value)

    for op in _COMPARISONS:
        _comparison(op, pair_kind)

    @overload(float)
    def _float(x):
        if is_number(x):
            def impl(x):
                raise TypeError(float_message)
            return impl

    @overload(int)
    def _int(x):
        if is_number(x):
            return lambda x: int(primal_value(x))

    @overload(bool)
    def _bool(x):
        if is_number(x):
            return lambda x: primal_value(x) != 0.0

    for fn in _OF_PRIMAL:
        _of_primal(fn, is_number)
    for fns, select in _SELECTIONS:
        _selection(fns, select, pair_kind, operand)

    @overload(np.clip)
    def _clip(x, lo, hi):
        if is_number(x, lo, hi):
            if operand is None:
                return lambda x, lo, hi: rules.select_clip(x, lo, hi)
            return lambda x, lo, hi: rules.select_clip(operand(x), lo, hi)


# one function per overload, so that each typer closes over its own op or fn

def _comparison(op, pair_kind):
    @overload(op)
    def typer(a, b):
        if pair_kind(a, b) is not None:
            return lambda a, b: op(primal_value(a), primal_value(b))


def _of_primal(fn, is_number):
    @overload(fn)
    def typer(x):
        if is_number(x):
            return lambda x: fn(primal_value(x))


def _selection(fns, select, pair_kind, operand):
    def typer(a, b):
        if pair_kind(a, b) is not None:
            if operand is None:
                return lambda a, b: select(a, b)
            return lambda a, b: select(operand(a, b), operand(b, a))
    for fn in fns:
        overload(fn)(typer)
