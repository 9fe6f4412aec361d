"""Dual arrays: the container user code indexes inside compiled code.

A ``DualArray`` of shape ``S`` with element type ``Dual[T, N]`` is stored as
one float64 array of shape ``S + (K,)``, where ``K`` is the number of floats
in one element (``N + 1`` for first order).  Each row holds the value, then
the partials; nested duals are flattened depth-first, so column 0 is always
the innermost primal.  DESIGN.md records why: this layout is 8x faster than a
list of structs and lets ``A @ x`` carry the value and every partial in one
BLAS call.

Supported here, inside compiled code: ``len``, integer, tuple and slice
indexing, item assignment (of duals or plain numbers), iteration, ``.shape``,
``.size``, ``.ndim``, ``.copy()``, and ``np.empty_like``/``np.zeros_like``/
``np.ones_like``.  Array programming (elementwise operators and ufuncs,
reductions, ``@``, reshaping, joining, masks) is registered by
:mod:`dualdiff._compiled.array_ops`, :mod:`~dualdiff._compiled.array_reduce`,
:mod:`~dualdiff._compiled.array_product` and :mod:`~dualdiff._compiled.array_shape`
(imported in order by the package's ``__init__``).
"""

import operator

import numpy as np

from .dual import DualType, _build_dual, is_lower, make_dual
from .compat import (
    AbstractTemplate, Conversion, RefType, cgutils, infer_global, intrinsic, iternext_impl,
    lower_builtin, lower_cast, make_attribute_wrapper, models, overload, overload_attribute,
    overload_method, register_jitable, register_model, signature, types,
)

__all__ = ["DualArrayType", "wrap_dual_array", "load_at", "store_at", "flat_store"]


class DualArrayType(types.IterableType):
    """Numba type of an array of duals: ``DualArray[dtype, ndim, layout]``."""

    # like a NumPy array: ``a += b`` updates a (and every view of it) in place
    mutable = True

    def __init__(self, dtype, ndim, layout="C"):
        self.dtype = dtype
        self.ndim = int(ndim)
        self.layout = layout
        super().__init__(name=f"DualArray[{dtype}, {self.ndim}d, {layout}]")

    @property
    def data_type(self):
        return types.Array(types.float64, self.ndim + 1, self.layout)

    @property
    def iterator_type(self):
        return DualArrayIteratorType(self)

    @property
    def width(self):
        return self.dtype.width

    def copy(self, ndim=None, layout=None):
        return DualArrayType(self.dtype, self.ndim if ndim is None else ndim,
                             self.layout if layout is None else layout)

    # A contiguous and a strided dual array of the same element type unify to
    # the strided one (``h = x; h = np.tanh(W @ h)`` keeps one type).
    def unify(self, typingctx, other):
        if isinstance(other, DualArrayType) and other.dtype == self.dtype \
                and other.ndim == self.ndim:
            return self if other.layout == self.layout else self.copy(layout="A")
        return None

    def can_convert_from(self, typingctx, other):
        if isinstance(other, DualArrayType) and other.dtype == self.dtype \
                and other.ndim == self.ndim and self.layout == "A":
            return Conversion.safe
        return None


@register_model(DualArrayType)
class _DualArrayModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, [("data", fe_type.data_type)])


make_attribute_wrapper(DualArrayType, "data", "data")


@lower_cast(DualArrayType, DualArrayType)
def _cast_layout(context, builder, fromty, toty, val):
    src = cgutils.create_struct_proxy(fromty)(context, builder, value=val)
    dst = cgutils.create_struct_proxy(toty)(context, builder)
    dst.data = context.cast(builder, src.data, fromty.data_type, toty.data_type)
    return dst._getvalue()


