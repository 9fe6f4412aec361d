"""Allocating arrays that may hold dual numbers, in code that stays plain NumPy.

Inside a function that dualdiff compiles, ``out = np.zeros(n); out[i] = y``
cannot hold the dual number ``y``.  :func:`zeros` and :func:`empty` take a
``like`` argument and return a float array when ``like`` is a float (array)
and a dual array when it is a dual (array), both in plain Python and inside
Numba-compiled code, so the same function runs on floats, with and without
dualdiff::

    from dualdiff.arrays import zeros

    def f(x):
        out = zeros(len(x), x)      # np.zeros(len(x)) when x holds floats
        for i in range(len(x)):
            out[i] = x[i] ** 2
        return out

:func:`explain_compile_failure` turns the Numba error of the two most common
mistakes with dual arrays into a one-line hint.
"""

import math
import re

import numpy as np

from ._compiled.array import DualArrayType, wrap_dual_array
from ._compiled.dual import DualType
from ._compiled.tape import VarType
from ._compiled.var_array import VarArrayType, wrap_var_array
from ._compiled.compat import overload, types
from .numbers.dual import Dual, DualObjectArray

__all__ = ["zeros", "empty", "scratch_array", "scratch_like", "explain_compile_failure"]


# ---------------------------------------------------------------------------
# Python side
# ---------------------------------------------------------------------------

def _check_shape(shape):
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    elif isinstance(shape, tuple) and all(isinstance(s, (int, np.integer))
                                          and not isinstance(s, bool) for s in shape):
        shape = tuple(int(s) for s in shape)
    else:
        raise TypeError(f"shape must be an int or a tuple of ints, got {shape!r}")
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must not be negative, got {shape}")
    return shape


def _zero_dual(d):
    """A zero with the structure (nesting, partial count, tag) of ``d``."""
    if not isinstance(d, Dual):
        return 0.0
    if d.partials.dtype == object:
        parts = np.empty(len(d.partials), dtype=object)
        parts[:] = [_zero_dual(p) for p in d.partials]
    else:
        parts = np.zeros(len(d.partials))
    return Dual._make(_zero_dual(d.value), parts, d.tag)


def _template(like):
    """The element to copy the structure of, or None for plain floats."""
    if isinstance(like, Dual):
        return like
    if isinstance(like, np.ndarray) and like.dtype == object:
        for item in like.flat:
            if isinstance(item, Dual):
                return item
        return None
    if isinstance(like, np.ndarray) and like.dtype.kind in "fiub":
        return None
    if isinstance(like, (float, int, np.floating, np.integer)) and not isinstance(like, bool):
        return None
    raise TypeError("like must be a number, a dual number or an array of either, got "
                    f"{type(like).__name__}")


def zeros(shape, like):
    """An array of zeros that can hold the kind of numbers ``like`` holds.

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the new array.
    like : float, ndarray, Dual or array of Dual
        Decides the element type: plain floats give ``np.zeros(shape)``; a
        dual number or an array of duals (as dualdiff passes to the function
        being differentiated) gives zero duals of the same kind.

    Returns
    -------
    ndarray
        A float64 array, or (inside compiled code) a dual array; on dualdiff's
        Python path an object array of duals.

    Examples
    --------
    >>> import numpy as np, dualdiff as dd
    >>> from dualdiff.arrays import zeros
    >>> zeros(3, np.ones(2))
    array([0., 0., 0.])
    >>> def squares(x):
    ...     out = zeros(len(x), x)
    ...     for i in range(len(x)):
    ...         out[i] = x[i] ** 2
    ...     return out
    >>> dd.jacobian(squares, np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]])
    """
    shape = _check_shape(shape)
    template = _template(like)
    if template is None and not (isinstance(like, np.ndarray) and like.dtype == object):
        return np.zeros(shape)
    out = np.empty(shape, dtype=object)
    zero = _zero_dual(template)
    for index in np.ndindex(*shape):
        out[index] = zero
    return out.view(DualObjectArray)


