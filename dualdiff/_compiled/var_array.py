"""The reverse-mode array ``VarArray`` in Numba.

:class:`VarArrayType` holds a float64 array of values, an int64 array of
tape node ids of the same shape and the tape address: indexing is lowered
directly (no reference counting per element; storing a Var writes its form
as a node, :func:`~dualdiff._compiled.tape.node_of`), rows and slices are
views, and ``len``, ``shape``, ``ndim``, ``size``, ``copy``, iteration and
``np.zeros_like``/``ones_like``/``empty_like`` work.  Array operations on it
are block nodes: :mod:`dualdiff._compiled.tape_blocks` and
:mod:`dualdiff._compiled.tape_elementwise`.
"""

import operator

import numpy as np

from .tape import VarType, TapeType, _REALS, _build_var, _is_tape, _tape_kind, as_var, node_of
from .compat import (
    AbstractTemplate, RefType, cgutils, infer_global, intrinsic, iternext_impl, lower_builtin,
    make_attribute_wrapper, models, overload, overload_attribute, overload_method,
    register_model, signature, types,
)

__all__ = ["VarArrayType", "wrap_var_array"]


# ===========================================================================
# VarArray: values + node ids, indexed without reference counting
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
