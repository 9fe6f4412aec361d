"""Arithmetic of the reverse-mode ``Var`` in Numba, and its rules.

The operations on a scalar :class:`~dualdiff._compiled.tape.VarType`, each
recorded through the two-term forms of :mod:`dualdiff._compiled.tape`:
hand-written arithmetic (``+ - * /``, powers, negation), the number protocol
of :mod:`dualdiff._compiled.protocol` (comparisons, ``float``/``int``/``bool``,
the ``math``/``np`` predicates, selections: ``max``, ``min``, ``np.fmax``,
``np.clip`` ...), then every rule of
:mod:`dualdiff.rules` under all its spellings.  Importing this module
registers them with Numba.
"""

import operator

import numpy as np

from .. import rules
from . import registrar
from .protocol import register_number_protocol
from .tape import (
    SECOND_UNDERFLOW, VarType, _IEEE, _const, _flag_no_second, _jitable, _kind, _may_underflow,
    _put_second, _record1, _record2, _second2, _set_flag, _wants_second, as_var,
)
from .compat import overload, types

__all__ = []


# ===========================================================================
# 1. Hand-written arithmetic (the specials listed at the end of rules.py)
# ===========================================================================

@_jitable
def _add(a, b):
    return _record2(a.value + b.value, a, 1.0, b, 1.0)


@_jitable
def _sub(a, b):
    return _record2(a.value - b.value, a, 1.0, b, -1.0)


# Second partials (Hessian tapes only: ``_wants_second``) are computed inside
# the branch, so a gradient tape never pays for them.  Linear operations
# (+, -, negation, scaling by a constant) have none: the array is zeroed.

@_jitable
def _mul(a, b):
    r = _record2(a.value * b.value, a, b.value, b, a.value)
    if a.i1 >= 0 and b.i1 >= 0 and r.i1 >= 0 and _wants_second(r.tape):
        _put_second(r.tape, r.i1, 0.0, 1.0, 0.0)
    return r


@_jitable
def _div(a, b):
    q = a.value / b.value
    r = _record2(q, a, 1.0 / b.value, b, -q / b.value)
    if b.i1 >= 0 and r.i1 >= 0 and _wants_second(r.tape):
        inv = 1.0 / b.value
        _second2(r, a, b, 0.0, -inv * inv, 2.0 * q * inv * inv)
    return r


# The second partials of powers differentiate the first partials' helpers
# (their edge cases included), exactly as nesting dual numbers does.
@_jitable
def _pow_vv(a, b):
    z = a.value ** b.value
    if a.i1 < 0 and b.i1 < 0:
        return _const(z)
    r = _record2(z, a, rules.power_d_base(a.value, b.value), b,
                 rules.power_d_exponent(z, a.value, b.value))
    if r.i1 >= 0 and _wants_second(r.tape):
        vv, vp, pp = rules.power_second_partials(z, a.value, b.value)
        _second2(r, a, b, vv, vp, pp)
    return r


@_jitable
def _pow_vc(a, p):
    z = a.value ** p
    if a.i1 < 0:
        return _const(z)
    r = _record1(z, a, rules.power_d_base(a.value, p))
    if r.i1 >= 0 and _wants_second(r.tape):
        _put_second(r.tape, r.i1, rules.power_d_base_base(a.value, p), 0.0, 0.0)
    return r


@_jitable
def _pow_cv(c, b):
    z = c ** b.value
    if b.i1 < 0:
        return _const(z)
    d = rules.power_d_exponent(z, c, b.value)
    r = _record1(z, b, d)
    if r.i1 >= 0 and _wants_second(r.tape):
        _put_second(r.tape, r.i1, rules.power_d_exponent(d, c, b.value), 0.0, 0.0)
    return r


@_jitable
def _square(a):
    r = _record1(a.value * a.value, a, a.value + a.value)
    if r.i1 >= 0 and _wants_second(r.tape):
        _put_second(r.tape, r.i1, 2.0, 0.0, 0.0)
    return r


def _arith(ops, core):
    def typer(a, b):
        if _kind(a, b) is not None:
            return lambda a, b: core(as_var(a, b), as_var(b, a))
    for op in ops:
        overload(op, jit_options=_IEEE)(typer)


# the ufunc spellings on scalars too (np.power(x[0], x[1]))
_arith((operator.add, operator.iadd, np.add), _add)
_arith((operator.sub, operator.isub, np.subtract), _sub)
_arith((operator.mul, operator.imul, np.multiply), _mul)
_arith((operator.truediv, operator.itruediv, np.true_divide), _div)


