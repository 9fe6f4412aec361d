"""The reverse-mode number type ``Var`` and its array ``VarArray`` in Numba.

A ``Var`` is a struct passed by value: its ``value`` (float64), ``tape``, the
raw address of the tape header (intp), and the linear form that stands for
its derivative: ``c1 * node[i1] + c2 * node[i2]`` (ids int64, -1: no term;
a constant has no term).  No reference counting happens per operation.

Preaccumulation.  An operation on a gradient tape does not record a node
while its result depends on at most two recorded nodes: ``sin(x[i])``,
``3 * x[i] - x[j]`` or ``(x[j] - x[i] ** 2) ** 2`` are carried in registers as
such two-term forms, their coefficients multiplied by the local partials
(the chain rule, forward).  When a sum or product would need three or four
terms, one operand's two-term form is written as ONE node (parents i1, i2,
partials c1, c2) and the result again has two terms.  A Rosenbrock term
thus costs one node instead of eight.  Storing a Var into a VarArray and
returning it materialise it the same way (:func:`node_of`).  A Hessian tape
(second partials wanted) records every operation as its own node instead,
as the second partials belong to single operations; so does a gradient's
exact rerun: a coefficient that became nan (``0 * inf`` at a kink) is
caught when its form is written (flag 8), and the driver records again one
node per operation, where the sweep skips zero partials (a zero factor wins
over inf, as in forward mode).  Which of the two ways a tape records is part
of the Numba type of the tape address a Var carries (:class:`TapeType`), so
the choice is made when the user's function is compiled, not tested in
every operation: the function is compiled once for each way it is used.

Tape layout (allocated per call by the driver, see :mod:`dualdiff.reverse`)::

    header (int64[9]):  count, capacity, flags, address of nodes,
                        address, capacity and use of the block blob, own
                        address, address of the second partials (0: none)
    nodes  (int64[capacity, 4]):  parent i, parent j (-1: none),
                                  local partials a, b (float64 bits)
    second (float64[capacity, 3], only when recording for a Hessian):
                                  d2/di2, d2/di dj, d2/dj2 (zero if linear)

so one node is 32 bytes (56 with second partials).  Flags: 1 the nodes
overflowed, 2 the blob overflowed, 4 an operation has no second partials (a
rule without ``d2``; only set when second partials are wanted), 8 a
preaccumulated form had a nan coefficient.  Node ids
``0 .. n-1`` are the inputs (never written); the driver starts ``count`` at
``n``.  When the tape is full
the operation sets an overflow flag and returns a constant: the driver sees
the flag, doubles the capacity and runs the function again.  Block nodes
(matmul, sum) and the blob are in :mod:`dualdiff._compiled.tape_blocks`.

Layers, in order: the types (model, unification with numbers, casts); the
``_push`` intrinsic and the two-term forms; hand-written arithmetic,
comparisons and conversions; every rule of :mod:`dualdiff.rules` under all
its spellings; ``VarArray`` (indexing lowered directly, no refcount per
element; ``len``, ``shape``, iteration, ``np.zeros_like``...).
"""

import math
import operator

import numpy as np

from .. import rules
from . import registrar
from .dual import _pow_base_derivative, _pow_exponent_derivative
from .compat import (
    AbstractTemplate, Conversion, RefType, cgutils, infer_global, intrinsic, ir, iternext_impl,
    lower_builtin, lower_cast, make_attribute_wrapper, models, overload, overload_attribute,
    overload_method, register_jitable, register_model, signature, types,
)

__all__ = ["VarType", "var_type", "TapeType", "VarArrayType", "wrap_var_array", "make_var",
           "per_operation_tape", "node_of", "settle", "NODE_BYTES", "HEADER_WORDS",
           "OWN_ADDRESS_WORD", "SECOND_WORD", "NO_SECOND", "FORM_NAN", "NOT_FINITE",
           "SECOND_UNDERFLOW",
           "header_pointer"]