@intrinsic
def wrap_dual_array(typingctx, data, like):
    """View the float array ``data`` as duals of the element type of ``like``.

    ``like`` is a dual array (its dtype is reused) or a dual scalar.
    """
    if not isinstance(data, types.Array) or data.dtype != types.float64 or data.ndim < 2:
        return None
    if isinstance(like, DualArrayType):
        dtype = like.dtype
    elif isinstance(like, DualType):
        dtype = like
    elif isinstance(like, types.TypeRef) and isinstance(like.instance_type, DualType):
        dtype = like.instance_type
    else:
        return None
    result = DualArrayType(dtype, data.ndim - 1, data.layout)

    def codegen(context, builder, sig, args):
        s = cgutils.create_struct_proxy(result)(context, builder)
        s.data = args[0]
        context.nrt.incref(builder, sig.args[0], args[0])
        return s._getvalue()

    return result(data, like), codegen


# ---------------------------------------------------------------------------
# Element load and store, generated per element type and index arity
# ---------------------------------------------------------------------------
# The flat row of one element is [flat(value), flat(p_0), ..., flat(p_N-1)].
# Loads and stores index the float store directly (data[i, k]); going through
# a row view (data[i]) would build an array object per access, with reference
# counting, and cost several times the arithmetic.

def _load_expr(t, offset):
    if not isinstance(t, DualType):
        return f"row[{offset}]", offset + 1
    value, offset = _load_expr(t.base, offset)
    parts = []
    for _ in range(t.n):
        p, offset = _load_expr(t.base, offset)
        parts.append(p)
    return f"make_dual({value}, ({', '.join(parts)},), {t.tag})", offset


def _store_lines(t, expr, offset, lines):
    if not isinstance(t, DualType):
        lines.append(f"    row[{offset}] = {expr}")
        return offset + 1
    offset = _store_lines(t.base, f"{expr}.value", offset, lines)
    for k in range(t.n):
        offset = _store_lines(t.base, f"{expr}.partials[{k}]", offset, lines)
    return offset


_codegen_cache = {}


def _generated(kind, dtype):
    """``load(row)`` or ``store(row, v)`` for one element in a 1-D float row."""
    key = (kind, dtype)
    if key not in _codegen_cache:
        if kind == "load":
            expr, _ = _load_expr(dtype, 0)
            src = f"def load(row):\n    return {expr}\n"
        else:
            lines = []
            _store_lines(dtype, "v", 0, lines)
            src = "def store(row, v):\n" + "\n".join(lines) + "\n"
        namespace = {"make_dual": make_dual}
        exec(compile(src, f"<dualdiff {kind} {dtype}>", "exec"), namespace)
        _codegen_cache[key] = register_jitable(namespace[kind])
    return _codegen_cache[key]


def load_row(row, dtype_like):
    """The dual stored in the 1-D float ``row``."""
    raise NotImplementedError


def store_row(row, value):
    """Write ``value`` (a dual) into the 1-D float ``row``."""
    raise NotImplementedError


@overload(load_row)
def _load_row(row, dtype_like):
    dtype = dtype_like.dtype if isinstance(dtype_like, DualArrayType) else dtype_like
    load = _generated("load", dtype)
    return lambda row, dtype_like: load(row)


@overload(store_row)
def _store_row(row, value):
    if isinstance(value, DualType):
        store = _generated("store", value)
        return lambda row, value: store(row, value)


# ---------------------------------------------------------------------------
# Hot path: element access of 1-D dual arrays without reference counting
# ---------------------------------------------------------------------------
# Reading ``arr.data`` out of the struct takes a reference (incref/decref per
# access); Numba's pruning removes those only in small loops, and an atomic
# refcount per element made a 4-partial sweep 40x slower than the arithmetic.
# These intrinsics compute the element's address from the store's data pointer
# and strides directly.

