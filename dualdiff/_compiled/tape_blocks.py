"""Block nodes of reverse mode: the tape's blob, operands, matmul/dot, sums.

Every array operation is recorded as ONE block node, not one node per
element: the operation reserves the ids of its result's elements on the tape
and writes a record into the tape's *blob* (a float64 side buffer) with what
the backward pass needs.  The backward sweep meets the block's marker at the
result's last id (every consumer of the result comes later, so its adjoints
are complete), runs the block as vectorised loops or BLAS calls, and skips
over the result's ids.

* ``C = A @ B`` (either operand a float array or a VarArray): the record holds
  the values of the other operand; the backward is ``dA = dC B^T``,
  ``dB = A^T dC``.
* sums and means.
* elementwise arithmetic and the rule-table functions: in
  :mod:`dualdiff._compiled.tape_elementwise`, on the blob access and
  operands defined here.

An operand's ids are stored as its first id when they are contiguous (block
outputs, inputs, their rows and columns), else one by one (id -1, a
constant, records nothing and receives nothing).  Record formats are given
with each block kind below; the records are read back by
:func:`dualdiff._compiled.backward.run_block`.
"""

import operator

import numpy as np

from .backward import _MATMUL, _NO_IDS, _SCATTERED, _SUM
from .tape import VarType, _set_flag, header_pointer, make_var, settle
from .var_array import VarArrayType, wrap_var_array
from .compat import intrinsic, numba, overload, overload_method, register_jitable, types

__all__ = []

# The tape header's words are listed in tape.py: count, capacity, flags,
# nodes address, blob address, blob capacity, blob used, ...
# (the block kinds _MATMUL, _SUM, _ELEMENTWISE: in backward.py)
_REALS = (types.Integer, types.Float, types.Boolean)
_jitable = register_jitable(error_model="numpy")


# ---------------------------------------------------------------------------
# Raw access to the header, the nodes and the blob
# ---------------------------------------------------------------------------

@intrinsic
def _word(typingctx, tape, k):
    """Header word k."""
    def codegen(context, builder, sig, args):
        header = header_pointer(builder, args[0])
        return builder.load(builder.gep(header, [context.cast(builder, args[1], sig.args[1],
                                                               types.int64)]))
    return types.int64(types.intp, k), codegen


@intrinsic
def _set_word(typingctx, tape, k, value):
    def codegen(context, builder, sig, args):
        header = header_pointer(builder, args[0])
        k = context.cast(builder, args[1], sig.args[1], types.int64)
        v = context.cast(builder, args[2], sig.args[2], types.int64)
        builder.store(v, builder.gep(header, [k]))
        return context.get_dummy_value()
    return types.none(types.intp, k, value), codegen


@intrinsic
def _f64_pointer(typingctx, address):
    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))
    return types.CPointer(types.float64)(types.intp), codegen


@intrinsic
def _i64_pointer(typingctx, address):
    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(sig.return_type))
    return types.CPointer(types.int64)(types.intp), codegen


@_jitable
def _blob_alloc(tape, words):
    """Offset of ``words`` fresh blob words, or -1 (and the blob flag)."""
    used = _word(tape, 6)
    if used + words > _word(tape, 5):
        _set_flag(tape, 2)
        return -1
    _set_word(tape, 6, used + words)
    return used


@_jitable
def _blob(tape):
    return numba.carray(_f64_pointer(_word(tape, 4)), _word(tape, 5))


@_jitable
def _reserve(tape, size, record):
    """First of ``size`` fresh node ids whose last one marks block ``record``,
    or -1 (and the node flag)."""
    count = _word(tape, 0)
    if count + size > _word(tape, 1):
        _set_flag(tape, 1)
        return -1
    nodes = numba.carray(_i64_pointer(_word(tape, 3)), (_word(tape, 1), 4))
    last = count + size - 1
    nodes[last, 0] = -2
    nodes[last, 1] = record
    _set_word(tape, 0, count + size)
    return count


# ---------------------------------------------------------------------------
# Operands: any of them read as a 2-D (rows, columns) array, without copies
# ---------------------------------------------------------------------------
# A 1-D array is one row, a number (or a Var) is 1 x 1.  ``_val``/``_idx``
# read element (i, j) of that 2-D view; ``_id_layout`` says how the ids of
# an operand are laid out: -1 when it has none (a constant: it records
# nothing and receives nothing), ``first`` when they are the contiguous
# range first, first + 1, ... in C order (block outputs and inputs are), -3
# otherwise (the ids are then written into the record).

# (_NO_IDS, _SCATTERED: in backward.py, whose block runner reads them)

def _tape_of(x):
    raise NotImplementedError


@overload(_tape_of)
def _tape_of_impl(x):
    if isinstance(x, (VarArrayType, VarType)):
        return lambda x: x.tape
    return lambda x: 0


