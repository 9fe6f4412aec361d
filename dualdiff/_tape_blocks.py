"""Array operations on ``VarArray`` for reverse mode, with block nodes.

Dense linear algebra is recorded as ONE block node, not one node per
multiply-add: ``C = A @ B`` (either operand a float array or a VarArray)
reserves the ids of C's elements on the tape and writes a record into the
tape's *blob* (a float64 side buffer): the shapes, C's first id, and what the
backward pass needs (the values of the other operand, the ids of each
VarArray operand).  The backward sweep meets the block's marker at C's last
id (every consumer of C comes later, so C's adjoints are complete), runs
``dA = dC B^T`` and ``dB = A^T dC`` with BLAS, and skips over C's ids.
Sums are block nodes too.

Elementwise arithmetic and the rule-table functions on VarArrays (``+ - * /
**``, ``np.tanh``, ``np.exp`` ...) loop over the elements with the scalar
``Var`` operations, so they record one node per element (their local
partials come from the rule table, as for scalars).  Broadcasting covers
scalars, arrays of the same shape, and a row (1-D) against a 2-D array.

Block records (offsets in float64 words from the record's start)::

    matmul: 1, m, k, n, first id of C, A is Var, B is Var, then
            A's values (if B is Var), A's ids (if A is Var),
            B's values (if A is Var), B's ids (if B is Var)
    sum:    2, size, id of the result, then the ids summed
"""

import operator

import numpy as np

from . import rules
from ._nbtape import VarArrayType, VarType, make_var, wrap_var_array
from ._numba_compat import (
    TypingError, intrinsic, ir, numba, overload, overload_method, register_jitable, types,
)

__all__ = ["run_block"]

# The tape header's words are listed in _nbtape: count, capacity, flags,
# nodes address, blob address, blob capacity, blob used, ...
_MATMUL, _SUM = 1.0, 2.0
_REALS = (types.Integer, types.Float, types.Boolean)
_jitable = register_jitable(error_model="numpy")


# ---------------------------------------------------------------------------
# Raw access to the header, the nodes and the blob
# ---------------------------------------------------------------------------

@intrinsic
def _word(typingctx, tape, k):
    """Header word k."""
    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        header = builder.inttoptr(args[0], i64.as_pointer())
        return builder.load(builder.gep(header, [context.cast(builder, args[1], sig.args[1],
                                                               types.int64)]))
    return types.int64(types.intp, k), codegen


@intrinsic
def _set_word(typingctx, tape, k, value):
    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        header = builder.inttoptr(args[0], i64.as_pointer())
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
def _flag(tape, bit):
    _set_word(tape, 2, _word(tape, 2) | bit)


@_jitable
def _blob_alloc(tape, words):
    """Offset of ``words`` fresh blob words, or -1 (and the blob flag)."""
    used = _word(tape, 6)
    if used + words > _word(tape, 5):
        _flag(tape, 2)
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
        _flag(tape, 1)
        return -1
    nodes = numba.carray(_i64_pointer(_word(tape, 3)), (_word(tape, 1), 4))
    last = count + size - 1
    nodes[last, 0] = -2
    nodes[last, 1] = record
    _set_word(tape, 0, count + size)
    return count


# ---------------------------------------------------------------------------
# Operands as 2-D (values, ids) pairs
# ---------------------------------------------------------------------------

def _tape_of(x):
    raise NotImplementedError


@overload(_tape_of)
def _tape_of_impl(x):
    if isinstance(x, (VarArrayType, VarType)):
        return lambda x: x.tape
    return lambda x: 0


def _values2d(x):
    """C-contiguous float64 values as 2-D: a 1-D array is one row."""
    raise NotImplementedError


def _ids2d(x):
    raise NotImplementedError


@overload(_values2d)
def _values2d_impl(x):
    if isinstance(x, VarArrayType):
        src = "x.values"
    elif isinstance(x, types.Array):
        src = "x"
    elif isinstance(x, VarType):
        return lambda x: np.full((1, 1), x.value)
    elif isinstance(x, _REALS):
        return lambda x: np.full((1, 1), float(x))
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


@overload(_ids2d)
def _ids2d_impl(x):
    if isinstance(x, VarArrayType):
        if x.ndim == 1:
            return lambda x: np.ascontiguousarray(x.index).reshape((1, x.index.shape[0]))
        if x.ndim == 2:
            return lambda x: np.ascontiguousarray(x.index)
    if isinstance(x, types.Array) and x.ndim in (1, 2):
        return lambda x: np.full(_values2d(x).shape, -1, np.int64)
    if isinstance(x, VarType):
        return lambda x: np.full((1, 1), x.index)
    if isinstance(x, _REALS):
        return lambda x: np.full((1, 1), -1, np.int64)


