"""Array operations on ``VarArray`` for reverse mode, with block nodes.

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
* elementwise arithmetic and the rule-table functions (``+ - * / **``,
  ``np.maximum``, ``np.tanh``, ``np.exp`` ...): the record holds the local
  partials (one number when the partial is the same for every element, as
  for ``x + y`` or ``2.0 * x``); broadcasting covers numbers, Var scalars,
  arrays of the same shape, rows and columns of 2-D arrays.

An operand's ids are stored as its first id when they are contiguous (block
outputs, inputs, their rows and columns), else one by one (id -1, a
constant, records nothing and receives nothing).  Record formats are given
with each block kind below.
"""

import math
import operator

import numpy as np

from .. import rules
from . import registrar
from .dual import _pow_base_derivative, _pow_exponent_derivative
from .tape import (
    VarArrayType, VarType, _set_flag, header_pointer, make_var, settle, wrap_var_array,
)
from .compat import (
    TypingError, intrinsic, ir, numba, overload, overload_method, register_jitable, types,
)

__all__ = ["run_block", "backward"]

# The tape header's words are listed in _nbtape: count, capacity, flags,
# nodes address, blob address, blob capacity, blob used, ...
_MATMUL, _SUM, _ELEMENTWISE = 1.0, 2.0, 3.0
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

_NO_IDS, _SCATTERED = -1, -3


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
# Elementwise operations: one block node per array operation
# ---------------------------------------------------------------------------
# The result's r x c ids are reserved contiguously; the record holds, per
# operand on the tape, where its ids are and its local partials: one number
# (``x + y``, ``x * 2.0``) or one per element of the result.  The backward
# adds ``partial * adj[result]`` to the operand's adjoints, summed over the
# broadcast rows/columns.  Record::
#
#     3, r, c, first id of the result, number of operand slots, then per slot
#     rows, columns (rows 0: nothing to do), first id (-1: ids at offset),
#     ids offset, 1 if the partial is one number else 0, the number or the
#     partials' offset; then the ids and partials the slots point to.

_EW_HEAD, _EW_SLOT = 5, 6


@_jitable
def _broadcast(ra, ca, rb, cb):
    r = ra if rb == 1 else rb
    c = ca if cb == 1 else cb
    if (ra != r and ra != 1) or (rb != r and rb != 1) or (ca != c and ca != 1) \
            or (cb != c and cb != 1):
        raise ValueError("operands of a Var array operation could not be broadcast together")
    return r, c


@_jitable
def _slot_words(first, rows, cols, full, size):
    if first == _NO_IDS:
        return 0
    return (rows * cols if first == _SCATTERED else 0) + (size if full else 0)


@_jitable
def _write_slot(blob, h, o, x, first, rows, cols, scalar, partial, size):
    """Fill slot header h; return (offset of the partials or -1, next free word)."""
    if first == _NO_IDS:
        blob[h] = 0.0
        return -1, o
    blob[h] = rows
    blob[h + 1] = cols
    blob[h + 2] = first if first >= 0 else -1
    blob[h + 3] = o
    if first == _SCATTERED:
        _write_ids(blob, o, x, rows, cols)
        o += rows * cols
    if scalar:
        blob[h + 4] = 1.0
        blob[h + 5] = partial
        return -1, o
    blob[h + 4] = 0.0
    blob[h + 5] = o
    return o, o + size


@_jitable
def _begin_block(tape, r, c, words, slots):
    """(record, first id of the result) of a fresh elementwise block, or -1s."""
    record = _blob_alloc(tape, _EW_HEAD + _EW_SLOT * slots + words)
    if record < 0:
        return -1, -1
    z0 = _reserve(tape, r * c, record)
    if z0 < 0:
        return -1, -1
    blob = _blob(tape)
    blob[record] = _ELEMENTWISE
    blob[record + 1] = r
    blob[record + 2] = c
    blob[record + 3] = z0
    blob[record + 4] = slots
    return record, z0