def _shape2(x):
    raise NotImplementedError


@overload(_shape2)
def _shape2_impl(x):
    if isinstance(x, (VarArrayType, types.Array)):
        arr = "x.values" if isinstance(x, VarArrayType) else "x"
        if x.ndim == 1:
            return eval(f"lambda x: (1, {arr}.shape[0])")
        if x.ndim == 2:
            return eval(f"lambda x: ({arr}.shape[0], {arr}.shape[1])")
    if isinstance(x, (VarType,) + _REALS):
        return lambda x: (1, 1)


def _val(x, i, j):
    raise NotImplementedError


@overload(_val, inline="always")
def _val_impl(x, i, j):
    if isinstance(x, VarArrayType):
        if x.ndim == 1:
            return lambda x, i, j: x.values[j]
        return lambda x, i, j: x.values[i, j]
    if isinstance(x, types.Array):
        if x.ndim == 1:
            return lambda x, i, j: float(x[j])
        return lambda x, i, j: float(x[i, j])
    if isinstance(x, VarType):
        return lambda x, i, j: x.value
    if isinstance(x, _REALS):
        return lambda x, i, j: float(x)


def _idx(x, i, j):
    raise NotImplementedError


@overload(_idx, inline="always")
def _idx_impl(x, i, j):
    if isinstance(x, VarArrayType):
        if x.ndim == 1:
            return lambda x, i, j: x.index[j]
        return lambda x, i, j: x.index[i, j]
    if isinstance(x, VarType):  # settled: one node (see _settled)
        return lambda x, i, j: x.i1
    return lambda x, i, j: -1


def _id_layout(x, r, c):
    raise NotImplementedError


@overload(_id_layout)
def _id_layout_impl(x, r, c):
    if not isinstance(x, (VarArrayType, VarType)):
        return lambda x, r, c: _NO_IDS

    def impl(x, r, c):
        if r * c == 0:
            return _NO_IDS
        first = _idx(x, 0, 0)
        if first >= 0:
            # branch-free, so it vectorises (4x faster than an early exit):
            # an id other than first + i * c + j leaves bits in ``off``
            off = 0
            for i in range(r):
                base = first + i * c
                for j in range(c):
                    off |= _idx(x, i, j) ^ (base + j)
            return first if off == 0 else _SCATTERED
        for i in range(r):
            for j in range(c):
                if _idx(x, i, j) >= 0:
                    return _SCATTERED
        return _NO_IDS
    return impl


@_jitable
def _write_ids(blob, o, x, r, c):
    for i in range(r):
        for j in range(c):
            blob[o + i * c + j] = _idx(x, i, j)


def _settled(x):
    """A scalar Var as the Var of one node (its two-term form written out), so
    that blocks can record its id; anything else as it is."""
    raise NotImplementedError


@overload(_settled, inline="always")
def _settled_impl(x):
    if isinstance(x, VarType):
        return lambda x: settle(x)
    return lambda x: x


def _is_operand(t):
    return isinstance(t, (VarArrayType, VarType) + _REALS) or (
        isinstance(t, types.Array) and isinstance(t.dtype, _REALS) and t.ndim in (1, 2))


def _involves_var_array(*ts):
    return any(isinstance(t, VarArrayType) for t in ts) and all(_is_operand(t) for t in ts) \
        and all(not isinstance(t, VarArrayType) or t.ndim in (1, 2) for t in ts)


def _out_ndim(*ts):
    return max(getattr(t, "ndim", 0) for t in ts)


@_jitable
def _result_ids(z0, r, c):
    """C-ordered ids z0, z0 + 1, ... (all -1 when nothing was recorded)."""
    if z0 < 0:
        return np.full((r, c), -1, np.int64)
    return np.arange(z0, z0 + r * c).reshape((r, c))


# ---------------------------------------------------------------------------
# Block nodes: matmul / dot, sum, mean
# ---------------------------------------------------------------------------
# matmul: 1, m, k, n, first id of C, A's first id, B's first id (-1: no ids,
#         -3: ids in the record), then A's values (if B has ids), A's ids
#         (if scattered), B's values (if A has ids), B's ids (if scattered)