def _pow_typer(a, b):
    kind = _kind(a, b)
    if kind == "both":
        return lambda a, b: _pow_vv(a, b)
    if kind == "left":
        if isinstance(b, types.IntegerLiteral) and b.literal_value == 2:
            return lambda a, b: _square(a)
        return lambda a, b: _pow_vc(a, b)
    if kind == "right":
        return lambda a, b: _pow_cv(a, b)


for _op in (operator.pow, operator.ipow, pow, np.power):
    overload(_op, jit_options=_IEEE, prefer_literal=True)(_pow_typer)


@overload(operator.neg, jit_options=_IEEE)
def _neg(a):
    if isinstance(a, VarType):
        return lambda a: _record1(-a.value, a, -1.0)


@overload(operator.pos)
def _pos(a):
    if isinstance(a, VarType):
        return lambda a: a


# The number protocol, shared with the dual scalar (see .protocol), but for
# one thing: a selection first makes both operands Vars of the Var's own tape
# kind (as_var(x, like), as the arithmetic above does), so it compiles once
# per Var type and returns that Var type, whatever mix of Var and number it
# was given; a dual takes the number as it is.
register_number_protocol(
    VarType, _kind,
    "float() of a reverse-mode variable would silently drop its "
    "derivatives; use dualdiff.primal(x) if that is what you mean",
    operand=as_var)


# ===========================================================================
# 2. The rule table: local partials come from rules.py (value, d1)
# ===========================================================================

# stand-ins for a missing d2, never called (the branch needs a typed callable)
_no_unary_d2 = _jitable(lambda x, y, dy: 0.0)
_no_binary_d2 = _jitable(lambda a, b, z: (0.0, 0.0, 0.0))


def _register_unary(rule):
    value_fn, d1, d2 = rule.value, rule.d1, rule.d2
    has_d2 = d2 is not None
    if not has_d2:
        d2 = _no_unary_d2

    def impl(a):
        av = a.value
        y = value_fn(av)
        if a.i1 < 0:
            return _const(y)
        dy = d1(av, y)
        r = _record1(y, a, dy)
        if r.i1 >= 0 and _wants_second(a.tape):
            if has_d2:
                second = d2(av, y, dy)
                _put_second(a.tape, r.i1, second, 0.0, 0.0)
                if _may_underflow(second, dy, av):
                    _set_flag(a.tape, SECOND_UNDERFLOW)
            else:
                _flag_no_second(a.tape)
        return r

    def typer(a):
        if isinstance(a, VarType):
            return impl

    overload(rule.generic, jit_options=_IEEE)(typer)
    _TYPERS[1, rule.name] = typer


def _register_binary(rule):
    value_fn, da_fn, db_fn, d2_fn = rule.value, rule.d_first, rule.d_second, rule.d2
    has_d2 = d2_fn is not None
    if not has_d2:
        d2_fn = _no_binary_d2

    @_jitable
    def impl(a, b):
        av, bv = a.value, b.value
        z = value_fn(av, bv)
        if a.i1 < 0 and b.i1 < 0:
            return _const(z)
        da = da_fn(av, bv, z)
        db = db_fn(av, bv, z)
        r = _record2(z, a, da, b, db)
        if r.i1 >= 0 and _wants_second(r.tape):
            if has_d2:
                aa, ab, bb = d2_fn(av, bv, z)
                _second2(r, a, b, aa, ab, bb)
                if _may_underflow(aa, da, av) | _may_underflow(bb, db, bv):
                    _set_flag(r.tape, SECOND_UNDERFLOW)
            else:
                _flag_no_second(r.tape)
        return r

    def typer(a, b):
        if _kind(a, b) is not None:
            return lambda a, b: impl(as_var(a, b), as_var(b, a))

    overload(rule.generic, jit_options=_IEEE)(typer)
    _TYPERS[2, rule.name] = typer


# (arity, rule name) -> the typer of Var operands, for every spelling (floats
# are the dual registrar's: see dualdiff._compiled.registrar)
_TYPERS = {}


def _register_spelling(arity):
    def register(rule, function, native):
        overload(function, jit_options=_IEEE)(_TYPERS[arity, rule.name])
    return register


for _rule in rules.UNARY:
    _register_unary(_rule)
for _rule in rules.BINARY:
    _register_binary(_rule)
registrar.each_spelling(1, False, _register_spelling(1))
registrar.each_spelling(2, False, _register_spelling(2))