def _binary_block(kernel, const_a, const_b, a_from_b, b_from_a):
    """Typer of ``op(a, b)`` on arrays: ``kernel(x, y) -> (z, dz/dx, dz/dy)``.

    ``const_a``: the partial in a is always this number (None: per element);
    ``a_from_b``: it depends on b only (then one number when b is one number).
    """
    has_ca, ca_value = const_a is not None, float(const_a or 0.0)
    has_cb, cb_value = const_b is not None, float(const_b or 0.0)
    kernel = _jitable(kernel)

    def typer(a, b):
        if not _involves_var_array(a, b):
            return None
        one_d = _out_ndim(a, b) == 1

        def impl(a, b):
            a = _settled(a)
            b = _settled(b)
            ra, ca = _shape2(a)
            rb, cb = _shape2(b)
            r, c = _broadcast(ra, ca, rb, cb)
            size = r * c
            tape = _tape_of(a)
            if tape == 0:
                tape = _tape_of(b)
            fa = _id_layout(a, ra, ca)
            fb = _id_layout(b, rb, cb)
            sa = has_ca or (a_from_b and rb * cb == 1)
            sb = has_cb or (b_from_a and ra * ca == 1)
            z0 = -1
            pa, pb = -1, -1
            blob = np.empty(0)
            if (fa != _NO_IDS or fb != _NO_IDS) and size > 0:
                words = _slot_words(fa, ra, ca, not sa, size) \
                    + _slot_words(fb, rb, cb, not sb, size)
                record, z0 = _begin_block(tape, r, c, words, 2)
                if z0 >= 0:
                    blob = _blob(tape)
                    x0, y0 = _val(a, 0, 0), _val(b, 0, 0)
                    _, da0, db0 = kernel(x0, y0)
                    o = record + _EW_HEAD + 2 * _EW_SLOT
                    pa, o = _write_slot(blob, record + _EW_HEAD, o, a, fa, ra, ca, sa,
                                        ca_value if has_ca else da0, size)
                    pb, o = _write_slot(blob, record + _EW_HEAD + _EW_SLOT, o, b, fb, rb, cb,
                                        sb, cb_value if has_cb else db0, size)
            values = np.empty((r, c))
            for i in range(r):
                ia = i if ra > 1 else 0
                ib = i if rb > 1 else 0
                for j in range(c):
                    z, da, db = kernel(_val(a, ia, j if ca > 1 else 0),
                                       _val(b, ib, j if cb > 1 else 0))
                    values[i, j] = z
                    if pa >= 0:
                        blob[pa + i * c + j] = da
                    if pb >= 0:
                        blob[pb + i * c + j] = db
            ids = _result_ids(z0, r, c)
            if one_d:
                return wrap_var_array(values.reshape(c), ids.reshape(c), tape)
            return wrap_var_array(values, ids, tape)
        return impl
    return typer


def _k_add(x, y):
    return x + y, 1.0, 1.0


def _k_sub(x, y):
    return x - y, 1.0, -1.0


def _k_mul(x, y):
    return x * y, y, x


def _k_div(x, y):
    q = x / y
    return q, 1.0 / y, -q / y


def _k_pow(x, y):
    # as the scalar Var ** (and x ** 2 as the literal square: one product)
    if y == 2.0:
        return x * x, x + x, _pow_base_derivative(x * x, x, y)
    z = x ** y
    return z, _pow_exponent_derivative(x, y), _pow_base_derivative(z, x, y)


def _k_maximum(x, y):
    # rules.select_max: y if y > x else x (the first operand wins a tie)
    if y > x:
        return y, 0.0, 1.0
    return x, 1.0, 0.0


def _k_minimum(x, y):
    if y < x:
        return y, 0.0, 1.0
    return x, 1.0, 0.0


_BINARY_BLOCKS = (
    ((operator.add, np.add), operator.add, _binary_block(_k_add, 1.0, 1.0, False, False)),
    ((operator.sub, np.subtract), operator.sub, _binary_block(_k_sub, 1.0, -1.0, False, False)),
    ((operator.mul, np.multiply), operator.mul, _binary_block(_k_mul, None, None, True, True)),
    ((operator.truediv, np.divide), operator.truediv,
     _binary_block(_k_div, None, None, True, False)),
    ((operator.pow, np.power), operator.pow, _binary_block(_k_pow, None, None, False, False)),
    ((np.maximum,), None, _binary_block(_k_maximum, None, None, False, False)),
    ((np.minimum,), None, _binary_block(_k_minimum, None, None, False, False)),
)
for _ops, _, _typer in _BINARY_BLOCKS:
    for _op in _ops:
        overload(_op)(_typer)


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


