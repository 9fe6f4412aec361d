"""Function forms Numba does not take as they are: defaults, keyword-only
parameters, ``functools.partial``, bound methods and callable objects.

* **Defaults.** ``dispatcher.compile(signature)`` needs a type for every
  parameter; :func:`with_defaults` completes a signature with Numba's
  ``Omitted(default)`` types, as Numba does itself for a call from compiled
  code that leaves them out.
* **Keyword-only parameters** (``def f(x, *, scale=2.0)``) are not supported
  by Numba; :func:`positional_kwonly` makes them ordinary parameters with the
  same defaults (a call by keyword still works).
* **Partials, bound methods, callable objects** become a plain function
  (:class:`Form`) whose closure holds what they bind: the partial's
  arguments, or a read-only view of the object's attributes (a named tuple,
  which compiled code reads as ``self.w``; a method that calls another
  method of self does not compile and takes the Python path).  The values
  are frozen into the compiled code like any closure, so :mod:`.frozen`
  notices when they change, and it watches the object's attributes too
  (``model.w = 3.0``).
"""

import collections
import functools
import inspect
import types as pytypes

from .._compiled.compat import types
from .fallback import _names_used

__all__ = ["with_defaults", "positional_kwonly", "as_form", "Form"]

_VARARGS = inspect.CO_VARARGS
_VARKEYWORDS = inspect.CO_VARKEYWORDS


def with_defaults(py_func, signature):
    """``signature`` (a tuple of Numba types) completed with ``Omitted``
    types for the trailing parameters of ``py_func`` that have defaults."""
    code = getattr(py_func, "__code__", None)
    if code is None or code.co_flags & _VARARGS:
        return signature
    missing = code.co_argcount - len(signature)
    defaults = py_func.__defaults__ or ()
    if missing <= 0 or missing > len(defaults):
        return signature  # Numba's own error says what is wrong
    return tuple(signature) + tuple(types.Omitted(d) for d in defaults[-missing:])


def positional_kwonly(fn):
    """``fn`` with its keyword-only parameters made positional-or-keyword
    (each keeps its default), or None when it has none or one has no
    default (or fn takes ``*args``, whose slot would move)."""
    if not isinstance(fn, pytypes.FunctionType):
        return None
    code = fn.__code__
    if code.co_kwonlyargcount == 0 or code.co_flags & _VARARGS:
        return None
    names = code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]
    kwdefaults = fn.__kwdefaults__ or {}
    if any(name not in kwdefaults for name in names):
        return None
    defaults = tuple(fn.__defaults__ or ())
    new_code = code.replace(co_argcount=code.co_argcount + code.co_kwonlyargcount,
                            co_kwonlyargcount=0)
    clone = pytypes.FunctionType(new_code, fn.__globals__, fn.__name__,
                                 defaults + tuple(kwdefaults[n] for n in names), fn.__closure__)
    clone.__qualname__ = fn.__qualname__
    return clone


def _attributes(obj, names):
    """A named tuple of the attributes of ``obj`` among ``names`` (the data
    ones: methods and dunders are left out)."""
    values = {}
    for name in sorted(names):
        if name.startswith("__"):
            continue
        value = getattr(obj, name, _MISSING)
        if value is _MISSING or callable(value):
            continue
        values[name] = value
    view_type = collections.namedtuple(f"{type(obj).__name__}_attributes", list(values))
    return view_type(**values)


_MISSING = object()


def bound_state(f):
    """The object whose attributes f reads through ``self`` (a bound method's
    or a callable object's) and the function that reads them, or None."""
    if isinstance(f, pytypes.MethodType) and isinstance(f.__func__, pytypes.FunctionType) \
            and not isinstance(f.__self__, type):
        return f.__self__, f.__func__
    call = getattr(type(f), "__call__", None)
    if isinstance(call, pytypes.FunctionType) and not isinstance(
            f, (pytypes.FunctionType, pytypes.MethodType, functools.partial, type)) \
            and not hasattr(f, "py_func"):
        return f, call
    return None


class Form:
    """A partial, bound method or callable object as a plain function of
    ``(x, *args)``: :meth:`function` for compiling (one per number of extra
    arguments), :meth:`python` for the Python path."""

    def __init__(self, func, bound, keywords, owner=None):
        self.func = func            # the Python function called
        self.bound = bound          # values passed before x
        self.keywords = keywords    # values passed by keyword
        self.owner = owner          # the object behind self (its attributes are watched)
        self.names = sorted(n for n in _names_used(func.__code__) if not n.startswith("__"))
        self.__name__ = func.__name__

    def function(self, n_args, prepare):
        """``def f(x, a0, ..): return func(*bound, x, a0, .., **keywords)``,
        with ``prepare(func)`` called and a view of the owner's attributes
        for ``self``, the bound values in closure cells."""
        bound = self.bound if self.owner is None else (_attributes(self.owner, self.names),)
        cells = [f"b{i}" for i in range(len(bound))]
        keyword_cells = [f"k{i}" for i in range(len(self.keywords))]
        rest = [f"a{i}" for i in range(n_args)]
        call = ", ".join(cells + ["x"] + rest
                         + [f"{k}={v}" for k, v in zip(self.keywords, keyword_cells)])
        source = (f"def make(func, {', '.join(cells + keyword_cells + ['_'])}):\n"
                  f"    def {self.__name__}({', '.join(['x'] + rest)}):\n"
                  f"        return func({call})\n"
                  f"    return {self.__name__}\n")
        namespace = {}
        exec(source, namespace)
        made = namespace["make"](prepare(self.func), *bound, *self.keywords.values(), None)
        made.__qualname__ = self.func.__qualname__
        return made

    def python(self, pythonized):
        """The form on the Python path: ``pythonized`` is func made dual-aware."""
        bound = self.bound if self.owner is None else (self.owner,)
        keywords = self.keywords
        return lambda x, *args: pythonized(*bound, x, *args, **keywords)


def as_form(f):
    """A :class:`Form` for a partial, bound method or callable object whose
    function is plain Python, else None."""
    if isinstance(f, functools.partial):
        func = getattr(f.func, "py_func", f.func)
        if not isinstance(func, pytypes.FunctionType):
            return None
        return Form(positional_kwonly(func) or func, tuple(f.args), dict(f.keywords))
    found = bound_state(f)
    if found is None:
        return None
    owner, func = found
    return Form(positional_kwonly(func) or func, (), {}, owner)
