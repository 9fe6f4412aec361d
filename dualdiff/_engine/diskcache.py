"""The on-disk cache of what dualdiff compiles for a user's function (issue 16).

Numba's own ``cache=True`` cannot serve dualdiff: the drivers are generated
source with no file to locate a cache by, Numba keys an entry by bytecode
alone (two drivers differing only in a constant, N = 5 or N = 8, would share
one), and it checks only the stamp of the user's source file, so a changed
global, helper or dualdiff itself would load stale code.  So dualdiff gives
each dispatcher it makes (the user's function on dual numbers or tape
numbers, and every driver) a cache of its own:

* **where**: ``DUALDIFF_CACHE_DIR``, else the platform's cache folder
  (``$XDG_CACHE_HOME/dualdiff`` or ``~/.cache/dualdiff`` on Linux,
  ``~/Library/Caches/dualdiff`` on macOS, ``%LOCALAPPDATA%\\dualdiff`` on
  Windows), in a sub-folder per *stamp*: a hash of dualdiff's source files
  and the versions of Numba, llvmlite, NumPy and Python, so an upgrade of any
  of them starts afresh and never loads the old code.
* **which entry**: the file name holds a *fingerprint* of the function, a
  hash of everything Numba freezes into its code: its bytecode and
  constants, its defaults and closure cells, and every global it names, by
  value (numbers, strings, arrays bit for bit), following the user's helper
  functions recursively.  A driver names the user's dispatcher, so its
  fingerprint contains the user's function's.  Library objects (NumPy,
  Numba, dualdiff) count by name: the stamp covers them.  Then the
  signature and the machine (Numba's codegen magic tuple) name the file.
* **safety**: one self-checking file per entry holding its stamp and key,
  written to a temporary name and renamed (two processes writing one entry
  write the same bytes; a reader never sees half a file); a file that is
  damaged, truncated or from another entry is a miss, and is rewritten; a
  folder that cannot be written leaves the function uncached, silently.
  A function holding a value that cannot be fingerprinted is not cached.

``DUALDIFF_CACHE=0`` turns the cache off.  :func:`info` and :func:`clear`
are the public ``dd.cache`` functions; :data:`COUNTS` counts this process's
loads, saves and misses (the tests read it).
"""

import hashlib
import os
import pickle
import shutil
import sys
import threading
import types as pytypes

import numpy as np

from .._compiled.compat import CompileResult, NullCache, cache_base, numba, pickle_dumps, \
    normalize_signature, types, vectorizing_njit
from .fallback import _names_used

__all__ = ["cached_njit", "attach", "fingerprint", "cache_directory", "enabled", "info",
           "clear", "COUNTS", "Uncacheable"]

#: this process's cache events: ``loaded`` (a compile saved), ``missed`` (no
#: entry: compiled), ``saved``, ``damaged`` (an unreadable entry: compiled and
#: rewritten), ``uncacheable`` (Numba's code holds a process address, or a
#: global could not be fingerprinted)
COUNTS = {"loaded": 0, "missed": 0, "saved": 0, "damaged": 0, "uncacheable": 0}
_COUNTS_LOCK = threading.Lock()

# objects of these top-level modules count by name (the stamp covers them)
_LIBRARIES = frozenset(("dualdiff", "numpy", "numba", "llvmlite", "math", "cmath",
                        "operator", "builtins", "scipy", "functools", "itertools",
                        "collections"))
_ENTRY_SUFFIX = ".nbc"


def _count(event):
    with _COUNTS_LOCK:
        COUNTS[event] += 1


def enabled():
    """Whether compiled code is cached on disk (``DUALDIFF_CACHE`` is not "0")."""
    return os.environ.get("DUALDIFF_CACHE", "1") != "0"


def cache_directory():
    """The folder holding the cache (every dualdiff version's sub-folder)."""
    chosen = os.environ.get("DUALDIFF_CACHE_DIR")
    if chosen:
        return os.path.abspath(os.path.expanduser(chosen))
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~")
        return os.path.join(base, "dualdiff", "Cache")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches/dualdiff")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "dualdiff")


_stamp = []