for _op, _fn in ((operator.iadd, operator.add), (operator.isub, operator.sub),
                 (operator.imul, operator.mul), (operator.itruediv, operator.truediv),
                 (operator.ipow, operator.pow)):
    overload(_op)(_inplace_elementwise(_fn))


def _unary_block(kernel, const_partial=None):
    """Typer of ``f(a)`` on a VarArray of any shape: ``kernel(x) -> (y, dy/dx)``."""
    has_const, const_value = const_partial is not None, float(const_partial or 0.0)
    kernel = _jitable(kernel)

    def typer(a):
        if not isinstance(a, VarArrayType):
            return None

        def impl(a):
            v = np.ascontiguousarray(a.values)
            ix = np.ascontiguousarray(a.index)
            flat_v = v.ravel()
            flat_i = ix.ravel()
            size = flat_v.size
            tape = a.tape
            first = _id_layout(wrap_var_array(flat_v, flat_i, tape), 1, size)
            z0, p = -1, -1
            blob = np.empty(0)
            if first != _NO_IDS and size > 0:
                words = _slot_words(first, 1, size, not has_const, size)
                record, z0 = _begin_block(tape, 1, size, words, 1)
                if z0 >= 0:
                    blob = _blob(tape)
                    o = record + _EW_HEAD + _EW_SLOT
                    p, o = _write_slot(blob, record + _EW_HEAD, o,
                                       wrap_var_array(flat_v, flat_i, tape), first, 1, size,
                                       has_const, const_value, size)
            values = np.empty(size)
            if p >= 0:   # two loops: each one vectorises
                partials = blob[p:p + size]
                for e in range(size):
                    y, d = kernel(flat_v[e])
                    values[e] = y
                    partials[e] = d
            else:
                for e in range(size):
                    values[e] = kernel(flat_v[e])[0]
            ids = _result_ids(z0, 1, size).reshape(size)
            return wrap_var_array(values.reshape(v.shape), ids.reshape(v.shape), tape)
        return impl
    return typer


def _rule_kernel(rule):
    value_fn, d1 = rule.value, rule.d1

    def kernel(x):
        y = value_fn(x)
        return y, d1(x, y)
    return kernel


def _k_neg(x):
    return -x, -1.0


# tanh(x) and tanh'(x) = 1 / cosh(x)**2 from one exp(-2|x|), in straight-line
# code the compiler vectorises (libm's tanh and cosh are two calls, ~16 ns an
# element: the bulk of recording an MLP layer).  e^r - 1 for |r| <= ln2 / 2 is
# its Taylor polynomial to r**13 (truncation < 2e-17 relative); then
# expm1(y) = 2^k (e^r - 1) + (2^k - 1) and exp(y) = 2^k (e^r - 1) + 2^k are
# both accurate, and tanh|x| = -expm1(-2|x|) / (1 + exp(-2|x|)),
# sech^2 x = 4 exp(-2|x|) / (1 + exp(-2|x|))**2.  Measured against libm on
# 1e5 points over 1e-20 .. 400: tanh within 3 ulp (NumPy's SIMD tanh differs
# from libm as much), sech^2 within 8e-16 relative; 0, +-inf, nan, subnormals
# as libm; sech^2 is 0 beyond |x| = 354 (where it is below 2e-307).

@intrinsic
def _as_float(typingctx, bits):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _as_int(typingctx, x):
    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


_INV_LN2 = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01     # 32 significant bits: k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_SHIFTER = 6755399441055744.0            # 1.5 * 2**52: adding it rounds to an integer
_SHIFTER_BITS = 0x4338000000000000
(_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12,
 _C13) = (1.0 / math.factorial(_n) for _n in range(2, 14))


def _k_tanh(x):
    ax = abs(x)
    y = -2.0 * min(ax, 354.0)
    t = y * _INV_LN2 + _SHIFTER
    k = t - _SHIFTER
    scale = _as_float((_as_int(t) - _SHIFTER_BITS + 1023) << 52)   # 2**k
    r = (y - k * _LN2_HI) - k * _LN2_LO
    q = _C2 + r * (_C3 + r * (_C4 + r * (_C5 + r * (_C6 + r * (_C7 + r * (
        _C8 + r * (_C9 + r * (_C10 + r * (_C11 + r * (_C12 + r * _C13))))))))))
    sp = scale * (r + (r * r) * q)
    em1 = sp + (scale - 1.0)
    e = sp + scale
    d = 1.0 + e
    sech2 = 4.0 * e / (d * d)
    return math.copysign(-em1 / d, x), (0.0 if ax > 354.0 else sech2)