#: Bytes of tape per node (two parent ids, two local partials).
NODE_BYTES = 32
#: Words of the tape header, and the positions of the header's own address
#: and of the second-partials address (see the layout above).
HEADER_WORDS = 9
OWN_ADDRESS_WORD = 7
SECOND_WORD = 8
#: Flag: an operation could not record its second partials.
NO_SECOND = 4
#: Flag: a preaccumulated form had a nan coefficient (see ``_push_form``).
FORM_NAN = 8
#: Flag: the swept result holds an inf or nan, so forward mode decides it
#: (issue 22; see :mod:`dualdiff._tape_hessian`).  Drivers also return it.
NOT_FINITE = 32
#: Flag: a rule's second partial came out exactly 0 while its first partial
#: is not, at a value so large or a slope so small that the second partial
#: may have underflowed (log'' = -1/y**2 at y = exp(500)).  Times the huge
#: tangents such values come with, the lost term is of order 1, so the tape
#: Hessian leaves that call to forward mode (fuzz seed 202612021450).
SECOND_UNDERFLOW = 64
_UNDERFLOW_RISK = 1e100
_IEEE = {"error_model": "numpy", "forceinline": True}
_jitable = register_jitable(**_IEEE)
_REALS = (types.Integer, types.Float, types.Boolean)


# ===========================================================================
# 1. The types
# ===========================================================================

class TapeType(types.Type):
    """Numba type of a tape's header address as Vars carry it (an int64).

    ``per_operation``: the tape records one node per operation with its
    second partials (a Hessian tape, or a gradient's exact rerun) instead of
    preaccumulating two-term forms.  Being part of the type, the choice is
    compiled into the user's function.  An integer (0 for a constant) becomes
    a tape of either kind, and the two kinds unify to the per-operation one:
    a function compiled per operation meets preaccumulating Vars only as
    constants (``make_var(v, -1, 0)``), never as recorded nodes.
    """

    def __init__(self, per_operation):
        self.per_operation = bool(per_operation)
        super().__init__(name="Tape[per operation]" if per_operation else "Tape")

    def unify(self, typingctx, other):
        if isinstance(other, types.Integer):
            return self
        if isinstance(other, TapeType):
            return other if other.per_operation else self
        return None

    def can_convert_to(self, typingctx, other):
        if isinstance(other, types.Integer) or (
                isinstance(other, TapeType) and other.per_operation):
            return Conversion.safe
        return None

    def can_convert_from(self, typingctx, other):
        if isinstance(other, types.Integer):
            return Conversion.safe
        return None


register_model(TapeType)(lambda dmm, fe_type: models.PrimitiveModel(dmm, fe_type, ir.IntType(64)))


@lower_cast(TapeType, TapeType)
@lower_cast(TapeType, types.Integer)
@lower_cast(types.Integer, TapeType)
def _cast_tape(context, builder, fromty, toty, val):
    if isinstance(fromty, types.Integer):
        return context.cast(builder, val, fromty, types.int64)
    if isinstance(toty, types.Integer):
        return context.cast(builder, val, types.int64, toty)
    return val


def _tape_kind(tape):
    """Whether a tape address of Numba type ``tape`` records per operation."""
    return isinstance(tape, TapeType) and tape.per_operation


class VarType(types.Type):
    """Numba type of a reverse-mode variable: value, tape address, and its
    derivative as a two-term linear form over tape nodes.  ``per_operation``
    is its tape's kind (see :class:`TapeType`)."""

    def __init__(self, per_operation=False):
        self.per_operation = bool(per_operation)
        super().__init__(name="Var[per operation]" if per_operation else "Var")

    def unify(self, typingctx, other):
        if isinstance(other, _REALS):
            return self
        if isinstance(other, VarType):  # see TapeType
            return other if other.per_operation else self
        return None

    def can_convert_from(self, typingctx, other):
        if isinstance(other, _REALS) or (isinstance(other, VarType) and self.per_operation):
            return Conversion.safe
        return None


var_type = VarType()


@register_model(VarType)
class _VarModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        members = [("value", types.float64), ("tape", TapeType(fe_type.per_operation)),
                   ("i1", types.int64), ("c1", types.float64),
                   ("i2", types.int64), ("c2", types.float64)]
        super().__init__(dmm, fe_type, members)


for _field in ("value", "tape", "i1", "c1", "i2", "c2"):
    make_attribute_wrapper(VarType, _field, _field)


def _build_var(context, builder, value, index, tape, result):
    """The Var of node ``index`` (one term, coefficient 1; -1: a constant)."""
    s = cgutils.create_struct_proxy(result)(context, builder)
    s.value = value
    s.tape = tape
    s.i1 = index
    s.c1 = context.get_constant(types.float64, 1.0)
    s.i2 = context.get_constant(types.int64, -1)
    s.c2 = context.get_constant(types.float64, 0.0)
    return s._getvalue()


def _is_tape(t):
    return isinstance(t, (types.Integer, TapeType))


