"""Per-function state: the one place that compiles a user's function.

A :class:`Target` holds, for one user function, its Numba dispatcher, the
compiled drivers by key and argument types, the Python fallback and why it
was taken, the values Numba froze into it (:mod:`.frozen`), and one slot per
mode for that mode's own state (``reverse_state``, ``tape_hessian_state``).
:meth:`Target.driver` is the one compile-and-cache step of every driver
(forward, hyper-dual, tape, tape Hessian); :func:`compiled_for` is the forward
modes' policy around it (a failure means the Python path, with a warning).
:class:`FastPaths` remembers compiled entry points for the operators'
per-call fast paths.
"""

import itertools
import types
import warnings
import weakref

import numpy as np

from .._compiled.compat import NumbaError, quiet_reflected_lists, vectorizing
from .._compiled.registrar import register_pending
from .._compiled.typeof import typeof_args
from ..arrays import explain_compile_failure
from .diskcache import cached_njit, enabled as cache_enabled
from .drivers import describe_output
from .fallback import jit_helpers, pythonize
from .forms import as_form, positional_kwonly, with_defaults
from .frozen import Frozen
from .scratch import with_scratch_arrays
from .inputs import FLOAT64, holds_duals

__all__ = ["Target", "NotCompiled", "target_of", "compiled_for", "compile_signature", "first_line",
           "FallbackWarning", "FastPaths", "is_plain_vector", "argument_types",
           "argument_types_key", "TAGS"]


TAGS = itertools.count(1)


class FallbackWarning(UserWarning):
    """Numba could not compile the function for dual numbers; the slow Python
    path was used instead (results are still exact)."""


class Target:
    def __init__(self, f, renewed=False):
        self.f = f
        self.is_dispatcher = hasattr(f, "py_func") and hasattr(f, "overloads")
        self.dispatcher = None
        self.builtin_callers = {}
        self.python = None
        self.fallback_reason = None
        self.drivers = {}       # key + (argument types,) -> driver (see driver())
        self.not_compiled = {}  # the same keys -> why f did not compile for them
        # each mode's own state, made by that mode (reverse.py, _tape_hessian.py)
        self.reverse_state = None
        self.tape_hessian_state = None
        self.warned = set()     # names of the warnings given once per function
        # a partial, bound method or callable object: compiled as a plain
        # function per number of extra arguments (forms.py)
        self.form = None if isinstance(f, types.FunctionType) or self.is_dispatcher \
            else as_form(f)
        self.form_dispatchers = {}
        # what Numba will freeze into the compiled code (None: nothing)
        if self.form is not None:
            frozen = Frozen(self.form.function(0, lambda func: func), self.form.owner,
                            self.form.names)
        else:
            frozen = Frozen(f)
        self.frozen = frozen if frozen else None
        # a global f names has changed since an earlier target compiled:
        # a user's dispatcher keeps its old compilations, so compile afresh
        self.renewed = renewed
        # f with its scratch arrays rewritten (.scratch), once compiling f
        # itself failed; a wrapper target sets scratch_builder to make its own
        self.scratch = None
        self.scratch_tried = False
        self.scratch_builder = None

    def stale(self):
        """Whether a value Numba froze into f's compiled code has changed."""
        return self.frozen is not None and self.frozen.changed()

    def get_dispatcher(self, n_args=0):
        """f's dispatcher for calls with ``n_args`` extra arguments: made by
        dualdiff (with the on-disk cache, :mod:`.diskcache`) from f, its
        helpers jitted alike; a user's own Numba dispatcher is used as it is
        only when the cache is off (its compiles could not be cached)."""
        if self.scratch is not None:
            return self.scratch
        if self.form is not None:
            if n_args not in self.form_dispatchers:
                self.form_dispatchers[n_args] = cached_njit(self.form.function(
                    n_args, lambda func: cached_njit(jit_helpers(func, cached_njit,
                                                                 rewrite=positional_kwonly))))
            return self.form_dispatchers[n_args]
        if self.is_dispatcher and not self.renewed and not cache_enabled():
            return self.f
        if self.is_dispatcher:
            if self.dispatcher is None:
                self.dispatcher = cached_njit(jit_helpers(self.f.py_func, cached_njit),
                                              **self.f.targetoptions)
            return self.dispatcher
        if isinstance(self.f, types.FunctionType):
            if self.dispatcher is None:
                self.dispatcher = cached_njit(jit_helpers(self.f, cached_njit,
                                                          rewrite=positional_kwonly))
            return self.dispatcher
        # a builtin or a ufunc (math.exp, np.sin): call it from a function of
        # the right arity, one per number of extra arguments
        if n_args not in self.builtin_callers:
            names = ", ".join(["x"] + [f"a{i}" for i in range(n_args)])
            namespace = {"fn": self.f}
            exec(f"def call({names}):\n    return fn({names})\n", namespace)
            self.builtin_callers[n_args] = cached_njit(namespace["call"])
        return self.builtin_callers[n_args]

    def scratch_dispatcher(self):
        """A dispatcher of f whose dtype-less ``np.empty``/``zeros``/... (in f
        and its helpers) hold the numbers f is called with (:mod:`.scratch`),
        or None when there are none or their source is out of reach.  Built
        once; from then on :meth:`get_dispatcher` returns it."""
        if self.scratch_tried:
            return self.scratch
        self.scratch_tried = True
        if self.scratch_builder is not None:
            self.scratch = self.scratch_builder()
            return self.scratch
        fn = self.f.py_func if self.is_dispatcher else self.f
        if not isinstance(fn, types.FunctionType):
            return None
        rewritten = []

        def rewrite(g):
            clone = with_scratch_arrays(g)
            if clone is not None:
                rewritten.append(g)
            return positional_kwonly(clone or g) or clone

        clone = jit_helpers(fn, cached_njit, rewrite=rewrite)
        if rewritten:
            options = self.f.targetoptions if self.is_dispatcher else {}
            self.scratch = cached_njit(clone, **options)
        return self.scratch

    def get_python(self):
        if self.python is None:  # with scratch arrays that can hold Python duals
            if self.form is not None:
                self.python = self.form.python(pythonize(self.form.func,
                                                         rewrite=with_scratch_arrays))
            else:
                self.python = pythonize(self.f, rewrite=with_scratch_arrays)
        return self.python

    def use_fallback(self, reason):
        self.fallback_reason = reason
        name = getattr(self.f, "__name__", repr(self.f))
        warnings.warn(
            f"dualdiff: Numba could not compile {name!r} for dual numbers ({reason}); "
            "using the exact but much slower Python path instead",
            FallbackWarning, stacklevel=4)

    def driver(self, key, in_type, args, build, *build_args, vectorize=True):
        """The driver ``build(dispatcher, return type, *build_args)`` of f compiled for an
        input of Numba type ``in_type`` and the extra arguments ``args``: the
        one compile-and-cache step of every mode.

        A driver is built once per ``key`` (the mode's name for it: kind and
        lane counts) and argument types, and kept in :attr:`drivers` under
        ``key + (argument types,)``.  Raises :class:`NotCompiled` when an
        argument has no Numba type, when f does not compile for ``in_type``
        (with LLVM's SLP vectorizer when ``vectorize``), or when ``build``
        refuses f's output by raising it; the reason is remembered, so the same
        call does not compile again.  Whether a failure means the Python path,
        another mode or an error is the caller's policy.
        """
        try:
            argtypes = typeof_args(args)
        except Exception as exc:  # no Numba type (what typeof raises varies)
            raise NotCompiled(f"an argument in args has no Numba type: {first_line(exc)}") \
                from None
        full = key + (argtypes,)
        found = self.drivers.get(full)
        if found is not None:
            return found
        reason = self.not_compiled.get(full)
        if reason is not None:
            raise NotCompiled(reason)
        try:
            try:
                dispatcher, returned = compile_signature(self, (in_type,) + argtypes, len(args),
                                                         vectorize)
            except Exception as exc:  # any failure to compile
                raise NotCompiled(explain_compile_failure(exc) or first_line(exc)) from None
            driver = build(dispatcher, returned, *build_args)
        except NotCompiled as exc:
            self.not_compiled[full] = str(exc)
            raise
        self.drivers[full] = driver
        return driver