def _is_operand(t):
    return isinstance(t, (VarArrayType, VarType) + _REALS) or (
        isinstance(t, types.Array) and isinstance(t.dtype, _REALS) and t.ndim in (1, 2))


def _involves_var_array(*ts):
    return any(isinstance(t, VarArrayType) for t in ts) and all(_is_operand(t) for t in ts) \
        and all(not isinstance(t, VarArrayType) or t.ndim in (1, 2) for t in ts)


def _out_ndim(*ts):
    return max(getattr(t, "ndim", 0) for t in ts)


# ---------------------------------------------------------------------------
# Elementwise: one scalar Var operation per element
# ---------------------------------------------------------------------------

@_jitable
def _broadcast(ra, ca, rb, cb):
    r = ra if rb == 1 else rb
    c = ca if cb == 1 else cb
    if (ra != r and ra != 1) or (rb != r and rb != 1) or (ca != c and ca != 1) \
            or (cb != c and cb != 1):
        raise ValueError("operands of a Var array operation could not be broadcast together")
    return r, c


def _binary_elementwise(op):
    def typer(a, b):
        if not _involves_var_array(a, b):
            return None
        one_d = _out_ndim(a, b) == 1

        def impl(a, b):
            av, ai = _values2d(a), _ids2d(a)
            bv, bi = _values2d(b), _ids2d(b)
            ta, tb = _tape_of(a), _tape_of(b)
            tape = ta if ta != 0 else tb
            r, c = _broadcast(av.shape[0], av.shape[1], bv.shape[0], bv.shape[1])
            values = np.empty((r, c))
            ids = np.empty((r, c), np.int64)
            for i in range(r):
                ia = i if av.shape[0] > 1 else 0
                ib = i if bv.shape[0] > 1 else 0
                for j in range(c):
                    ja = j if av.shape[1] > 1 else 0
                    jb = j if bv.shape[1] > 1 else 0
                    z = op(make_var(av[ia, ja], ai[ia, ja], ta),
                           make_var(bv[ib, jb], bi[ib, jb], tb))
                    values[i, j] = z.value
                    ids[i, j] = z.index
            if one_d:
                return wrap_var_array(values.reshape(c), ids.reshape(c), tape)
            return wrap_var_array(values, ids, tape)
        return impl
    return typer


def _inplace_elementwise(fn):
    """``a op= b`` on a VarArray: the result is written into a (and so into
    every view of it), as NumPy does; VarArrayType is mutable for this."""
    def typer(a, b):
        if not isinstance(a, VarArrayType) or not _involves_var_array(a, b):
            return None
        if _out_ndim(a, b) != a.ndim:
            raise TypingError(f"cannot broadcast a {_out_ndim(a, b)}-d result into the "
                              f"{a.ndim}-d array on the left of an in-place operator")
        if a.ndim == 1:
            def impl(a, b):
                r = fn(a, b)
                if r.values.shape[0] != a.values.shape[0]:
                    raise ValueError("in-place operator: the result does not have the "
                                     "shape of the array on the left")
                for j in range(a.values.shape[0]):
                    a.values[j] = r.values[j]
                    a.index[j] = r.index[j]
                return a
            return impl

        def impl(a, b):
            r = fn(a, b)
            if r.values.shape != a.values.shape:
                raise ValueError("in-place operator: the result does not have the "
                                 "shape of the array on the left")
            for i in range(a.values.shape[0]):
                for j in range(a.values.shape[1]):
                    a.values[i, j] = r.values[i, j]
                    a.index[i, j] = r.index[i, j]
            return a
        return impl
    return typer


for _ops, _fn in (((operator.add, np.add), operator.add),
                  ((operator.sub, np.subtract), operator.sub),
                  ((operator.mul, np.multiply), operator.mul),
                  ((operator.truediv, np.divide), operator.truediv),
                  ((operator.pow, np.power), operator.pow),
                  ((np.maximum,), np.maximum), ((np.minimum,), np.minimum)):
    _typer = _binary_elementwise(_fn)
    for _op in _ops:
        overload(_op)(_typer)
for _op, _fn in ((operator.iadd, operator.add), (operator.isub, operator.sub),
                 (operator.imul, operator.mul), (operator.itruediv, operator.truediv),
                 (operator.ipow, operator.pow)):
    overload(_op)(_inplace_elementwise(_fn))