_FAST_KERNELS = {"tanh": _k_tanh}

overload(operator.neg)(_unary_block(_k_neg, -1.0))
_BLOCK_TYPERS = {}
for _rule in rules.UNARY:
    _BLOCK_TYPERS[_rule.name] = _unary_block(_FAST_KERNELS.get(_rule.name) or _rule_kernel(_rule))
    overload(_rule.generic)(_BLOCK_TYPERS[_rule.name])
registrar.each_spelling(1, True, lambda rule, function, native:
                        overload(function)(_BLOCK_TYPERS[rule.name]))


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


# ---------------------------------------------------------------------------
# Backward pass of a block (called by the sweep at the block's last id)
# ---------------------------------------------------------------------------
# A zero adjoint or a zero local partial contributes nothing (0 * inf at a
# kink stays 0), as in the scalar sweep.

@_jitable
def _scatter_add(adj, blob, first, ids_at, values):
    """adj[ids] += values, the ids being first + e or stored at ids_at."""
    if first >= 0:
        dst = adj[first:first + values.size]
        for e in range(values.size):
            dst[e] += values[e]
    else:
        for e in range(values.size):
            i = int(blob[ids_at + e])
            if i >= 0:
                adj[i] += values[e]


@_jitable
def _term(p, g):
    """``p * g`` with the backward sweep's rule: 0 for a zero partial, and for
    a zero adjoint unless the partial is inf or nan (then nan: see backward)."""
    return 0.0 if p == 0.0 or (g == 0.0 and p - p == 0.0) else p * g


@_jitable
def _run_slot(blob, h, r, c, g, adj):
    rows = int(blob[h])
    if rows == 0:
        return
    cols = int(blob[h + 1])
    first = int(blob[h + 2])
    ids_at = int(blob[h + 3])
    scalar = blob[h + 4] != 0.0
    size = r * c
    pv = blob[h + 5]
    if scalar and pv == 0.0:
        return
    p = blob[0:0] if scalar else blob[int(pv):int(pv) + size]
    if first >= 0 and rows == r and cols == c:   # same shape, contiguous ids
        dst = adj[first:first + size]
        if scalar:
            for e in range(size):
                dst[e] += _term(pv, g[e])
        else:
            for e in range(size):
                dst[e] += _term(p[e], g[e])
        return
    if first >= 0 and rows == 1 and cols == c:    # a row against every row
        dst = adj[first:first + c]
        for i in range(r):
            gi = g[i * c:(i + 1) * c]
            if scalar:
                for j in range(c):
                    dst[j] += _term(pv, gi[j])
            else:
                pi = p[i * c:(i + 1) * c]
                for j in range(c):
                    dst[j] += _term(pi[j], gi[j])
        return
    for i in range(r):
        ti = (i if rows > 1 else 0) * cols
        for j in range(c):
            e = i * c + j
            ge = g[e]
            pe = pv if scalar else p[e]
            if pe != 0.0 and (ge != 0.0 or pe - pe != 0.0):  # as _term
                t = ti + (j if cols > 1 else 0)
                if first >= 0:
                    adj[first + t] += pe * ge
                else:
                    k = int(blob[ids_at + t])
                    if k >= 0:
                        adj[k] += pe * ge


