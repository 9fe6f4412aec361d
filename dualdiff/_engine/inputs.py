"""Checks and conversions of what users pass to the operators: the function,
the mode, ``x`` (a number, a vector, or a tuple of parameter arrays),
``args``.  Pure Python; imports only the Python-side numbers.
"""

import functools
import math
import weakref

import numpy as np

from ..numbers.dual import Dual

__all__ = ["MODES", "check_callable", "check_mode", "check_args", "as_vector", "as_scalar",
           "is_nested", "holds_duals", "is_structured", "flatten_params", "unflatten",
           "scalar_value", "FLOAT64", "curry", "moved_argument", "ARGNUM_WITH_X", "flatten_pair"]


MODES = ("auto", "forward", "reverse")

ARGNUM_WITH_X = ("argnum applies when x is omitted (the returned function takes all of f's "
                 "arguments); with x given, put x first in f's signature or pass args=")


def check_callable(f):
    if not callable(f):
        raise TypeError(f"f must be a callable, got {type(f).__name__}")


def check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")


def contains_duals(a):
    return a.dtype == object and a.size > 0 and any(isinstance(v, Dual) for v in a.ravel())


def as_vector(x, what="x", copy=True):
    """A fresh float64 1-D copy of x, or an object array if x holds duals
    (``copy=False``: x itself if it is a C-contiguous float64 vector)."""
    if type(x) is np.ndarray and x.dtype == np.float64 and x.ndim == 1 and x.size:
        if copy or not x.flags.c_contiguous:  # the common case, checked cheaply
            return x.copy()
        return x
    if isinstance(x, (str, bytes)):
        raise TypeError(f"{what} must be an array of real numbers, got a string")
    try:
        a = np.array(x, copy=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be an array of real numbers: {exc}") from None
    if a.dtype == object:
        if contains_duals(a) and a.ndim == 1:
            return a
        raise TypeError(f"{what} must be an array of real numbers, got an object array")
    if a.dtype.kind == "c":
        raise TypeError(f"{what} must be real; got a complex array (dtype {a.dtype})")
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be an array of real numbers, got dtype {a.dtype}")
    if a.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array, got shape {a.shape}; "
                         "flatten it (x.ravel()) and reshape inside f")
    if a.size == 0:
        raise ValueError(f"{what} must have at least one element")
    return a.astype(np.float64)


def as_scalar(x, what="x"):
    if isinstance(x, Dual):
        return x
    if isinstance(x, np.ndarray) and x.ndim == 0:
        x = x[()]
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a real number, got {type(x).__name__}"
                        + ("; use gradient/jacobian for arrays" if np.ndim(x) > 0 else ""))
    return float(x)


def check_args(args):
    if not isinstance(args, tuple):
        raise TypeError(f"args must be a tuple of extra arguments, got {type(args).__name__}")


def is_nested(x):
    return isinstance(x, Dual) or (isinstance(x, np.ndarray) and x.dtype == object)


def holds_duals(f, args):
    """True when f closes over, or is given, Python duals: we are inside an
    outer differentiation running on the Python path, so stay on it."""
    cells = getattr(getattr(f, "py_func", f), "__closure__", None) or ()
    if not cells and not args:
        return False
    values = []
    for cell in cells:
        try:
            values.append(cell.cell_contents)
        except ValueError:
            pass
    return any(is_nested(v) for v in values + list(args) if isinstance(v, (Dual, np.ndarray)))


def is_structured(x):
    """A tuple holding at least one array: parameters like (W1, b1, W2, b2)."""
    return isinstance(x, tuple) and any(isinstance(p, (np.ndarray, list)) for p in x)


FLOAT64 = np.dtype(np.float64)


def flatten_params(x):
    """(flat float64 vector, layout: tuple of shapes) of structured parameters."""
    if len(x) == 0:
        raise ValueError("x must hold at least one parameter")
    parts, layout = [], []
    for p in x:  # the common case, checked cheaply: non-empty float64 arrays
        if type(p) is not np.ndarray or p.dtype != FLOAT64 or not p.size or not p.ndim:
            break
        parts.append(p.ravel())
        layout.append(p.shape)
    else:
        return np.concatenate(parts), tuple(layout)
    parts, layout = [], []
    for k, p in enumerate(x):
        if isinstance(p, Dual):
            raise TypeError("structured parameters must be real arrays or numbers, "
                            f"element {k} is a dual number")
        a = as_vector(np.ravel(p), f"x[{k}]") if np.ndim(p) else \
            np.array([as_scalar(p, f"x[{k}]")])
        parts.append(a)
        layout.append(np.shape(p))
    return np.concatenate(parts), tuple(layout)