def empty(shape, like):
    """An uninitialised array that can hold the kind of numbers ``like`` holds.

    As :func:`zeros`, but the contents are arbitrary (on the Python path they
    are zeros: object arrays have no uninitialised state).

    Parameters
    ----------
    shape : int or tuple of int
        Shape of the new array.
    like : float, ndarray, Dual or array of Dual
        Decides the element type, as for :func:`zeros`.

    Returns
    -------
    ndarray
        A float64 array, or (inside compiled code) a dual array.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.arrays import empty
    >>> empty((2, 3), 1.0).shape
    (2, 3)
    """
    shape = _check_shape(shape)
    if _template(like) is None and not (isinstance(like, np.ndarray) and like.dtype == object):
        return np.empty(shape)
    return zeros(shape, like)


# ---------------------------------------------------------------------------
# Compiled side
# ---------------------------------------------------------------------------

def _store_shape(shape, width):
    """Source of the shape tuple, with ``width`` appended if not None."""
    tail = [] if width is None else [str(width)]
    if isinstance(shape, types.Integer):
        return f"({', '.join(['shape'] + tail)},)"
    if isinstance(shape, types.BaseTuple) and all(isinstance(t, types.Integer) for t in shape):
        items = [f"shape[{i}]" for i in range(len(shape))] + tail
        return f"({', '.join(items)},)"
    return None


def _allocator(fill):
    def typer(shape, like):
        if isinstance(like, (VarArrayType, VarType)):  # reverse mode: constant Vars
            store = _store_shape(shape, None)
            if store is None:
                return None
            ns = {"np": np, "wrap_var_array": wrap_var_array}
            exec(f"def impl(shape, like):\n    return wrap_var_array(np.zeros({store}), "
                 f"np.full({store}, -1, np.int64), like.tape)\n", ns)
            return ns["impl"]
        dual = isinstance(like, (DualArrayType, DualType))
        plain = isinstance(like, (types.Float, types.Integer)) or (
            isinstance(like, types.Array) and isinstance(like.dtype, (types.Float, types.Integer)))
        if not (dual or plain):
            return None
        store = _store_shape(shape, like.width if dual else None)
        if store is None:
            return None
        body = f"wrap_dual_array(np.{fill}({store}), like)" if dual else f"np.{fill}({store})"
        ns = {"np": np, "wrap_dual_array": wrap_dual_array}
        exec(f"def impl(shape, like):\n    return {body}\n", ns)
        return ns["impl"]
    return typer


overload(zeros)(_allocator("zeros"))
overload(empty)(_allocator("empty"))


# ---------------------------------------------------------------------------
# Scratch arrays: np.empty(n) and friends inside a differentiated function
# ---------------------------------------------------------------------------
# dualdiff rewrites ``np.empty(shape)`` (no dtype) in a function that cannot
# compile for dual numbers as ``scratch_array(shape, fill, anchors)``, where
# ``anchors`` is the tuple of that function's own parameters: the array then
# holds the widest kind of number among them (floats when none is a dual or a
# tape variable), decided when Numba types the call.  See _engine/scratch.py.


def scratch_array(shape, fill, anchors):
    """A scratch array of ``shape`` filled with ``fill`` (None: uninitialised)
    that can hold the numbers of ``anchors`` (a tuple of the calling
    function's parameters).  Python side: an object array of zero duals when
    an anchor holds Python duals, else ``np.full``/``np.empty``.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.arrays import scratch_array
    >>> scratch_array((2,), 1.5, (np.ones(3),))
    array([1.5, 1.5])
    """
    for anchor in _flat(anchors):
        if _template(anchor) is not None:
            out = zeros(shape, anchor)
            if fill is not None:
                out[...] = fill
            return out
    return np.empty(shape) if fill is None else np.full(shape, float(fill))