def _matmul_typer(a, b):
    if not _involves_var_array(a, b) or isinstance(a, (VarType,) + _REALS) \
            or isinstance(b, (VarType,) + _REALS):
        return None
    b_nd = b.ndim
    finish = _FINISH[(a.ndim == 1, b.ndim == 1)]

    def impl(a, b):
        av = _values2d(a)
        bv = _values2d(b)
        if b_nd == 1:
            bv = bv.reshape((bv.shape[1], 1))
        m, k, n = av.shape[0], av.shape[1], bv.shape[1]
        if bv.shape[0] != k:
            raise ValueError("matmul: the inner dimensions of the operands differ")
        cv = np.dot(av, bv)
        tape = _tape_of(a)
        if tape == 0:
            tape = _tape_of(b)
        ra, ca = _shape2(a)
        rb, cb = _shape2(b)
        fa = _id_layout(a, ra, ca)
        fb = _id_layout(b, rb, cb)
        a_var, b_var = fa != _NO_IDS, fb != _NO_IDS
        words = 7 + (m * k if b_var else 0) + (k * n if a_var else 0) \
            + (m * k if fa == _SCATTERED else 0) + (k * n if fb == _SCATTERED else 0)
        c0 = -1
        if (a_var or b_var) and m * n > 0:
            record = _blob_alloc(tape, words)
            c0 = _reserve(tape, m * n, record) if record >= 0 else -1
        if c0 >= 0:
            blob = _blob(tape)
            blob[record] = _MATMUL
            blob[record + 1] = m
            blob[record + 2] = k
            blob[record + 3] = n
            blob[record + 4] = c0
            blob[record + 5] = fa
            blob[record + 6] = fb
            o = record + 7
            if b_var:
                blob[o:o + m * k] = av.ravel()
                o += m * k
            if fa == _SCATTERED:
                _write_ids(blob, o, a, ra, ca)
                o += m * k
            if a_var:
                blob[o:o + k * n] = bv.ravel()
                o += k * n
            if fb == _SCATTERED:
                _write_ids(blob, o, b, rb, cb)
        return finish(cv, _result_ids(c0, m, n), tape)
    return impl


def _values2d(x):
    """C-contiguous float64 values as 2-D: a 1-D array is one row."""
    raise NotImplementedError


@overload(_values2d)
def _values2d_impl(x):
    if isinstance(x, VarArrayType):
        src = "x.values"
    elif isinstance(x, types.Array):
        src = "x"
    else:
        return None
    nd = x.ndim
    # read only by the callers: no copy when already C-contiguous float64
    float64 = isinstance(x, VarArrayType) or x.dtype == types.float64
    conv = "" if float64 else ".astype(np.float64)"
    if nd == 1:
        return eval(f"lambda x: np.ascontiguousarray({src}){conv}"
                    f".reshape((1, {src}.shape[0]))", {"np": np})
    if nd == 2:
        return eval(f"lambda x: np.ascontiguousarray({src}){conv}", {"np": np})


# the (m, n) result shaped as NumPy shapes it: keyed by (a is 1-D, b is 1-D)
_FINISH = {
    (True, True): _jitable(lambda cv, ids, tape: make_var(cv[0, 0], ids[0, 0], tape)),
    (True, False): _jitable(lambda cv, ids, tape: wrap_var_array(
        cv.reshape(cv.shape[1]), ids.reshape(cv.shape[1]), tape)),
    (False, True): _jitable(lambda cv, ids, tape: wrap_var_array(
        cv.reshape(cv.shape[0]), ids.reshape(cv.shape[0]), tape)),
    (False, False): _jitable(lambda cv, ids, tape: wrap_var_array(cv, ids, tape)),
}


overload(operator.matmul)(_matmul_typer)
overload(np.dot)(_matmul_typer)


# sum: 2, size, id of the result, first id of the summed (-1: ids follow), ids
@_jitable
def _var_sum(a):
    v = np.ascontiguousarray(a.values).ravel()
    ix = np.ascontiguousarray(a.index).ravel()
    total = v.sum()
    size = v.size
    tape = a.tape
    flat = wrap_var_array(v, ix, tape)
    first = _id_layout(flat, 1, size)
    if first == _NO_IDS:
        return make_var(total, -1, 0)
    record = _blob_alloc(tape, 4 + (size if first == _SCATTERED else 0))
    c0 = _reserve(tape, 1, record) if record >= 0 else -1
    if c0 < 0:
        return make_var(total, -1, 0)
    blob = _blob(tape)
    blob[record] = _SUM
    blob[record + 1] = size
    blob[record + 2] = c0
    blob[record + 3] = first if first >= 0 else -1
    if first == _SCATTERED:
        _write_ids(blob, record + 4, flat, 1, size)
    return make_var(total, c0, tape)


@overload(np.sum)
def _np_sum(a):
    if isinstance(a, VarArrayType):
        return lambda a: _var_sum(a)


@overload(np.mean)
def _np_mean(a):
    if isinstance(a, VarArrayType):
        return lambda a: _var_sum(a) / a.values.size


@overload_method(VarArrayType, "sum")
def _method_sum(a):
    return lambda a: _var_sum(a)


@overload_method(VarArrayType, "mean")
def _method_mean(a):
    return lambda a: _var_sum(a) / a.values.size