def flatten_pair(x, v, what="v"):
    """``(flat x, flat v, layout)`` of structured parameters ``x`` and a
    direction ``v`` shaped like them (a tuple of arrays of the same shapes)."""
    flat, layout = flatten_params(x)
    if not is_structured(v) or len(v) != len(x):
        raise TypeError(f"{what} must be a tuple of arrays shaped like the parameters x")
    v_flat, v_layout = flatten_params(v)
    if v_layout != layout:
        raise ValueError(f"{what} must have the shapes of x {layout}, got {v_layout}")
    return flat, v_flat, layout


def unflatten(flat, layout):
    out, offset = [], 0
    for shape in layout:
        size = math.prod(shape)  # of ints: np.prod costs ~2 us a call
        piece = flat[..., offset:offset + size]
        if shape == () and piece.ndim == 1:
            v = piece[0]
            out.append(float(v) if isinstance(v, (float, np.floating)) else v)
        else:
            out.append(piece.reshape(piece.shape[:-1] + shape))
        offset += size
    return tuple(out)


def scalar_value(values, shape):
    if shape != ():
        return values.reshape(shape)
    v = values[0]
    return float(v) if isinstance(v, (np.floating, float)) else v


def curry(operator, f, args, argnum=0, **options):
    """``operator`` of f as a function of ``(x, *args)`` (SciPy's convention),
    with ``args`` as the default extra arguments; with ``argnum=k``, of f's
    argument k (``jac(t, y)`` for ``solve_ivp`` is ``dd.jacobian(rhs, argnum=1)``)."""
    check_callable(f)
    check_args(args)
    if isinstance(argnum, bool) or not isinstance(argnum, (int, np.integer)) or argnum < 0:
        raise ValueError(f"argnum must be a non-negative int, got {argnum!r}")
    argnum = int(argnum)

    if argnum == 0:
        @functools.wraps(f)
        def curried(x, *call_args):
            return operator(f, x, args=call_args if call_args else args, **options)
    else:
        if args:
            raise ValueError("argnum and args cannot be combined: call the result with all "
                             "of f's arguments")

        @functools.wraps(f)
        def curried(*call_args):
            if len(call_args) <= argnum:
                raise TypeError(f"{curried.__name__} needs at least {argnum + 1} arguments "
                                f"(argument {argnum} is differentiated), got {len(call_args)}")
            others = call_args[:argnum] + call_args[argnum + 1:]
            return operator(moved_argument(f, argnum, len(others)), call_args[argnum],
                            args=others, **options)

    curried.__name__ = f"{operator.__name__}_of_{getattr(f, '__name__', 'f')}"
    curried.__qualname__ = curried.__name__
    call = "(x, *args)" if argnum == 0 else f"f's arguments (argument {argnum} varies)"
    curried.__doc__ = f"{operator.__name__} of {getattr(f, '__name__', 'f')}; call as {call}."
    return curried


_MOVED = weakref.WeakKeyDictionary()


def moved_argument(f, argnum, n_others):
    """``g(x, *others) = f(*others[:argnum], x, *others[argnum:])``, one
    function per (f, argnum, count), so its compiled code is kept.  f is a
    global of g: dualdiff compiles it along with g and watches it."""
    try:
        table = _MOVED.setdefault(f, {})
    except TypeError:  # not weak-referenceable
        table = {}
    key = (argnum, n_others)
    if key not in table:
        others = [f"a{i}" for i in range(n_others)]
        call = ", ".join(others[:argnum] + ["x"] + others[argnum:])
        base = str(getattr(f, "__name__", "f"))
        name = f"{base if base.isidentifier() else 'f'}_of_argument_{argnum}"
        namespace = {"f": f, "__name__": getattr(f, "__module__", None) or "__main__"}
        exec(f"def {name}({', '.join(['x'] + others)}):\n    return f({call})\n", namespace)
        table[key] = namespace[name]
    return table[key]