def _element_pointers(context, builder, arr_type, arr_value, index, index_type):
    """Addresses of the ``width`` floats of element ``index`` (an intp, or a
    list of intp for a multi-dimensional element index)."""
    s = cgutils.create_struct_proxy(arr_type)(context, builder, value=arr_value)
    data_type = arr_type.data_type
    ary = context.make_array(data_type)(context, builder, value=s.data)
    shapes = cgutils.unpack_tuple(builder, ary.shape, data_type.ndim)
    strides = cgutils.unpack_tuple(builder, ary.strides, data_type.ndim)
    if isinstance(index, list):
        head = index
    else:
        head = [context.cast(builder, index, index_type, types.intp)]
    pointers = []
    for k in range(arr_type.width):
        inds = head + [context.get_constant(types.intp, k)]
        pointers.append(cgutils.get_item_pointer2(
            context, builder, data=ary.data, shape=shapes, strides=strides,
            layout=data_type.layout, inds=inds))
    return pointers


def _assemble(context, builder, t, values):
    if not isinstance(t, DualType):
        return next(values)
    value = _assemble(context, builder, t.base, values)
    parts = [_assemble(context, builder, t.base, values) for _ in range(t.n)]
    return _build_dual(context, builder, t, value, t.base, parts, [t.base] * t.n)


def _flatten(context, builder, t, value, out):
    if not isinstance(t, DualType):
        out.append(value)
        return
    s = cgutils.create_struct_proxy(t)(context, builder, value=value)
    _flatten(context, builder, t.base, s.value, out)
    partials = s.partials
    for k in range(t.n):
        _flatten(context, builder, t.base, builder.extract_value(partials, k), out)


def _checked_index(context, builder, arr_type, arr_value, index, index_type, axis=0):
    """Wrap a negative index and raise IndexError outside [0, shape[axis])."""
    s = cgutils.create_struct_proxy(arr_type)(context, builder, value=arr_value)
    ary = context.make_array(arr_type.data_type)(context, builder, value=s.data)
    n = cgutils.unpack_tuple(builder, ary.shape, arr_type.data_type.ndim)[axis]
    i = context.cast(builder, index, index_type, types.intp)
    zero = context.get_constant(types.intp, 0)
    i = builder.select(builder.icmp_signed("<", i, zero), builder.add(i, n), i)
    outside = builder.or_(builder.icmp_signed("<", i, zero), builder.icmp_signed(">=", i, n))
    with cgutils.if_unlikely(builder, outside):
        context.call_conv.return_user_exc(builder, IndexError,
                                          ("index out of range for dual array",))
    return i


def _checked_indices(context, builder, arr_type, arr_value, tup, tup_type):
    """``_checked_index`` for each integer of the index tuple ``tup``."""
    return [_checked_index(context, builder, arr_type, arr_value,
                           builder.extract_value(tup, axis), t, axis)
            for axis, t in enumerate(tup_type)]


def _is_vector(t):
    return isinstance(t, DualArrayType) and t.ndim == 1


@infer_global(operator.getitem)
class _VectorGetitem(AbstractTemplate):
    def generic(self, args, kws):
        if len(args) == 2 and _is_vector(args[0]) and isinstance(args[1], types.Integer):
            return signature(args[0].dtype, *args)


@lower_builtin(operator.getitem, DualArrayType, types.Integer)
def _vector_getitem(context, builder, sig, args):
    arr_type = sig.args[0]
    i = _checked_index(context, builder, arr_type, args[0], args[1], sig.args[1])
    pointers = _element_pointers(context, builder, arr_type, args[0], i, types.intp)
    values = iter([builder.load(p) for p in pointers])
    return _assemble(context, builder, arr_type.dtype, values)


@infer_global(operator.setitem)
class _VectorSetitem(AbstractTemplate):
    def generic(self, args, kws):
        if len(args) == 3 and _is_vector(args[0]) and isinstance(args[1], types.Integer):
            arr, _, value = args
            if value == arr.dtype or is_lower(value, arr.dtype):
                return signature(types.none, arr, args[1], arr.dtype)