@numba.njit(cache=True, error_model="numpy")
def run_block(blob, record, adj):
    """Add the block's contributions to ``adj``; return its first id."""
    kind = blob[record]
    if kind == _ELEMENTWISE:
        r = int(blob[record + 1])
        c = int(blob[record + 2])
        z0 = int(blob[record + 3])
        g = adj[z0:z0 + r * c]
        for s in range(int(blob[record + 4])):
            _run_slot(blob, record + _EW_HEAD + _EW_SLOT * s, r, c, g, adj)
        return z0
    if kind == _SUM:
        size = int(blob[record + 1])
        c0 = int(blob[record + 2])
        first = int(blob[record + 3])
        g = adj[c0]
        if g != 0.0:
            _scatter_add(adj, blob, first, record + 4, np.full(size, g))
        return c0
    m = int(blob[record + 1])
    k = int(blob[record + 2])
    n = int(blob[record + 3])
    c0 = int(blob[record + 4])
    fa = int(blob[record + 5])
    fb = int(blob[record + 6])
    dc = adj[c0:c0 + m * n].reshape((m, n))
    a_values = record + 7
    a_ids = a_values + (m * k if fb != _NO_IDS else 0)
    b_values = a_ids + (m * k if fa == _SCATTERED else 0)
    b_ids = b_values + (k * n if fa != _NO_IDS else 0)
    if fa != _NO_IDS:
        bv = blob[b_values:b_values + k * n].reshape((k, n))
        _scatter_add(adj, blob, fa, a_ids, np.dot(dc, bv.T).reshape(m * k))
    if fb != _NO_IDS:
        av = blob[a_values:a_values + m * k].reshape((m, k))
        _scatter_add(adj, blob, fb, b_ids, np.dot(av.T, dc).reshape(k * n))
    return c0


# ---------------------------------------------------------------------------
# The backward sweep of reverse mode (here, in the file of run_block, so that
# Numba's cache, checked against this file only, never keeps a stale run_block)
# ---------------------------------------------------------------------------

@numba.njit(cache=True, error_model="numpy", fastmath={"contract"})
def backward(links, blob, count, n, out_ids, seeds):
    """Rows of ``seeds^T J``: one backward sweep per row of ``seeds`` (k, m).

    A zero local partial contributes nothing, so ``0 * inf`` at a kink never
    turns a zero derivative into nan (as in forward mode).  A zero adjoint
    meeting an infinite or nan partial gives nan: the adjoint may have been
    rounded to 0, and the caller then asks forward mode (NOT_FINITE).
    A node whose first parent is -2 ends a block (matmul, sum: see
    _tape_blocks), which is run as a whole.
    """
    partials = links.view(np.float64)
    k_rows = seeds.shape[0]
    out = np.empty((k_rows if k_rows > 1 else 0, n))
    adj = np.empty(count)
    for r in range(k_rows):
        adj[:] = 0.0
        for o in range(out_ids.shape[0]):
            if out_ids[o] >= 0:
                adj[out_ids[o]] += seeds[r, o]
        # ``extra``: what node k + 1 added to adj[k], kept in a register (the
        # parent is most often the node just before: 25% off a Rosenbrock sweep)
        extra = 0.0
        k = count - 1
        while k >= n:
            i = links[k, 0]
            j = links[k, 1]
            a = partials[k, 2]
            b = partials[k, 3]
            g = adj[k] + extra
            # The accumulator chain that preaccumulation leaves (node k - 1
            # with partial exactly 1, and one other parent, earlier): tested
            # at once, without a branch per condition, and with no ``continue``
            # (a path of its own would let LLVM take k - 1 from links[k, 0],
            # which turns the loop into a chain of dependent loads: 2.5x slower).
            if (i == k - 1) & (a == 1.0) & (j >= 0) & (j < k - 1) & (g != 0.0) & (b != 0.0):
                extra = g
                adj[j] += b * g
            elif i == -2:
                extra = 0.0
                adj[k] = g
                k = run_block(blob, j, adj)
            else:
                extra = 0.0
                if g != 0.0:
                    if a != 0.0:
                        if i == k - 1:
                            # ``=``, not ``+= (0.0)``: IEEE keeps the add of 0.0
                            # (for -0.0), which would lengthen the dependent chain
                            extra = g if a == 1.0 else a * g
                        else:
                            adj[i] += a * g
                    if j >= 0 and b != 0.0:
                        if j == k - 1:
                            extra += b * g
                        else:
                            adj[j] += b * g
                else:
                    # 0 * inf: the zero adjoint may be a rounded one (log' of
                    # an overflowed value, 1 / inf), where forward mode gives
                    # nan.  Say so: a nan gradient sends the call there.
                    if i >= 0 and a - a != 0.0:
                        adj[i] = math.nan
                    if j >= 0 and b - b != 0.0:
                        adj[j] = math.nan
            k -= 1
        if n > 0:
            adj[n - 1] += extra
        if k_rows == 1:  # a gradient: no copy
            return adj[:n].reshape((1, n))
        out[r, :] = adj[:n]
    return out