@intrinsic
def _form(typingctx, value, tape, i1, c1, i2, c2):
    """The Var ``value`` whose derivative is ``c1 node[i1] + c2 node[i2]``."""
    if not _is_tape(tape):
        return None
    result = VarType(_tape_kind(tape))
    sig = result(types.float64, tape, types.int64, types.float64, types.int64, types.float64)

    def codegen(context, builder, sig, args):
        s = cgutils.create_struct_proxy(result)(context, builder)
        s.value, s.i1, s.c1, s.i2, s.c2 = args[0], args[2], args[3], args[4], args[5]
        s.tape = context.cast(builder, args[1], sig.args[1], types.int64)
        return s._getvalue()

    return sig, codegen


@intrinsic
def make_var(typingctx, value, index, tape):
    """``make_var(value, index, tape)``: the Var of tape node ``index``
    (-1: a constant), compiled code only.  ``tape`` is a tape address: an
    integer (a preaccumulating tape, 0 for none) or a Var's ``tape``, whose
    kind the result takes."""
    if not (isinstance(value, _REALS) and isinstance(index, _REALS) and _is_tape(tape)):
        return None
    result = VarType(_tape_kind(tape))

    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[0], sig.args[0], types.float64)
        i = context.cast(builder, args[1], sig.args[1], types.int64)
        t = context.cast(builder, args[2], sig.args[2], types.int64)
        return _build_var(context, builder, v, i, t, result)

    return result(value, index, tape), codegen