def source_stamp():
    """A hash of dualdiff's source files and of the versions of what compiles
    them: equal stamps mean identical compiled code (1.5 ms, once)."""
    if not _stamp:
        import llvmlite
        digest = hashlib.sha256()
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        for folder, subfolders, files in os.walk(root):
            subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    digest.update(os.path.relpath(path, root).encode())
                    with open(path, "rb") as source:
                        digest.update(source.read())
        digest.update(repr((numba.__version__, llvmlite.__version__, np.__version__,
                            sys.version, os.environ.get("DUALDIFF_SLP_VECTORIZE", "1"))).encode())
        _stamp.append(digest.hexdigest())
    return _stamp[0]


def _stamp_directory():
    return os.path.join(cache_directory(), source_stamp()[:16])


# ---------------------------------------------------------------------------
# Fingerprints
# ---------------------------------------------------------------------------

class Uncacheable(Exception):
    """A value a function reads cannot be fingerprinted (the message says which)."""


def _from_library(value):
    """Whether ``value`` belongs to a library whose version the stamp holds.
    Generated code (a driver, whose ``__module__`` is dualdiff's) does not:
    it counts by value."""
    code = getattr(value, "__code__", None)
    if isinstance(code, pytypes.CodeType) and code.co_filename.startswith("<"):
        return False
    module = getattr(value, "__module__", None)
    if not isinstance(module, str):
        module = getattr(type(value), "__module__", "") or ""
    return module.split(".")[0] in _LIBRARIES and module != "dualdiff.examples"


def _hash_code(code, digest):
    digest.update(b"code" + code.co_code)
    digest.update(repr((code.co_names, code.co_varnames, code.co_freevars, code.co_argcount,
                        code.co_kwonlyargcount, code.co_flags)).encode())
    for const in code.co_consts:
        if isinstance(const, pytypes.CodeType):
            _hash_code(const, digest)
        else:  # 1, 1.0 and True compile to different constants
            digest.update(repr((type(const).__name__, const)).encode())


def _hash_function(fn, digest, seen, by_value):
    if not by_value and _from_library(fn):
        digest.update(f"lib {fn.__module__}.{fn.__qualname__}".encode())
        return
    digest.update(f"function {fn.__qualname__}".encode())
    _hash_code(fn.__code__, digest)
    _hash_value(fn.__defaults__, digest, seen)
    _hash_value(fn.__kwdefaults__, digest, seen)
    for cell in fn.__closure__ or ():
        try:
            _hash_value(cell.cell_contents, digest, seen)
        except ValueError:  # an empty cell
            digest.update(b"empty cell")
    namespace = fn.__globals__
    names = sorted(_names_used(fn.__code__))
    for name in names:
        if name not in namespace:
            continue  # a builtin or an attribute name
        value = namespace[name]
        digest.update(f"global {name}".encode())
        _hash_value(value, digest, seen)
        if isinstance(value, pytypes.ModuleType) and not _from_library(value):
            # a user module: Numba freezes the attributes f reads from it
            for attribute in names:
                if attribute in vars(value):
                    digest.update(f".{attribute}".encode())
                    _hash_value(vars(value)[attribute], digest, seen)