def scratch_like(prototype, fill, anchors):
    """As :func:`scratch_array` with the shape of ``prototype``; an integer or
    boolean prototype keeps its dtype (``np.zeros_like(indices)``).

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.arrays import scratch_like
    >>> scratch_like(np.arange(3), 0, (1.0,))
    array([0, 0, 0])
    """
    if isinstance(prototype, np.ndarray) and prototype.dtype.kind in "iub":
        return np.full_like(prototype, 0 if fill is None else fill)
    return scratch_array(np.shape(prototype), fill, anchors)


def _flat(anchors):
    for a in anchors:
        if isinstance(a, tuple):
            yield from _flat(a)
        elif isinstance(a, (Dual, np.ndarray, float, int, np.floating, np.integer)):
            yield a


def _widest(anchors, path=()):
    """``(path, type)`` of the anchor whose numbers are the widest kind (a tape
    variable, else the most deeply nested dual), or None for plain floats."""
    best = None
    for i, t in enumerate(anchors):
        if isinstance(t, types.BaseTuple):
            found = _widest(t, path + (i,))
        elif isinstance(t, (VarArrayType, VarType)):
            found = (path + (i,), t)
        elif isinstance(t, DualArrayType):
            found = (path + (i,), t.dtype)
        elif isinstance(t, DualType):
            found = (path + (i,), t)
        else:
            found = None
        if found is None:
            continue
        if isinstance(found[1], (VarArrayType, VarType)):
            return found
        if best is None or best[1].width < found[1].width:
            best = found
    return best


@overload(scratch_array)
def _scratch_array(shape, fill, anchors):
    store = _store_shape(shape, None)
    constant = isinstance(fill, (types.NoneType, types.Float, types.Integer, types.Boolean))
    if store is None or not constant:
        return None  # a dual fill value: not rewritten's business (the error says why)
    widest = _widest(anchors)
    fill_value = "0.0" if isinstance(fill, types.NoneType) else "float(fill)"
    if widest is None:
        body = ("np.empty(shape)" if isinstance(fill, types.NoneType)
                else f"np.full({store}, {fill_value})")
        ns = {"np": np}
        exec(f"def impl(shape, fill, anchors):\n    return {body}\n", ns)
        return ns["impl"]
    like = "anchors" + "".join(f"[{i}]" for i in widest[0])
    if isinstance(widest[1], (VarArrayType, VarType)):  # constants on the anchor's tape
        lines = (f"return wrap_var_array(np.full({store}, {fill_value}), "
                 f"np.full({store}, -1, np.int64), {like}.tape)")
    else:  # the primal value leads every dual's block of floats, at any nesting
        width = widest[1].width
        lines = (f"data = np.zeros({_store_shape(shape, width)})\n"
                 f"    data.reshape((-1, {width}))[:, 0] = {fill_value}\n"
                 f"    return wrap_dual_array(data, {like})")
    ns = {"np": np, "wrap_var_array": wrap_var_array, "wrap_dual_array": wrap_dual_array}
    exec(f"def impl(shape, fill, anchors):\n    {lines}\n", ns)
    return ns["impl"]


# ---------------------------------------------------------------------------
# Explaining compile failures
# ---------------------------------------------------------------------------

_SUPPORTED = ("elementwise arithmetic and ufuncs, sum/prod/mean/max/min/cumsum, "
              "dot/@, norm, reshape/T/ravel/concatenate/stack, np.where")

_HINTS = {
    "np.linalg.solve": "for a constant float matrix use np.linalg.inv(A) @ x (float @ dual is "
                       "supported), or write the solve as loops over x[i]",
    "np.linalg.inv": "invert the float matrix outside the differentiated code, or write the "
                     "solve as loops over x[i]",
    "np.std": "use np.sqrt(np.mean((x - np.mean(x)) ** 2))",
    "np.var": "use np.mean((x - np.mean(x)) ** 2)",
    "np.outer": "use x.reshape((-1, 1)) * y.reshape((1, -1))",
}

