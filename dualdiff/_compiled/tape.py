"""The reverse-mode number type ``Var`` in Numba: its types and recording.

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
(matmul, sum) and the blob are in :mod:`dualdiff._compiled.tape_blocks`, the
backward sweep in :mod:`dualdiff._compiled.backward`.

Here, in order: the types (model, unification with numbers, casts); the
``_push`` intrinsic and the two-term forms.  The hand-written arithmetic,
comparisons, conversions and every rule of :mod:`dualdiff.rules` under all
its spellings are in :mod:`dualdiff._compiled.var_ops`; ``VarArray`` is in
:mod:`dualdiff._compiled.var_array`.
"""

from .compat import (
    Conversion, cgutils, intrinsic, ir, lower_cast, make_attribute_wrapper, models, overload,
    register_jitable, register_model, types,
)

__all__ = ["VarType", "var_type", "TapeType", "make_var",
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