@lower_builtin(operator.setitem, DualArrayType, types.Integer, types.Any)
def _vector_setitem(context, builder, sig, args):
    arr_type = sig.args[0]
    value = context.cast(builder, args[2], sig.args[2], arr_type.dtype)
    i = _checked_index(context, builder, arr_type, args[0], args[1], sig.args[1])
    pointers = _element_pointers(context, builder, arr_type, args[0], i, types.intp)
    flat = []
    _flatten(context, builder, arr_type.dtype, value, flat)
    for p, v in zip(pointers, flat):
        builder.store(v, p)
    return context.get_dummy_value()


def _is_element_index(arr, idx):
    """An index tuple of ``arr.ndim`` integers (one element)."""
    return isinstance(arr, DualArrayType) and isinstance(idx, types.BaseTuple) \
        and len(idx) == arr.ndim and all(isinstance(t, types.Integer) for t in idx)


@infer_global(operator.getitem)
class _ElementGetitem(AbstractTemplate):
    def generic(self, args, kws):
        if len(args) == 2 and _is_element_index(*args):
            return signature(args[0].dtype, *args)


@lower_builtin(operator.getitem, DualArrayType, types.BaseTuple)
def _element_getitem(context, builder, sig, args):
    arr_type = sig.args[0]
    inds = _checked_indices(context, builder, arr_type, args[0], args[1], sig.args[1])
    pointers = _element_pointers(context, builder, arr_type, args[0], inds, None)
    values = iter([builder.load(p) for p in pointers])
    return _assemble(context, builder, arr_type.dtype, values)


@infer_global(operator.setitem)
class _ElementSetitem(AbstractTemplate):
    def generic(self, args, kws):
        if len(args) == 3 and _is_element_index(args[0], args[1]):
            arr, _, value = args
            if value == arr.dtype or is_lower(value, arr.dtype):
                return signature(types.none, arr, args[1], arr.dtype)


@lower_builtin(operator.setitem, DualArrayType, types.BaseTuple, types.Any)
def _element_setitem(context, builder, sig, args):
    arr_type = sig.args[0]
    value = context.cast(builder, args[2], sig.args[2], arr_type.dtype)
    inds = _checked_indices(context, builder, arr_type, args[0], args[1], sig.args[1])
    pointers = _element_pointers(context, builder, arr_type, args[0], inds, None)
    flat = []
    _flatten(context, builder, arr_type.dtype, value, flat)
    for p, v in zip(pointers, flat):
        builder.store(v, p)
    return context.get_dummy_value()


# Unchecked element access for generated kernels, whose loop bounds come from
# the arrays' own shapes: no wrap-around, no IndexError branch (smaller IR,
# faster compiles and loops).  ``load_at(arr, i[, j])``,
# ``store_at(arr, value, i[, j])``; never for user code.

@intrinsic
def load_at(typingctx, arr, *index):
    if not isinstance(arr, DualArrayType) or len(index) != arr.ndim \
            or not all(isinstance(t, types.Integer) for t in index):
        return None

    def codegen(context, builder, sig, args):
        inds = [context.cast(builder, v, t, types.intp)
                for v, t in zip(cgutils.unpack_tuple(builder, args[1]), sig.args[1])]
        pointers = _element_pointers(context, builder, arr, args[0], inds, None)
        return _assemble(context, builder, arr.dtype, iter([builder.load(p) for p in pointers]))

    return signature(arr.dtype, arr, types.StarArgTuple(index)), codegen