_SETITEM = re.compile(r"setitem\(\s*(?:readonly )?array\((\w+), (\d)d, \w+\), [^\n]*Dual\[")
_CALL = re.compile(r"No implementation of function Function\((?:<function (\w+) at [^>]*>|"
                   r"<ufunc '(\w+)'>|<built-in function (\w+)>)\) found for signature:\s*"
                   r">>> [^\n]*(?:DualArray|Dual)\[")
_ATTR = re.compile(r"Unknown attribute '(\w+)' of type DualArray\[")

_MODULES = (("np", np), ("np.linalg", np.linalg), ("np.fft", np.fft), ("np.random", np.random))


def _qualified(name, builtin=False):
    """The spelling of a function Numba names only by ``name``: a built-in
    one (``<built-in function gamma>``) is looked for in ``math`` first."""
    modules = (("math", math),) + _MODULES if builtin else _MODULES
    for prefix, module in modules:
        if callable(getattr(module, name, None)):
            return f"{prefix}.{name}"
    return name


def explain_compile_failure(exc):
    """A one-line hint for a Numba error caused by dual arrays, or None.

    Recognises (a) storing a dual number into a float array (``out =
    np.zeros(n); out[i] = ...``) and (b) a NumPy function or array method that
    dual arrays do not support inside compiled code.

    Parameters
    ----------
    exc : BaseException or str
        The exception raised when compiling (or its message).

    Returns
    -------
    str or None
        The hint, or None when the error is not one of these.

    Examples
    --------
    >>> from dualdiff.arrays import explain_compile_failure
    >>> msg = ("No implementation of function Function(<built-in function setitem>) "
    ...        "found for signature:\\n >>> setitem(array(float64, 1d, C), int64, "
    ...        "Dual[float64, 4])")
    >>> explain_compile_failure(msg).split(";")[0]
    'a dual number cannot be stored into a float array (array(float64, 1d) from np.zeros/np.empty with an explicit dtype, or made where dualdiff cannot rewrite it: a lambda, or code without source)'
    >>> explain_compile_failure("some other error") is None
    True
    """
    text = str(exc)
    m = _SETITEM.search(text)
    if m:
        return (f"a dual number cannot be stored into a float array (array({m.group(1)}, "
                f"{m.group(2)}d) from np.zeros/np.empty with an explicit dtype, or made "
                "where dualdiff cannot rewrite it: a lambda, or code without source); drop "
                "the dtype (np.zeros(n) then holds what f is called with) or allocate it "
                "with dualdiff.arrays.zeros(shape, like=x)")
    m = _CALL.search(text)
    if m:
        name = next(g for g in m.groups() if g)
        if name in ("setitem", "getitem"):
            return (f"this {name} on a dual array is not supported inside compiled code; "
                    "index with integers, slices, a boolean mask or an integer array")
        qualified = _qualified(name, builtin=m.group(3) is not None)
        if qualified.startswith("math."):
            return (f"{qualified} has no derivative rule in dualdiff (the rules are listed "
                    "in the README); write it with functions that have one")
        hint = _HINTS.get(qualified, f"supported are {_SUPPORTED}; or write this step as "
                                     "loops over x[i]")
        return f"{qualified} is not supported on dual arrays inside compiled code; {hint}"
    m = _ATTR.search(text)
    if m:
        name = m.group(1)
        hint = _HINTS.get(f"np.{name}", f"supported are {_SUPPORTED}")
        return f"the array attribute/method .{name} is not supported on dual arrays " \
               f"inside compiled code; {hint}"
    return None


@overload(scratch_like)
def _scratch_like(prototype, fill, anchors):
    if isinstance(prototype, types.Array) and isinstance(prototype.dtype,
                                                         (types.Integer, types.Boolean)):
        if isinstance(fill, types.NoneType):
            return lambda prototype, fill, anchors: np.zeros_like(prototype)
        return lambda prototype, fill, anchors: np.full_like(prototype, fill)
    if isinstance(prototype, (types.Array, DualArrayType, VarArrayType)):
        return lambda prototype, fill, anchors: scratch_array(prototype.shape, fill, anchors)
    return None