@intrinsic
def per_operation_tape(typingctx, address):
    """The tape at ``address`` (an integer) as a tape that records one node
    per operation (see :class:`TapeType`): what the Hessian and exact-rerun
    drivers give ``wrap_var_array``."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, sig, args):
        return context.cast(builder, args[0], sig.args[0], types.int64)

    return TapeType(True)(address), codegen


def _cast_number_to_var(context, builder, fromty, toty, val):
    value = context.cast(builder, val, fromty, types.float64)
    return _build_var(context, builder, value, context.get_constant(types.int64, -1),
                      context.get_constant(types.int64, 0), toty)


for _from in _REALS:
    lower_cast(_from, VarType)(_cast_number_to_var)


@lower_cast(VarType, VarType)
def _cast_var_kind(context, builder, fromty, toty, val):
    return val  # the same struct (a constant: see TapeType)


# ===========================================================================
# 2. Recording: one node through the raw tape pointer
# ===========================================================================

def header_pointer(builder, tape):
    """The tape header as an ``i64*`` (``tape``: the address, an i64)."""
    return builder.inttoptr(tape, ir.IntType(64).as_pointer())


@intrinsic
def _push(typingctx, tape, i, j, a, b):
    """Append node (i, j, a, b); return its id, or -1 (and flag) when full."""
    sig = types.int64(types.intp, types.int64, types.int64, types.float64, types.float64)

    def codegen(context, builder, sig, args):
        tape, i, j, a, b = args
        i64 = ir.IntType(64)
        header = header_pointer(builder, tape)
        count = builder.load(header)
        capacity = builder.load(builder.gep(header, [i64(1)]))
        fits = builder.icmp_signed("<", count, capacity)
        with builder.if_else(fits, likely=True) as (then, otherwise):
            with then:
                nodes = builder.inttoptr(builder.load(builder.gep(header, [i64(3)])),
                                         i64.as_pointer())
                base = builder.gep(nodes, [builder.mul(count, i64(4))])
                builder.store(i, base)
                builder.store(j, builder.gep(base, [i64(1)]))
                builder.store(builder.bitcast(a, i64), builder.gep(base, [i64(2)]))
                builder.store(builder.bitcast(b, i64), builder.gep(base, [i64(3)]))
                builder.store(builder.add(count, i64(1)), header)
            with otherwise:
                flags = builder.gep(header, [i64(2)])
                builder.store(builder.or_(builder.load(flags), i64(1)), flags)
        return builder.select(fits, count, i64(-1))

    return sig, codegen


@intrinsic
def _wants_second(typingctx, tape):
    """Whether this tape records one node per operation, with its second
    partials (a Hessian tape, or a gradient's exact rerun): a constant of the
    tape's type (see :class:`TapeType`), so preaccumulating code has no test
    and no per-operation branch at all."""
    if not _is_tape(tape):
        return None
    answer = _tape_kind(tape)

    def codegen(context, builder, sig, args):
        return context.get_constant(types.boolean, answer)
    return types.boolean(tape), codegen


@intrinsic
def _put_second(typingctx, tape, k, aa, ab, bb):
    """Store node k's second partials (the tape must want them)."""
    sig = types.none(types.intp, types.int64, types.float64, types.float64, types.float64)

    def codegen(context, builder, sig, args):
        tape, k, aa, ab, bb = args
        i64, f64 = ir.IntType(64), ir.DoubleType()
        header = header_pointer(builder, tape)
        second = builder.inttoptr(builder.load(builder.gep(header, [i64(SECOND_WORD)])),
                                  f64.as_pointer())
        base = builder.gep(second, [builder.mul(k, i64(3))])
        builder.store(aa, base)
        builder.store(ab, builder.gep(base, [i64(1)]))
        builder.store(bb, builder.gep(base, [i64(2)]))
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _set_flag(typingctx, tape, bit):
    """Or ``bit`` into the header's flags."""
    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        header = header_pointer(builder, args[0])
        flags = builder.gep(header, [i64(2)])
        bit = context.cast(builder, args[1], sig.args[1], types.int64)
        builder.store(builder.or_(builder.load(flags), bit), flags)
        return context.get_dummy_value()
    return types.none(types.intp, bit), codegen


@_jitable
def _flag_no_second(tape):
    _set_flag(tape, NO_SECOND)


@_jitable
def _may_underflow(second, first, value):
    """Whether a zero second partial may be an underflowed one (see
    SECOND_UNDERFLOW): the first partial is not 0, and the value is huge or
    the first partial tiny."""
    return (second == 0.0) & (first != 0.0) & (
        (abs(value) > _UNDERFLOW_RISK) | (abs(first) * _UNDERFLOW_RISK < 1.0))


@_jitable
def _push_form(tape, i, j, a, b):
    """:func:`_push` for a preaccumulated form, flagging a nan coefficient
    (:data:`FORM_NAN`): the driver then records again, one node per
    operation, so that a zero factor wins over inf as in the sweep."""
    if (a != a) | (b != b):
        _set_flag(tape, FORM_NAN)
    return _push(tape, i, j, a, b)


@_jitable
def _second2(r, a, b, aa, ab, bb):
    """Second partials of node r = op(a, b) as recorded by _record2 (which
    drops a constant operand: the node's first slot is then the other one)."""
    if a.i1 < 0:
        _put_second(r.tape, r.i1, bb, 0.0, 0.0)
    elif b.i1 < 0:
        _put_second(r.tape, r.i1, aa, 0.0, 0.0)
    else:
        _put_second(r.tape, r.i1, aa, ab, bb)


@_jitable
def _const(v):
    return make_var(v, -1, 0)


@_jitable
def node_of(v):
    """The tape node of ``v`` (-1 for a constant), writing its two-term form
    as a node first if it has not got one."""
    if v.i2 < 0:
        if v.i1 < 0 or v.c1 == 1.0:
            return v.i1
        return _push_form(v.tape, v.i1, -1, v.c1, 0.0)
    return _push_form(v.tape, v.i1, v.i2, v.c1, v.c2)


@_jitable
def settle(v):
    """``v`` as the Var of one node (block operations and stores need ids)."""
    k = node_of(v)
    return make_var(v.value, k, v.tape if k >= 0 else 0)


@_jitable
def _record1(v, a, da):
    """The Var ``v = op(a)`` with local partial ``da``."""
    if a.i1 < 0:
        return _const(v)
    if _wants_second(a.tape):  # a Hessian tape: one node per operation
        return make_var(v, _push(a.tape, node_of(a), -1, da, 0.0), a.tape)
    # a nan coefficient (0 * inf) is caught when the form is written
    return _form(v, a.tape, a.i1, a.c1 * da, a.i2, a.c2 * da)


@_jitable
def _fold(j, e, i1, c1, i2, c2):
    """Add the term ``e node[j]`` to the form ``c1 node[i1] + c2 node[i2]``
    if the form has node j: ``(-1, c1, c2)`` then, else ``(j, c1, c2)``."""
    if j >= 0:
        if j == i1:
            return -1, c1 + e, c2
        if j == i2:
            return -1, c1, c2 + e
    return j, c1, c2


@_jitable
def _record2(v, a, da, b, db):
    """The Var ``v = op(a, b)`` with local partials ``da``, ``db``: the two
    forms scaled and merged; a node is written only when the merged form
    would have more than two terms (see the module's docstring)."""
    if a.i1 < 0:
        return _record1(v, b, db)
    if b.i1 < 0:
        return _record1(v, a, da)
    tape = a.tape
    if _wants_second(tape):
        return make_var(v, _push(tape, node_of(a), node_of(b), da, db), tape)
    c1, c2, e1, e2 = a.c1 * da, a.c2 * da, b.c1 * db, b.c2 * db
    i1, i2 = a.i1, a.i2
    # fold b's terms on the nodes a already has (i1 >= 0 here)
    j1, c1, c2 = _fold(b.i1, e1, i1, c1, i2, c2)
    j2, c1, c2 = _fold(b.i2, e2, i1, c1, i2, c2)
    if j1 < 0:
        j1, e1, j2, e2 = j2, e2, -1, 0.0
    if j1 < 0:  # b's nodes were all a's
        return _form(v, tape, i1, c1, i2, c2)
    if i2 < 0:
        if j2 < 0:  # one node each
            return _form(v, tape, i1, c1, j1, e1)
        # a has one node, b two new ones: b's form becomes a node
        k = _push_form(tape, j1, j2, e1, e2)
        return _form(v, tape, i1, c1, k, 1.0) if k >= 0 else _const(v)
    k = _push_form(tape, i1, i2, c1, c2)  # a's two nodes become one
    if k < 0:
        return _const(v)
    if j2 < 0:
        return _form(v, tape, k, 1.0, j1, e1)
    k2 = _push_form(tape, j1, j2, e1, e2)
    return _form(v, tape, k, 1.0, k2, 1.0) if k2 >= 0 else _const(v)


def as_var(x, like=None):
    """``x`` as a Var (a number becomes a constant, of the kind of the Var
    ``like`` if given: an operation then compiles for one Var type, not for
    each mix); compiled code only."""
    raise NotImplementedError


@overload(as_var, jit_options=_IEEE)
def _as_var(x, like=None):
    if isinstance(x, VarType):
        return lambda x, like=None: x
    if isinstance(x, _REALS):
        if isinstance(like, VarType) and like.per_operation:
            return lambda x, like=None: make_var(float(x), -1, per_operation_tape(0))
        return lambda x, like=None: _const(float(x))


def _kind(a, b):
    """'both', 'left' (b is a number), 'right' (a is a number) or None."""
    va, vb = isinstance(a, VarType), isinstance(b, VarType)
    if va and vb:
        return "both"
    if va and isinstance(b, _REALS):
        return "left"
    if vb and isinstance(a, _REALS):
        return "right"
    return None


# ===========================================================================
# 3. Hand-written arithmetic (the specials listed at the end of rules.py)
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
def _pow_second_exponent(v, p):
    # d/dv of p v**(p-1)
    if p == 0:
        return 0.0 * v
    return p * _pow_exponent_derivative(v, p - 1)


@_jitable
def _pow_vv(a, b):
    z = a.value ** b.value
    if a.i1 < 0 and b.i1 < 0:
        return _const(z)
    da = _pow_exponent_derivative(a.value, b.value)
    db = _pow_base_derivative(z, a.value, b.value)
    r = _record2(z, a, da, b, db)
    if r.i1 >= 0 and _wants_second(r.tape):
        w = a.value ** (b.value - 1.0)  # d/db of b w = w + b dw/db
        _second2(r, a, b, _pow_second_exponent(a.value, b.value),
                 w + b.value * _pow_base_derivative(w, a.value, b.value - 1.0),
                 _pow_base_derivative(db, a.value, b.value))
    return r


@_jitable
def _pow_vc(a, p):
    z = a.value ** p
    if a.i1 < 0:
        return _const(z)
    r = _record1(z, a, _pow_exponent_derivative(a.value, p))
    if r.i1 >= 0 and _wants_second(r.tape):
        _put_second(r.tape, r.i1, _pow_second_exponent(a.value, p), 0.0, 0.0)
    return r


@_jitable
def _pow_cv(c, b):
    z = c ** b.value
    if b.i1 < 0:
        return _const(z)
    d = _pow_base_derivative(z, c, b.value)
    r = _record1(z, b, d)
    if r.i1 >= 0 and _wants_second(r.tape):
        _put_second(r.tape, r.i1, _pow_base_derivative(d, c, b.value), 0.0, 0.0)
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


def _value_of(x):
    raise NotImplementedError


@overload(_value_of, jit_options=_IEEE)
def _value_of_impl(x):
    if isinstance(x, VarType):
        return lambda x: x.value
    if isinstance(x, _REALS):
        return lambda x: x


def _comparison(op):
    @overload(op)
    def typer(a, b):
        if _kind(a, b) is not None:
            return lambda a, b: op(_value_of(a), _value_of(b))


for _op in (operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne):
    _comparison(_op)


@overload(float)
def _float(x):
    if isinstance(x, VarType):
        def impl(x):
            raise TypeError("float() of a reverse-mode variable would silently drop its "
                            "derivatives; use dualdiff.primal(x) if that is what you mean")
        return impl


@overload(int)
def _int(x):
    if isinstance(x, VarType):
        return lambda x: int(x.value)


@overload(bool)
def _bool(x):
    if isinstance(x, VarType):
        return lambda x: x.value != 0.0


for _fn in (math.floor, math.ceil, math.trunc, math.isnan, math.isinf, math.isfinite,
            np.isnan, np.isinf, np.isfinite):
    def _make(fn):
        @overload(fn)
        def typer(x):
            if isinstance(x, VarType):
                return lambda x: fn(x.value)
    _make(_fn)


def _selection(fns, impl):
    def typer(a, b):
        if _kind(a, b) is not None:
            return lambda a, b: impl(as_var(a, b), as_var(b, a))
    for fn in fns:
        overload(fn)(typer)


_selection((max, np.maximum), rules.select_max)
_selection((min, np.minimum), rules.select_min)
_selection((np.fmax,), rules.select_fmax)
_selection((np.fmin,), rules.select_fmin)


@overload(np.clip)
def _clip(x, lo, hi):
    if any(isinstance(t, VarType) for t in (x, lo, hi)):
        return lambda x, lo, hi: rules.select_clip(as_var(x), lo, hi)


# ===========================================================================
# 4. The rule table: local partials come from rules.py (value, d1)
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


# ===========================================================================
# 5. VarArray: values + node ids, indexed without reference counting
# ===========================================================================

class VarArrayType(types.IterableType):
    """``VarArray[ndim, layout]``: a float64 array of values and an int64
    array of node ids of the same shape, plus the tape address (its kind:
    ``per_operation``, see :class:`TapeType`)."""

    # like a NumPy array: ``a += b`` updates a (and every view of it) in place
    mutable = True

    def __init__(self, ndim, layout="C", per_operation=False):
        self.ndim = int(ndim)
        self.layout = layout
        self.per_operation = bool(per_operation)
        self.dtype = VarType(per_operation)
        kind = ", per operation" if per_operation else ""
        super().__init__(name=f"VarArray[{self.ndim}d, {layout}{kind}]")

    @property
    def values_type(self):
        return types.Array(types.float64, self.ndim, self.layout)

    @property
    def index_type(self):
        return types.Array(types.int64, self.ndim, self.layout)

    @property
    def iterator_type(self):
        return VarArrayIteratorType(self)


@register_model(VarArrayType)
class _VarArrayModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        members = [("values", fe_type.values_type), ("index", fe_type.index_type),
                   ("tape", TapeType(fe_type.per_operation))]
        super().__init__(dmm, fe_type, members)


make_attribute_wrapper(VarArrayType, "values", "values")
make_attribute_wrapper(VarArrayType, "index", "index")
make_attribute_wrapper(VarArrayType, "tape", "tape")


@intrinsic
def wrap_var_array(typingctx, values, index, tape):
    """A VarArray over ``values`` (float64) and ``index`` (int64), same shape;
    ``tape`` as for :func:`make_var` (an integer, or another Var's or
    VarArray's ``tape``, whose kind the array takes)."""
    if not (isinstance(values, types.Array) and isinstance(index, types.Array)):
        return None
    if values.dtype != types.float64 or index.dtype != types.int64 \
            or values.ndim != index.ndim or not _is_tape(tape):
        return None
    layout = values.layout if values.layout == index.layout else "A"
    result = VarArrayType(values.ndim, layout, _tape_kind(tape))

    def codegen(context, builder, sig, args):
        s = cgutils.create_struct_proxy(result)(context, builder)
        s.values = context.cast(builder, args[0], sig.args[0], result.values_type)
        s.index = context.cast(builder, args[1], sig.args[1], result.index_type)
        s.tape = context.cast(builder, args[2], sig.args[2], types.int64)
        context.nrt.incref(builder, sig.args[0], args[0])
        context.nrt.incref(builder, sig.args[1], args[1])
        return s._getvalue()

    return result(values, index, tape), codegen


def _index_list(context, builder, idx, idx_type):
    if isinstance(idx_type, types.BaseTuple):
        return [(builder.extract_value(idx, k), t) for k, t in enumerate(idx_type)]
    return [(idx, idx_type)]


def _element_pointers(context, builder, arr_type, arr, idx, idx_type):
    """Pointers to one element's value and node id (bounds checked)."""
    s = cgutils.create_struct_proxy(arr_type)(context, builder, value=arr)
    va = context.make_array(arr_type.values_type)(context, builder, value=s.values)
    ia = context.make_array(arr_type.index_type)(context, builder, value=s.index)
    nd = arr_type.ndim
    shapes = cgutils.unpack_tuple(builder, va.shape, nd)
    zero = context.get_constant(types.intp, 0)
    inds = []
    for (i, t), n in zip(_index_list(context, builder, idx, idx_type), shapes):
        i = context.cast(builder, i, t, types.intp)
        i = builder.select(builder.icmp_signed("<", i, zero), builder.add(i, n), i)
        outside = builder.or_(builder.icmp_signed("<", i, zero),
                              builder.icmp_signed(">=", i, n))
        with cgutils.if_unlikely(builder, outside):
            context.call_conv.return_user_exc(builder, IndexError,
                                              ("index out of range for Var array",))
        inds.append(i)
    vp = cgutils.get_item_pointer2(context, builder, data=va.data, shape=shapes,
                                   strides=cgutils.unpack_tuple(builder, va.strides, nd),
                                   layout=arr_type.layout, inds=inds)
    ip = cgutils.get_item_pointer2(context, builder, data=ia.data, shape=shapes,
                                   strides=cgutils.unpack_tuple(builder, ia.strides, nd),
                                   layout=arr_type.layout, inds=inds)
    return vp, ip, s.tape


def _is_element_index(arr, idx):
    if not isinstance(arr, VarArrayType):
        return False
    if isinstance(idx, types.Integer):
        return arr.ndim == 1
    return isinstance(idx, types.BaseTuple) and len(idx) == arr.ndim \
        and all(isinstance(t, types.Integer) for t in idx)


@infer_global(operator.getitem)
class _ElementGetitem(AbstractTemplate):
    def generic(self, args, kws):
        if len(args) == 2 and _is_element_index(*args):
            return signature(args[0].dtype, *args)


@lower_builtin(operator.getitem, VarArrayType, types.Integer)
@lower_builtin(operator.getitem, VarArrayType, types.BaseTuple)
def _element_getitem(context, builder, sig, args):
    vp, ip, tape = _element_pointers(context, builder, sig.args[0], args[0], args[1],
                                     sig.args[1])
    return _build_var(context, builder, builder.load(vp), builder.load(ip), tape,
                      sig.return_type)


@infer_global(operator.setitem)
class _ElementSetitem(AbstractTemplate):
    def generic(self, args, kws):
        if len(args) == 3 and _is_element_index(args[0], args[1]) \
                and isinstance(args[2], (VarType,) + _REALS):
            return signature(types.none, args[0], args[1], args[0].dtype)


@lower_builtin(operator.setitem, VarArrayType, types.Integer, types.Any)
@lower_builtin(operator.setitem, VarArrayType, types.BaseTuple, types.Any)
def _element_setitem(context, builder, sig, args):
    vtype = sig.args[0].dtype
    value = context.cast(builder, args[2], sig.args[2], vtype)
    vp, ip, _ = _element_pointers(context, builder, sig.args[0], args[0], args[1], sig.args[1])
    v = cgutils.create_struct_proxy(vtype)(context, builder, value=value)
    node = context.compile_internal(builder, lambda v: node_of(v), types.int64(vtype), [value])
    builder.store(v.value, vp)
    builder.store(node, ip)
    return context.get_dummy_value()


@infer_global(len)
class _VarArrayLen(AbstractTemplate):
    def generic(self, args, kws):
        if len(args) == 1 and isinstance(args[0], VarArrayType):
            return signature(types.intp, *args)


@lower_builtin(len, VarArrayType)
def _var_array_len(context, builder, sig, args):
    arr_type = sig.args[0]
    s = cgutils.create_struct_proxy(arr_type)(context, builder, value=args[0])
    va = context.make_array(arr_type.values_type)(context, builder, value=s.values)
    return cgutils.unpack_tuple(builder, va.shape, arr_type.ndim)[0]


@overload(operator.getitem)
def _sub_getitem(arr, idx):
    """Rows of a 2-D array (``W[i]``) and slices (``x[1:]``) are VarArray views."""
    if not isinstance(arr, VarArrayType) or _is_element_index(arr, idx):
        return None
    if isinstance(idx, (types.Integer, types.SliceType)) or (
            isinstance(idx, types.BaseTuple)
            and all(isinstance(t, (types.Integer, types.SliceType)) for t in idx)):
        return lambda arr, idx: wrap_var_array(arr.values[idx], arr.index[idx], arr.tape)


@overload(operator.setitem)
def _slice_setitem(arr, idx, value):
    if not isinstance(arr, VarArrayType) or _is_element_index(arr, idx):
        return None
    if isinstance(idx, types.SliceType) and arr.ndim == 1:
        if isinstance(value, VarArrayType):
            def impl(arr, idx, value):
                arr.values[idx] = value.values
                arr.index[idx] = value.index
            return impl
        if isinstance(value, (VarType,) + _REALS):
            def impl(arr, idx, value):
                v = as_var(value)
                arr.values[idx] = v.value
                arr.index[idx] = node_of(v)
            return impl


@overload_attribute(VarArrayType, "shape")
def _shape(arr):
    return lambda arr: arr.values.shape


@overload_attribute(VarArrayType, "ndim")
def _ndim(arr):
    nd = arr.ndim
    return lambda arr: nd


@overload_attribute(VarArrayType, "size")
def _size(arr):
    return lambda arr: arr.values.size


@overload_method(VarArrayType, "copy")
def _copy(arr):
    return lambda arr: wrap_var_array(arr.values.copy(), arr.index.copy(), arr.tape)


@overload(np.empty_like)
def _empty_like(arr, dtype=None):
    if isinstance(arr, VarArrayType):
        return lambda arr, dtype=None: wrap_var_array(
            np.zeros(arr.values.shape), np.full(arr.values.shape, -1, np.int64), arr.tape)


@overload(np.zeros_like)
def _zeros_like(arr, dtype=None):
    if isinstance(arr, VarArrayType):
        return lambda arr, dtype=None: wrap_var_array(
            np.zeros(arr.values.shape), np.full(arr.values.shape, -1, np.int64), arr.tape)


@overload(np.ones_like)
def _ones_like(arr, dtype=None):
    if isinstance(arr, VarArrayType):
        return lambda arr, dtype=None: wrap_var_array(
            np.ones(arr.values.shape), np.full(arr.values.shape, -1, np.int64), arr.tape)


# --- iteration: ``for xi in x`` -------------------------------------------------

class VarArrayIteratorType(types.SimpleIteratorType):
    def __init__(self, array_type):
        self.array_type = array_type
        layout = "C" if array_type.layout == "C" else "A"
        yield_type = array_type.dtype if array_type.ndim == 1 else \
            VarArrayType(array_type.ndim - 1, layout, array_type.per_operation)
        super().__init__(f"iter({array_type})", yield_type)


@register_model(VarArrayIteratorType)
class _VarArrayIteratorModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        members = [("position", types.EphemeralPointer(types.intp)),
                   ("array", fe_type.array_type)]
        super().__init__(dmm, fe_type, members)


@lower_builtin("getiter", VarArrayType)
def _getiter(context, builder, sig, args):
    it = context.make_helper(builder, sig.return_type)
    it.position = cgutils.alloca_once_value(builder, context.get_constant(types.intp, 0))
    it.array = args[0]
    context.nrt.incref(builder, sig.args[0], args[0])
    return it._getvalue()


def _item(arr, i):
    return arr[i]


@lower_builtin("iternext", VarArrayIteratorType)
@iternext_impl(RefType.NEW)
def _iternext(context, builder, sig, args, result):
    it_type = sig.args[0]
    it = context.make_helper(builder, it_type, value=args[0])
    arr_type = it_type.array_type
    length = _var_array_len(context, builder, types.intp(arr_type), [it.array])
    position = builder.load(it.position)
    is_valid = builder.icmp_signed("<", position, length)
    result.set_valid(is_valid)
    with builder.if_then(is_valid):
        item_sig = it_type.yield_type(arr_type, types.intp)
        value = context.compile_internal(builder, _item, item_sig, [it.array, position])
        result.yield_(value)
        builder.store(builder.add(position, context.get_constant(types.intp, 1)),
                      it.position)