def _unary_elementwise(fn):
    def typer(a):
        if not isinstance(a, VarArrayType):
            return None

        def impl(a):
            v = np.ascontiguousarray(a.values)
            ix = np.ascontiguousarray(a.index)
            flat_v = v.ravel()
            flat_i = ix.ravel()
            values = np.empty(flat_v.size)
            ids = np.empty(flat_v.size, np.int64)
            for e in range(flat_v.size):
                z = fn(make_var(flat_v[e], flat_i[e], a.tape))
                values[e] = z.value
                ids[e] = z.index
            return wrap_var_array(values.reshape(v.shape), ids.reshape(v.shape), a.tape)
        return impl
    return typer


overload(operator.neg)(_unary_elementwise(operator.neg))
for _rule in rules.UNARY:
    _t = _unary_elementwise(_rule.generic)
    overload(_rule.generic)(_t)
    if _rule.numpy_name:
        overload(getattr(np, _rule.numpy_name))(_t)
    if _rule.name == "absolute":
        overload(abs)(_t)


# ---------------------------------------------------------------------------
# Block nodes: matmul / dot, sum, mean
# ---------------------------------------------------------------------------

def _matmul_typer(a, b):
    if not _involves_var_array(a, b) or isinstance(a, (VarType,) + _REALS) \
            or isinstance(b, (VarType,) + _REALS):
        return None
    a_var, b_var = isinstance(a, VarArrayType), isinstance(b, VarArrayType)
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
        tape = _tape_of(a) if a_var else _tape_of(b)
        words = 7 + (m * k if b_var else 0) + (m * k + k * n if a_var else 0) \
            + (k * n if b_var else 0)
        record = _blob_alloc(tape, words)
        c0 = _reserve(tape, m * n, record) if record >= 0 else -1
        ids = np.full((m, n), -1, np.int64)
        if c0 >= 0:
            blob = _blob(tape)
            blob[record] = _MATMUL
            blob[record + 1] = m
            blob[record + 2] = k
            blob[record + 3] = n
            blob[record + 4] = c0
            blob[record + 5] = 1.0 if a_var else 0.0
            blob[record + 6] = 1.0 if b_var else 0.0
            o = record + 7
            if b_var:
                blob[o:o + m * k] = av.ravel()
                o += m * k
            if a_var:
                blob[o:o + m * k] = _ids2d(a).ravel()
                o += m * k
                blob[o:o + k * n] = bv.ravel()
                o += k * n
            if b_var:
                blob[o:o + k * n] = np.ascontiguousarray(_ids2d(b)).reshape(k * n)
            flat_ids = ids.reshape(m * n)
            for e in range(m * n):
                flat_ids[e] = c0 + e
        return finish(cv, ids, tape)
    return impl


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


@_jitable
def _var_sum(a):
    v = np.ascontiguousarray(a.values).ravel()
    ix = np.ascontiguousarray(a.index).ravel()
    total = v.sum()
    size = v.size
    tape = a.tape
    record = _blob_alloc(tape, 3 + size)
    c0 = _reserve(tape, 1, record) if record >= 0 else -1
    if c0 < 0:
        return make_var(total, -1, 0)
    blob = _blob(tape)
    blob[record] = _SUM
    blob[record + 1] = size
    blob[record + 2] = c0
    for e in range(size):
        blob[record + 3 + e] = ix[e]
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


# ---------------------------------------------------------------------------
# Backward pass of a block (called by the sweep at the block's last id)
# ---------------------------------------------------------------------------

@numba.njit(cache=True, error_model="numpy")
def run_block(blob, record, adj):
    """Add the block's contributions to ``adj``; return its first id."""
    if blob[record] == _SUM:
        size = int(blob[record + 1])
        c0 = int(blob[record + 2])
        g = adj[c0]
        for e in range(size):
            i = int(blob[record + 3 + e])
            if i >= 0:
                adj[i] += g
        return c0
    m = int(blob[record + 1])
    k = int(blob[record + 2])
    n = int(blob[record + 3])
    c0 = int(blob[record + 4])
    a_var = blob[record + 5] != 0.0
    b_var = blob[record + 6] != 0.0
    dc = adj[c0:c0 + m * n].copy().reshape((m, n))
    av = np.empty((0, 0))
    o = record + 7
    if b_var:
        av = blob[o:o + m * k].copy().reshape((m, k))
        o += m * k
    if a_var:
        a_ids = blob[o:o + m * k]
        o += m * k
        bv = blob[o:o + k * n].copy().reshape((k, n))
        o += k * n
        da = np.dot(dc, bv.T).ravel()
        for e in range(m * k):
            i = int(a_ids[e])
            if i >= 0:
                adj[i] += da[e]
    if b_var:
        b_ids = blob[o:o + k * n]
        db = np.dot(av.T, dc).ravel()
        for e in range(k * n):
            i = int(b_ids[e])
            if i >= 0:
                adj[i] += db[e]
    return c0