@intrinsic
def store_at(typingctx, arr, value, *index):
    if not isinstance(arr, DualArrayType) or len(index) != arr.ndim \
            or not all(isinstance(t, types.Integer) for t in index):
        return None
    if not (value == arr.dtype or is_lower(value, arr.dtype)):
        return None

    def codegen(context, builder, sig, args):
        v = context.cast(builder, args[1], sig.args[1], arr.dtype)
        inds = [context.cast(builder, w, t, types.intp)
                for w, t in zip(cgutils.unpack_tuple(builder, args[2]), sig.args[2])]
        pointers = _element_pointers(context, builder, arr, args[0], inds, None)
        flat = []
        _flatten(context, builder, arr.dtype, v, flat)
        for p, item in zip(pointers, flat):
            builder.store(item, p)
        return context.get_dummy_value()

    return signature(types.none, arr, value, types.StarArgTuple(index)), codegen


@intrinsic
def flat_store(typingctx, arr):
    """The float store of the C-contiguous dual array ``arr`` as one 1-D view.

    For generated kernels: ``arr.data.reshape(n)`` gives the same view through
    a library call that cost about 20 ns per operand, a third of a small
    kernel.
    """
    if not isinstance(arr, DualArrayType) or arr.layout != "C":
        return None
    data_type = arr.data_type
    result = types.Array(types.float64, 1, "C")

    def codegen(context, builder, sig, args):
        s = cgutils.create_struct_proxy(arr)(context, builder, value=args[0])
        src = context.make_array(data_type)(context, builder, value=s.data)
        dst = context.make_array(result)(context, builder)
        dst.meminfo = src.meminfo
        dst.parent = src.parent
        dst.nitems = src.nitems
        dst.itemsize = src.itemsize
        dst.data = src.data
        dst.shape = cgutils.pack_array(builder, [src.nitems])
        dst.strides = cgutils.pack_array(builder, [src.itemsize])
        view = dst._getvalue()
        context.nrt.incref(builder, result, view)
        return view

    return signature(result, arr), codegen


@infer_global(len)
class _DualArrayLen(AbstractTemplate):
    def generic(self, args, kws):
        if len(args) == 1 and isinstance(args[0], DualArrayType):
            return signature(types.intp, *args)


@lower_builtin(len, DualArrayType)
def _dual_array_len(context, builder, sig, args):
    arr_type = sig.args[0]
    s = cgutils.create_struct_proxy(arr_type)(context, builder, value=args[0])
    ary = context.make_array(arr_type.data_type)(context, builder, value=s.data)
    return cgutils.unpack_tuple(builder, ary.shape, arr_type.data_type.ndim)[0]


# ---------------------------------------------------------------------------
# Indexing
# ---------------------------------------------------------------------------

def _is_int(t):
    return isinstance(t, types.Integer)


@overload(operator.getitem)
def _getitem(arr, idx):
    if not isinstance(arr, DualArrayType):
        return None
    if _is_int(idx):
        if arr.ndim == 1:
            return None  # lowered directly (_vector_getitem)

        def impl(arr, idx):
            return wrap_dual_array(arr.data[_checked(arr, idx)], arr)
        return impl
    if isinstance(idx, types.SliceType):
        return lambda arr, idx: wrap_dual_array(arr.data[idx], arr)
    if isinstance(idx, types.BaseTuple) and 0 < len(idx) <= arr.ndim \
            and all(_is_int(t) or isinstance(t, types.SliceType) for t in idx):
        if len(idx) == arr.ndim and all(_is_int(t) for t in idx):
            return None  # one element: lowered directly (_element_getitem)
        # ints and slices: a view; the trailing axis of the store is kept
        return lambda arr, idx: wrap_dual_array(arr.data[idx], arr)
    return None


@overload(operator.setitem)
def _setitem(arr, idx, value):
    if not isinstance(arr, DualArrayType):
        return None
    if _is_element_index(arr, idx):
        return None  # lowered directly (_element_setitem)
    if _is_int(idx) and arr.ndim == 1:
        return None  # lowered directly (_vector_setitem)
    if isinstance(idx, types.SliceType) and arr.ndim == 1:
        if isinstance(value, DualArrayType) and value.dtype == arr.dtype:
            def impl(arr, idx, value):
                arr.data[idx] = value.data
            return impl
        if isinstance(value, (types.Number, DualType)):
            def impl(arr, idx, value):
                view = wrap_dual_array(arr.data[idx], arr)
                for i in range(len(view)):
                    view[i] = value
            return impl
    return None