class NotCompiled(Exception):
    """f does not compile for a driver's numbers; the message says why."""


_targets = weakref.WeakKeyDictionary()


_unweakrefable = {}


def target_of(f):
    """f's per-function state; a new one (compiling f afresh) when a global,
    closure cell or default that Numba froze into f has changed since."""
    f = getattr(f, "_dualdiff_function", f)  # a @differentiable function
    register_pending()  # spellings of modules imported since (scipy.special)
    try:
        t = _targets.get(f)
        if t is None:
            t = _targets[f] = Target(f)
        elif t.frozen is not None and t.frozen.changed():
            t = _targets[f] = Target(f, renewed=True)
    except TypeError:  # not weak-referenceable (a builtin, say)
        t = _unweakrefable.setdefault(id(f), Target(f))
    return t


def first_line(exc):
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    skip = ("Failed in nopython mode", "During:", "File ", "Failed in object mode")
    useful = [ln for ln in lines if not ln.startswith(skip)]
    text = useful[0] if useful else (lines[0] if lines else type(exc).__name__)
    if text.endswith("signature:") and len(useful) > 1:
        text = f"{text} {useful[1].lstrip('>').strip()}"
    return text if len(text) < 200 else text[:197] + "..."


def compile_signature(target, signature, n_args, vectorize=True):
    """``(dispatcher, return type)``: f's dispatcher, compiled for
    ``signature`` (the types of x and of the extra arguments; with LLVM's SLP
    vectorizer on dual numbers); when f does not compile but its scratch
    arrays can be rewritten (:meth:`Target.scratch_dispatcher`), that
    version.  Raises what compiling f raised when neither compiles."""
    dispatcher = target.get_dispatcher(n_args)
    try:
        return dispatcher, _compile(dispatcher, signature, vectorize)
    except Exception as exc:
        if target.scratch is dispatcher or target.scratch_dispatcher() is None:
            raise
        try:
            return target.scratch, _compile(target.scratch, signature, vectorize)
        except Exception:
            raise exc from None