def _hash_value(value, digest, seen):
    if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        digest.update(repr((type(value).__name__, value)).encode())
        return
    if id(value) in seen:  # recursion (a helper calling itself)
        digest.update(f"seen {seen[id(value)]}".encode())
        return
    seen[id(value)] = len(seen)
    py_func = getattr(value, "py_func", None)
    if isinstance(py_func, pytypes.FunctionType):  # a Numba dispatcher
        options = sorted(getattr(value, "targetoptions", {}).items())
        digest.update(f"dispatcher {type(value).__qualname__} {options}".encode())
        _hash_function(py_func, digest, seen, by_value=not _from_library(py_func))
    elif isinstance(value, pytypes.FunctionType):
        _hash_function(value, digest, seen, by_value=False)
    elif isinstance(value, pytypes.ModuleType):
        digest.update(f"module {value.__name__}".encode())
    elif isinstance(value, np.ndarray):
        digest.update(f"array {value.dtype.str} {value.shape}".encode())
        digest.update(pickle.dumps(value) if value.dtype == object
                      else np.ascontiguousarray(value).tobytes())
    elif isinstance(value, np.generic):
        digest.update(f"scalar {value.dtype.str} {value.item()!r}".encode())
    elif isinstance(value, (tuple, list)):
        digest.update(f"{type(value).__name__} {len(value)}".encode())
        for item in value:
            _hash_value(item, digest, seen)
    elif isinstance(value, dict):
        digest.update(f"dict {len(value)}".encode())
        for key in sorted(value, key=repr):
            _hash_value(key, digest, seen)
            _hash_value(value[key], digest, seen)
    elif isinstance(value, types.Type):
        digest.update(f"numba type {value!r}".encode())
    elif isinstance(value, (type, pytypes.BuiltinFunctionType)) or _from_library(value):
        # a class, a builtin, a ufunc, one of dualdiff's intrinsics
        name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None)
        module = getattr(value, "__module__", None) or type(value).__module__
        digest.update(f"named {module}.{name or type(value).__qualname__}".encode())
    else:  # any other object (a namedtuple of arrays, say): by its pickle
        try:
            digest.update(b"pickle" + pickle.dumps(value, protocol=4))
        except Exception as exc:
            raise Uncacheable(f"cannot fingerprint a {type(value).__name__}: {exc}") from None


def fingerprint(fn):
    """The hex digest of everything Numba freezes into ``fn``'s code (see the
    module docstring); raises :class:`Uncacheable`."""
    digest = hashlib.sha256()
    _hash_function(fn, digest, {}, by_value=True)
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# The cache of one dispatcher
# ---------------------------------------------------------------------------

def _file_base(py_func):
    name = getattr(py_func, "__qualname__", None) or py_func.__name__
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:60]


class DiskCache(cache_base):
    """Numba's cache interface for one dispatcher: entries in the stamp's
    folder, named by the function's fingerprint and the key."""

    def __init__(self, py_func, digest):
        self._py_func = py_func
        self._base = f"{_file_base(py_func)}-{digest[:20]}"
        self._enabled = True

    def __repr__(self):
        return f"<dualdiff DiskCache {self._base}>"

    @property
    def cache_path(self):
        return _stamp_directory()

    def enable(self):
        self._enabled = True

    def disable(self):
        self._enabled = False

    def flush(self):
        pass

    def _key(self, sig, codegen):
        args, _ = normalize_signature(sig)
        return (tuple(args), codegen.magic_tuple())

    def _path(self, key):
        name = hashlib.sha256(repr(key).encode()).hexdigest()[:16]
        return os.path.join(_stamp_directory(), f"{self._base}.{name}{_ENTRY_SUFFIX}")

    def load_overload(self, sig, target_context):
        if not self._enabled:
            return None
        key = self._key(sig, target_context.codegen())
        path = self._path(key)
        try:
            with open(path, "rb") as entry:
                stored = entry.read()
        except OSError:  # no entry (or an unreadable folder)
            _count("missed")
            return None
        try:
            stamp, stored_key, payload = pickle.loads(stored)
            if stamp != source_stamp() or stored_key != key:
                raise ValueError("another entry's file")
            target_context.refresh()
            result = CompileResult._rebuild(target_context, *payload)
        except Exception:  # damaged, truncated, foreign: compile and rewrite
            _count("damaged")
            return None
        _count("loaded")
        return result

    def save_overload(self, sig, result):
        if not self._enabled:
            return
        if result.library.has_dynamic_globals or any(not c.can_cache for c in result.lifted):
            _count("uncacheable")  # holds a process's address: cannot be reused
            return
        key = self._key(sig, result.codegen)
        path = self._path(key)
        temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            data = pickle_dumps((source_stamp(), key, result._reduce()))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(temporary, "wb") as entry:
                entry.write(data)
            os.replace(temporary, path)
        except Exception:  # an unwritable folder, a full disk: run uncached
            try:
                os.unlink(temporary)
            except OSError:
                pass
            return
        _count("saved")


