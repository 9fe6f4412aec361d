"""Elementwise operations on ``VarArray`` for reverse mode, as block nodes.

Elementwise arithmetic and the rule-table functions (``+ - * / **``,
``np.maximum``, ``np.tanh``, ``np.exp`` ...), the in-place operators and
negation, each recorded as ONE block node (see
:mod:`dualdiff._compiled.tape_blocks`): the record holds the local partials
(one number when the partial is the same for every element, as for
``x + y`` or ``2.0 * x``); broadcasting covers numbers, Var scalars, arrays
of the same shape, rows and columns of 2-D arrays.  The block is run
backwards by :func:`dualdiff._compiled.backward.run_block`.  ``tanh`` has a
vectorised kernel of its own (:func:`_k_tanh`).
"""

import math
import operator

import numpy as np

from .. import rules
from . import registrar
from .backward import _ELEMENTWISE, _EW_HEAD, _EW_SLOT, _NO_IDS, _SCATTERED
from .tape_blocks import (
    _blob, _blob_alloc, _id_layout, _involves_var_array, _jitable, _out_ndim, _reserve,
    _result_ids, _settled, _shape2, _tape_of, _val, _write_ids,
)
from .var_array import VarArrayType, wrap_var_array
from .compat import TypingError, intrinsic, ir, overload, types

__all__ = []


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

# (_EW_HEAD, _EW_SLOT: the words of the header and of a slot, in backward.py)


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
        return x * x, x + x, rules.power_d_exponent(x * x, x, y)
    z = x ** y
    return z, rules.power_d_base(x, y), rules.power_d_exponent(z, x, y)


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