def _compile(dispatcher, signature, vectorize):
    """Compile; the return type.  Parameters left out take their defaults."""
    signature = with_defaults(dispatcher.py_func, signature)
    with quiet_reflected_lists():
        if vectorize:
            with vectorizing():
                dispatcher.compile(signature)
        else:
            dispatcher.compile(signature)
    return dispatcher.overloads[signature].signature.return_type


def compiled_for(target, key, in_type, proto, build, args):
    """The compiled driver ``build(dispatcher)`` of a forward mode (dual or
    hyper-dual numbers like ``proto``) for inputs of ``in_type``, or None when
    the Python path must be used: then Numba could not compile f, and
    :meth:`Target.use_fallback` has warned once for every later call.

    ``key`` names the driver (kind and lane counts); the argument types are
    added to it.  Shared by the first- and second-order APIs.
    """
    if target.fallback_reason is not None:
        return None
    try:  # (no closure made here: this runs on every call)
        return target.driver(key, in_type, args, _checked_build, proto, build)
    except NotCompiled as exc:
        target.use_fallback(str(exc))
        return None


def _checked_build(dispatcher, returned, proto, build):
    problem = describe_output(returned, proto)
    if problem is not None:
        raise TypeError(f"f must return a real number, a dual number, an array, or a "
                        f"tuple/list of numbers; it returned {problem}")
    return build(dispatcher)


# numpy's NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED bits of ndarray.flags.num
_C_ALIGNED = 0x0001 | 0x0100


def is_plain_vector(x):
    """Whether x is a non-empty C-contiguous float64 ndarray of one dimension,
    what a fast path takes as it is."""
    return type(x) is np.ndarray and x.ndim == 1 and x.dtype is FLOAT64 \
        and x.flags.num & _C_ALIGNED == _C_ALIGNED and x.shape[0] > 0


def argument_types(args):
    """The Numba types of ``args`` (a tuple), or None if one has none."""
    if not args:
        return ()
    try:
        return typeof_args(args)
    except (ValueError, TypeError, NumbaError):
        return None


def argument_types_key(args):
    """The ids of the Numba types of ``args`` (None if one has none).  Numba
    interns its types and a fast-path entry keeps its types alive, so equal
    ids mean the same types; hashing the types themselves costs 0.25 us
    each (their hash is not cached)."""
    if not args:
        return ()
    try:
        if len(args) == 1:
            return (id(typeof_args(args)[0]),)
        return tuple([id(t) for t in typeof_args(args)])
    except (ValueError, TypeError, NumbaError):
        return None


class FastPaths:
    """Remembered runs of one API function: ``id(f) -> (weak reference to f,
    {key: (run, argument types)}, whether f has a closure, the values Numba
    froze into f's compiled code)``; a run is not used once those changed.  A key is a
    ``head`` the caller chooses (mode, size) plus the ids of the argument
    types (:func:`argument_types_key`); the entry holds the types
    themselves, so those ids are never reused while it lives.  A closure may
    come to hold Python duals (an outer differentiation on the Python path),
    so for such f every lookup checks that it does not.  An entry goes when
    f does."""

    def __init__(self):
        self._entries = {}

    def get(self, f, head, args):
        """The run remembered for f under ``head`` and the types of ``args``,
        or None (the types are only looked up when f has an entry)."""
        entry = self._entries.get(id(f))
        if entry is None:
            return None
        found = entry[1].get(head + (argument_types_key(args),))
        if found is None or entry[0]() is not f or (entry[2] and holds_duals(f, ())) \
                or (entry[3] is not None and entry[3].changed()):
            return None  # (a frozen value changed: the full path compiles afresh)
        return found[0]

    def keys(self, f):
        """The keys remembered for f."""
        entry = self._entries.get(id(f))
        return [] if entry is None or entry[0]() is not f else list(entry[1])

    def put(self, f, head, argtypes, run):
        """Remember ``run`` for f under ``head`` and arguments of ``argtypes``."""
        entry = self._entries.get(id(f))
        frozen = target_of(f).frozen
        if entry is None or entry[0]() is not f or entry[3] is not frozen:
            try:
                ref = weakref.ref(f, self._forget)
            except TypeError:  # not weak-referenceable: no fast path
                return
            closure = getattr(getattr(f, "py_func", f), "__closure__", None) is not None
            entry = self._entries[id(f)] = (ref, {}, closure, frozen)
        entry[1][head + (tuple([id(t) for t in argtypes]),)] = (run, argtypes)

    def _forget(self, ref):
        for key, entry in list(self._entries.items()):
            if entry[0] is ref:
                del self._entries[key]