def cached_njit(fn, vectorize=False, **options):
    """``numba.njit(**options)(fn)`` with the on-disk cache: how dualdiff
    makes every dispatcher of a user's function and every driver.  With
    ``vectorize``, compiled with LLVM's SLP vectorizer (the dual-number
    drivers: :func:`~dualdiff._compiled.compat.vectorizing_njit`)."""
    options.pop("cache", None)  # Numba's own cache cannot hold these (see above)
    options.pop("nopython", None)  # njit's (a user dispatcher's targetoptions hold it)
    return attach(vectorizing_njit(fn) if vectorize else numba.njit(**options)(fn))


def attach(dispatcher):
    """Give ``dispatcher`` (one dualdiff made) the on-disk cache, unless the
    cache is off, it has one, or a value its function reads cannot be
    fingerprinted.  Generated code gets a module name Numba can import when
    it rebuilds the code's environment.  Returns ``dispatcher``."""
    if not enabled() or not isinstance(getattr(dispatcher, "_cache", None), NullCache):
        return dispatcher
    fn = dispatcher.py_func
    if fn.__module__ is None or fn.__globals__.get("__name__") is None:
        fn.__globals__["__name__"] = __name__
        fn.__module__ = __name__
    try:
        digest = fingerprint(fn)
    except (Uncacheable, RecursionError):
        _count("uncacheable")
        return dispatcher
    dispatcher._cache = DiskCache(fn, digest)
    # Numba names compiled code, and the environment holding the constants
    # its boxing and raising read, by qualified name and a per-process
    # counter; it shares one environment between code of one name.  Code
    # compiled in different processes (or of a global since rebound) can
    # meet in one process with equal names: the fingerprint in the name
    # keeps code of different content apart.
    suffix = f"[{digest[:16]}]"
    if not fn.__qualname__.endswith(suffix):
        fn.__qualname__ += suffix
    return dispatcher


# ---------------------------------------------------------------------------
# dd.cache
# ---------------------------------------------------------------------------

def info():
    """What the on-disk compile cache holds.

    Returns
    -------
    dict
        ``directory`` (the cache folder), ``enabled``, ``entries`` and
        ``bytes`` (files of this dualdiff version), ``other_versions``
        (sub-folders of other dualdiff, Numba or Python versions, which
        :func:`clear` removes too), and ``this_process``: counts of entries
        ``loaded``, ``missed``, ``saved``, ``damaged`` and ``uncacheable``.

    Examples
    --------
    >>> import dualdiff as dd
    >>> sorted(dd.cache.info())
    ['bytes', 'directory', 'enabled', 'entries', 'other_versions', 'this_process']
    """
    entries = size = 0
    current = _stamp_directory()
    if os.path.isdir(current):
        for name in os.listdir(current):
            if name.endswith(_ENTRY_SUFFIX):
                entries += 1
                try:
                    size += os.path.getsize(os.path.join(current, name))
                except OSError:
                    pass
    root = cache_directory()
    others = [d for d in (os.listdir(root) if os.path.isdir(root) else [])
              if os.path.join(root, d) != current and os.path.isdir(os.path.join(root, d))]
    with _COUNTS_LOCK:
        counts = dict(COUNTS)
    return {"directory": root, "enabled": enabled(), "entries": entries, "bytes": size,
            "other_versions": len(others), "this_process": counts}


def clear():
    """Delete every entry of the on-disk compile cache (of every dualdiff
    version); what this process has compiled stays in memory.

    Returns
    -------
    int
        The number of entry files deleted.

    Examples
    --------
    >>> import os, tempfile
    >>> import dualdiff as dd
    >>> os.environ["DUALDIFF_CACHE_DIR"] = tempfile.mkdtemp()
    >>> dd.cache.clear()
    0
    >>> del os.environ["DUALDIFF_CACHE_DIR"]
    """
    root = cache_directory()
    if not os.path.isdir(root):
        return 0
    removed = 0
    for name in os.listdir(root):
        folder = os.path.join(root, name)
        if os.path.isdir(folder) and len(name) == 16:
            removed += sum(1 for f in os.listdir(folder) if f.endswith(_ENTRY_SUFFIX))
            shutil.rmtree(folder, ignore_errors=True)
    return removed