def _checked(arr, i):
    raise NotImplementedError


@overload(_checked)
def _checked_impl(arr, i):
    def impl(arr, i):
        n = len(arr)
        j = i + n if i < 0 else i
        if j < 0 or j >= n:
            raise IndexError("index out of range for dual array")
        return j
    return impl


@overload_attribute(DualArrayType, "shape")
def _shape(arr):
    nd = arr.ndim
    return lambda arr: arr.data.shape[:nd]


@overload_attribute(DualArrayType, "ndim")
def _ndim(arr):
    nd = arr.ndim
    return lambda arr: nd


@overload_attribute(DualArrayType, "size")
def _size(arr):
    def impl(arr):
        return arr.data.size // arr.data.shape[-1]
    return impl


@overload_method(DualArrayType, "copy")
def _copy(arr):
    return lambda arr: wrap_dual_array(arr.data.copy(), arr)


# ---------------------------------------------------------------------------
# Allocation shaped like a dual array
# ---------------------------------------------------------------------------

@overload(np.empty_like)
def _empty_like(arr, dtype=None):
    if isinstance(arr, DualArrayType):
        return lambda arr, dtype=None: wrap_dual_array(np.empty_like(arr.data), arr)


@overload(np.zeros_like)
def _zeros_like(arr, dtype=None):
    if isinstance(arr, DualArrayType):
        return lambda arr, dtype=None: wrap_dual_array(np.zeros_like(arr.data), arr)


@overload(np.ones_like)
def _ones_like(arr, dtype=None):
    if isinstance(arr, DualArrayType):
        def impl(arr, dtype=None):
            data = np.zeros_like(arr.data)
            data[..., 0] = 1.0
            return wrap_dual_array(data, arr)
        return impl


# ---------------------------------------------------------------------------
# Iteration: ``for xi in x``
# ---------------------------------------------------------------------------

class DualArrayIteratorType(types.SimpleIteratorType):
    def __init__(self, array_type):
        self.array_type = array_type
        if array_type.ndim == 1:
            yield_type = array_type.dtype
        else:
            yield_type = array_type.copy(ndim=array_type.ndim - 1, layout="A")
        super().__init__(f"iter({array_type})", yield_type)


@register_model(DualArrayIteratorType)
class _DualArrayIteratorModel(models.StructModel):
    def __init__(self, dmm, fe_type):
        members = [("index", types.EphemeralPointer(types.intp)),
                   ("array", fe_type.array_type)]
        super().__init__(dmm, fe_type, members)


@lower_builtin("getiter", DualArrayType)
def _getiter(context, builder, sig, args):
    it = context.make_helper(builder, sig.return_type)
    it.index = cgutils.alloca_once_value(builder, context.get_constant(types.intp, 0))
    it.array = args[0]
    context.nrt.incref(builder, sig.args[0], args[0])
    return it._getvalue()


def _item(arr, i):
    return arr[i]


@lower_builtin("iternext", DualArrayIteratorType)
@iternext_impl(RefType.NEW)
def _iternext(context, builder, sig, args, result):
    it_type = sig.args[0]
    it = context.make_helper(builder, it_type, value=args[0])
    arr_type = it_type.array_type
    length = _dual_array_len(context, builder, types.intp(arr_type), [it.array])
    index = builder.load(it.index)
    is_valid = builder.icmp_signed("<", index, length)
    result.set_valid(is_valid)
    with builder.if_then(is_valid):
        item_sig = it_type.yield_type(arr_type, types.intp)
        value = context.compile_internal(builder, _item, item_sig, [it.array, index])
        result.yield_(value)
        builder.store(builder.add(index, context.get_constant(types.intp, 1)), it.index)
