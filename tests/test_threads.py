"""Thread safety: thousands of concurrent calls of every operator, first calls included.

Issue 22 ("never a wrong answer").  The functions below are defined here and
nowhere else, so in this worker process nothing has compiled them when the
threads start (pytest-xdist runs a test file in one worker process; Numba's
compile events, recorded from this module's import on, confirm it): every
driver, tape and fast path is first built while other threads call the same
functions, through the same per-function state.

Every result is compared bit for bit (dtype, shape, type and bytes; NaN equal
to NaN) with single-thread results.  Which single-thread results are the
honest reference?

* Results computed in this process BEFORE the threads would compile every
  function first, and the threads would then only run compiled code: the
  first calls would not be concurrent any more.
* Results computed in this process AFTER the threads, with the same function
  objects, go through the drivers and fast paths the concurrent first calls
  built.  A race that installed a wrong driver, a wrong fast path or a wrong
  tape size for good would answer the same wrong numbers again, and agree.
  (They are compared anyway, below: they check that the state the
  concurrent first calls left behind serves the same bits, sequentially.)
* Separate function objects compiled single-threaded in this process would
  still share process-wide state with the threaded run: Numba's type and
  overload caches, dualdiff's generated-implementation caches (``_nbdual``,
  ``_nbarray_ops``), its argument-type cache and the compiled sweeps of the
  tape Hessian, all first filled by the threads.

So the reference comes from a fresh interpreter that imports this module
and makes every call once, in one thread, with nothing compiled concurrently
(:func:`reference_results`).  It runs while the threads run, as a
subprocess: the threads mostly take turns on Numba's compiler lock, so on an
idle machine it has the other core to itself; it doubles the CPU time.

Calls of the complex-step finite differences in threads are also checked on
their own (the last test): their guard is a warning filter.
"""

import concurrent.futures
import math
import os
import pickle
import resource
import subprocess
import sys
import threading
import time
import traceback
import warnings

import numba.core.event
import numpy as np
import pytest

import dualdiff as dd
from dualdiff.reverse import AUTO_REVERSE_MIN_INPUTS
from dualdiff.second import AUTO_TAPE_MIN_INPUTS

THREADS = 8
CALLS = 3000            # concurrent calls in all, first calls included
SWITCH_INTERVAL = 1e-4  # s, while the threads run (Python's default: 5e-3)
SMALL, MIDDLE, LARGE = 16, 24, 64


# ---------------------------------------------------------------------------
# Functions under test, as users write them (module-level, used nowhere else)
# ---------------------------------------------------------------------------

def _term(a, b):
    """A plain Python helper: dualdiff compiles it along with its caller."""
    return 100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2


def chain(x):
    """Rosenbrock-like loop through a helper."""
    s = 0.0
    for i in range(len(x) - 1):
        s += _term(x[i], x[i + 1])
    return s


def bumpy(x):
    """Branches on the data and math calls."""
    s = 0.0
    for i in range(len(x)):
        xi = x[i]
        if xi > 0.5:
            s += math.sqrt(1.0 + xi * xi) * math.log1p(xi)
        elif xi > -0.5:
            s += math.sin(3.0 * xi) * math.exp(-xi)
        else:
            s -= math.tanh(xi) ** 3
        if i > 0 and x[i - 1] > xi:
            s += 0.25 * x[i - 1] * xi
    return s


# globals that Numba freezes into the compiled code (dualdiff checks on every
# call that they have not changed)
SHIFT = np.linspace(-0.5, 0.5, 7)
DECAY = 0.1


def tridiag(x):
    """Vector-valued (a Broyden-like tridiagonal system) for Jacobians."""
    n = len(x)
    out = np.empty_like(x)
    for i in range(n):
        left = x[i - 1] if i > 0 else 0.0
        right = x[i + 1] if i < n - 1 else 0.0
        out[i] = (3.0 - 2.0 * x[i]) * x[i] - left - 2.0 * right + math.cos(x[i]) ** 2 \
            + SHIFT[i % 7]
    return out


def weighted(x, w, c):
    """Extra arguments (an array and a float) through ``args=``."""
    s = c
    for i in range(len(x)):
        s += w[i] * math.tanh(x[i]) + c * x[i] ** 2 * math.exp(-DECAY * x[i])
    return s


def least_squares(params, X):
    """Structured parameters (weights and a bias) and data through ``args=``."""
    W, b = params
    s = 0.0
    for i in range(X.shape[0]):
        z = b
        for j in range(X.shape[1]):
            z += X[i, j] * W[j]
        s += (z - 1.0) ** 2
    return s


def kepler(m, e):
    """The eccentric anomaly E of Kepler's equation E - e sin E = m, by a
    Newton while-loop with a data-dependent exit: a function of one scalar."""
    E = m if e < 0.8 else math.pi
    for _ in range(50):
        step = (E - e * math.sin(E) - m) / (1.0 - e * math.cos(E))
        E = E - step
        if abs(step) < 1e-15:
            break
    return E


# Numba compiles of the functions above, recorded from this module's import
# on (Numba's event API): the proof that the threads made the first calls
USER_CODE = {f.__code__: f.__name__ for f in (_term, chain, bumpy, tridiag, weighted,
                                             least_squares, kepler)}
COMPILES = []  # (function name, thread id)


class _CompileRecorder(numba.core.event.Listener):
    def on_start(self, event):
        code = getattr(getattr(event.data["dispatcher"], "py_func", None), "__code__", None)
        if code in USER_CODE:
            COMPILES.append((USER_CODE[code], threading.get_ident()))

    def on_end(self, event):
        pass


_RECORDER = _CompileRecorder()
numba.core.event.register("numba:compile", _RECORDER)  # unregistered by the test

# wrapped and curried forms, made here: none of them compiles anything before
# its first call
bumpy_d = dd.differentiable(bumpy)
grad_chain = dd.gradient(chain)
hess_chain = dd.hessian(chain)
grad_weighted = dd.gradient(weighted)
hvp_weighted = dd.hvp(weighted)
dkepler = dd.derivative(kepler)
jit_dkepler = dd.jit.derivative(kepler)
jit_grad_chain = dd.jit.gradient(chain, chunk=8)


# ---------------------------------------------------------------------------
# Inputs (shared by all threads; checked afterwards to be unmodified)
# ---------------------------------------------------------------------------

def _inputs():
    rng = np.random.default_rng(20260522)
    spread = lambda n: rng.uniform(-1.5, 1.5, n)  # noqa: E731  (every branch of bumpy)
    return {
        "x16": spread(SMALL), "x24": spread(MIDDLE), "x64": spread(LARGE),
        "v16": rng.standard_normal(SMALL), "v24": rng.standard_normal(MIDDLE),
        "v64": rng.standard_normal(LARGE),
        "u16": rng.standard_normal(SMALL), "u64": rng.standard_normal(LARGE),
        "w16": rng.uniform(-1.0, 1.0, SMALL), "w64": rng.uniform(-1.0, 1.0, LARGE),
        "u0": np.array(1.5),
        "X": rng.standard_normal((6, 3)), "W": rng.standard_normal(3), "b": 0.3,
        "c": 0.75, "e": 0.3, "e_high": 0.9,
        "m": (0.1, 1.0, 2.5, -0.7),
    }


IN = _inputs()


def _cases():
    """``[(label, thunk, weight)]``: every operator, on the functions above,
    in every mode, on both sides of the automatic choices."""
    I = IN  # noqa: E741
    x16, x24, x64 = I["x16"], I["x24"], I["x64"]
    v16, v24, v64 = I["v16"], I["v24"], I["v64"]
    w16, w64, c, e = I["w16"], I["w64"], I["c"], I["e"]
    X, W, b = I["X"], I["W"], I["b"]
    cases = [
        # first order, a scalar loop: mode="auto" is forward below 56 inputs,
        # reverse from 56 on
        ("gradient auto chain x16", lambda: dd.gradient(chain, x16)),
        ("gradient auto chain x64", lambda: dd.gradient(chain, x64)),
        ("gradient forward chain x64", lambda: dd.gradient(chain, x64, mode="forward")),
        ("gradient reverse chain x16", lambda: dd.gradient(chain, x16, mode="reverse")),
        ("value_and_gradient auto chain x24", lambda: dd.value_and_gradient(chain, x24)),
        ("value_and_gradient reverse chain x24",
         lambda: dd.value_and_gradient(chain, x24, mode="reverse")),
        ("curried gradient chain x64", lambda: grad_chain(x64)),
        ("jit.gradient chain x16", lambda: jit_grad_chain(x16)),
        # second order: auto is hyper-duals below 21 inputs, the tape from 21 on
        ("hessian auto chain x16", lambda: dd.hessian(chain, x16)),
        ("hessian auto chain x64", lambda: dd.hessian(chain, x64)),
        ("hessian reverse chain x16", lambda: dd.hessian(chain, x16, mode="reverse")),
        ("hessian forward chain x24", lambda: dd.hessian(chain, x24, mode="forward")),
        ("value_gradient_and_hessian auto chain x24",
         lambda: dd.value_gradient_and_hessian(chain, x24)),
        ("hvp reverse chain x16", lambda: dd.hvp(chain, x16, v16, mode="reverse")),
        ("hvp auto chain x64", lambda: dd.hvp(chain, x64, v64)),
        ("hvp forward chain x16", lambda: dd.hvp(chain, x16, v16, mode="forward")),
        ("vhv chain x24", lambda: dd.vhv(chain, x24, v24)),
        ("curried hessian chain x16", lambda: hess_chain(x16)),
        # branches and math calls, directly and through @dd.differentiable
        ("gradient auto bumpy x16", lambda: dd.gradient(bumpy, x16)),
        ("gradient auto bumpy x64", lambda: dd.gradient(bumpy, x64)),
        ("vjp forward bumpy x16", lambda: dd.vjp(bumpy, x16, I["u0"], mode="forward")),
        ("vjp auto bumpy x64", lambda: dd.vjp(bumpy, x64, I["u0"])),
        ("hessian auto bumpy x24", lambda: dd.hessian(bumpy, x24)),
        ("differentiable call bumpy x16", lambda: bumpy_d(x16)),
        ("differentiable gradient bumpy x64", lambda: bumpy_d.gradient(x64)),
        ("differentiable value_and_gradient bumpy x16",
         lambda: bumpy_d.value_and_gradient(x16)),
        ("differentiable hessian bumpy x24", lambda: bumpy_d.hessian(x24)),
        ("differentiable hvp bumpy x24", lambda: bumpy_d.hvp(x24, v24)),
        # vector-valued: Jacobians, both products
        ("jacobian auto tridiag x16", lambda: dd.jacobian(tridiag, x16)),
        ("jacobian reverse tridiag x64", lambda: dd.jacobian(tridiag, x64, mode="reverse")),
        ("value_and_jacobian forward tridiag x64",
         lambda: dd.value_and_jacobian(tridiag, x64, mode="forward")),
        ("jvp tridiag x64", lambda: dd.jvp(tridiag, x64, v64)),
        ("jvp tridiag x16", lambda: dd.jvp(tridiag, x16, v16)),
        ("vjp reverse tridiag x16", lambda: dd.vjp(tridiag, x16, I["u16"], mode="reverse")),
        ("vjp auto tridiag x64", lambda: dd.vjp(tridiag, x64, I["u64"])),
        ("vjp forward tridiag x64", lambda: dd.vjp(tridiag, x64, I["u64"], mode="forward")),
        # extra arguments through args=, and SciPy's (x, *args) convention
        ("gradient auto weighted x16", lambda: dd.gradient(weighted, x16, args=(w16, c))),
        ("gradient auto weighted x64", lambda: dd.gradient(weighted, x64, args=(w64, c))),
        ("value_and_gradient reverse weighted x16",
         lambda: dd.value_and_gradient(weighted, x16, args=(w16, c), mode="reverse")),
        ("curried gradient weighted x64", lambda: grad_weighted(x64, w64, c)),
        ("hessian auto weighted x64", lambda: dd.hessian(weighted, x64, args=(w64, c))),
        ("curried hvp weighted x64", lambda: hvp_weighted(x64, v64, w64, c)),
        # structured parameters: auto is reverse mode
        ("gradient auto least_squares", lambda: dd.gradient(least_squares, (W, b), args=(X,))),
        ("gradient forward least_squares",
         lambda: dd.gradient(least_squares, (W, b), args=(X,), mode="forward")),
        # a function of one scalar: first and second derivatives
        ("derivative kepler", lambda: [dd.derivative(kepler, m, args=(e,)) for m in I["m"]]),
        ("derivative order=2 kepler",
         lambda: [dd.derivative(kepler, m, args=(I["e_high"],), order=2) for m in I["m"]]),
        ("curried derivative kepler", lambda: [dkepler(m, e) for m in I["m"]]),
        ("jit.derivative kepler", lambda: [jit_dkepler(m, e) for m in I["m"]]),
        ("jvp scalar kepler", lambda: dd.jvp(kepler, 0.4, -2.0, args=(e,))),
    ]
    cases = [(label, thunk, 1.0) for label, thunk in cases]
    # finite differences and checks (pure Python: ms per call, so fewer calls)
    cases += [(label, thunk, 0.1) for label, thunk in [
        ("fd.gradient chain x16", lambda: dd.fd.gradient(chain, x16)),
        ("fd.gradient complex chain x16", lambda: dd.fd.gradient(chain, x16, method="complex")),
        ("fd.jacobian tridiag x16", lambda: dd.fd.jacobian(tridiag, x16, method="central4")),
        ("fd.hessian weighted x16", lambda: dd.fd.hessian(weighted, x16, args=(w16, c))),
        ("fd.derivative kepler",
         lambda: dd.fd.derivative(kepler, 1.0, args=(e,), method="richardson")),
        ("check_gradient chain x16", lambda: dd.check_gradient(chain, x16)),
        ("check_jacobian tridiag x16", lambda: dd.check_jacobian(tridiag, x16)),
        ("differentiable check bumpy x16", lambda: bumpy_d.check(x16)),
    ]]
    return cases


def test_sizes_straddle_the_automatic_choices():
    assert SMALL < MIDDLE < AUTO_REVERSE_MIN_INPUTS <= LARGE
    assert SMALL < AUTO_TAPE_MIN_INPUTS <= MIDDLE


# ---------------------------------------------------------------------------
# Bit-for-bit comparison
# ---------------------------------------------------------------------------

def canonical(result):
    """A flat list of ``(kind, ndarray)`` standing for ``result``: the Python
    type of every leaf and its value as an array (for bytes and dtype)."""
    if isinstance(result, (tuple, list)):
        out = [(f"{type(result).__name__}[{len(result)}]", np.empty(0))]
        for item in result:
            out += canonical(item)
        return out
    if isinstance(result, dd.check.CheckReport):
        fields = ("kind", "passed", "max_abs_error", "max_rel_error", "worst_index",
                  "tolerance", "fd_error_estimate", "tested", "reference", "labels")
        return [("CheckReport", np.empty(0))] + canonical(
            tuple(getattr(result, name) for name in fields))
    if isinstance(result, str):
        return [("str:" + result, np.empty(0))]
    return [(type(result).__name__, np.asarray(result))]


def _bits(a):
    """One row of bytes per element of ``a``."""
    flat = np.ascontiguousarray(a).reshape(-1)
    return flat.view(np.uint8).reshape(flat.size, -1)


def differences(got, want):
    """Why two canonical results differ (empty if they are the same bits)."""
    if len(got) != len(want):
        return [f"{len(got)} leaves against {len(want)}"]
    problems = []
    for k, ((kind_a, a), (kind_b, b)) in enumerate(zip(got, want)):
        if kind_a != kind_b or a.dtype != b.dtype or a.shape != b.shape:
            problems.append(f"leaf {k}: {kind_a} {a.dtype} {a.shape} against "
                            f"{kind_b} {b.dtype} {b.shape}")
        elif not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc") \
                or a.tobytes() != b.tobytes():
            if a.dtype.kind in "fc":
                with np.errstate(all="ignore"):
                    gap = np.nanmax(np.abs(a - b), initial=0.0)
                changed = np.count_nonzero((_bits(a) != _bits(b)).any(axis=1))
                problems.append(f"leaf {k}: {changed} of {a.size} entries differ, by up to "
                                f"{gap:.3e} (got {a!r}, want {b!r})"[:600])
            else:
                problems.append(f"leaf {k}: got {a!r}, want {b!r}"[:600])
    return problems


def _run_case(thunk):
    """``("ok", canonical result)`` or ``("error", traceback)``: warnings are
    errors here (see :func:`_errors_for_warnings`)."""
    try:
        return "ok", canonical(thunk())
    except BaseException:  # reported with the case's label
        return "error", traceback.format_exc()


class _errors_for_warnings(warnings.catch_warnings):
    """Every warning (a ``dd.FallbackWarning``, the tape Hessian's
    ``RuntimeWarning``, one from Numba) raises in whatever thread issued it.
    ``catch_warnings`` is not thread-safe: it swaps the process-wide filter
    list, so it is entered once, in the main thread, before the threads start
    and left after they have all finished; the filter then holds for all of
    them, and a warning comes back as the exception of its call."""

    def __enter__(self):
        super().__enter__()
        warnings.simplefilter("error")


def reference_results():
    """Every case once, in one thread, in this process (the reference when
    run in a fresh interpreter: see the module docstring)."""
    with _errors_for_warnings():
        return {label: _run_case(thunk) for label, thunk, _ in _cases()}


def _start_reference(path):
    """A fresh interpreter writing :func:`reference_results` to ``path``,
    with this dualdiff and this module."""
    code = ("import pickle, sys; sys.path[:0] = sys.argv[1:3]; import dualdiff, test_threads; "
            "assert dualdiff.__file__ == sys.argv[3], dualdiff.__file__; "
            "pickle.dump(test_threads.reference_results(), open(sys.argv[4], 'wb'))")
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(dd.__file__)))
    here = os.path.dirname(os.path.abspath(__file__))
    # compiled code of its own: had it shared the threads' cache folder, the
    # threads would load what it saved first instead of compiling
    env = dict(os.environ, DUALDIFF_CACHE="0")
    return subprocess.Popen([sys.executable, "-c", code, here, package_parent, dd.__file__,
                             str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env)


def _schedule(cases, seed=22):
    """Indices into ``cases`` for ``CALLS`` calls, deterministic.  The first
    round has every case twice in a row (two threads make each first call
    together), the next rounds every case in shuffled order, the slow cases
    (weight 0.1) only in every tenth round."""
    rng = np.random.default_rng(seed)
    order = [int(k) for k in rng.permutation(len(cases)) for _ in range(2)]
    r = 1
    while len(order) < CALLS:
        order += [int(k) for k in rng.permutation([k for k, case in enumerate(cases)
                                                   if case[2] == 1.0 or r % 10 == 0])]
        r += 1
    return order[:CALLS]


# ---------------------------------------------------------------------------
# The test
# ---------------------------------------------------------------------------

def _run_threads(cases, schedule):
    """``[_run_case(cases[k][1]) for k in schedule]`` in ``THREADS`` threads,
    whose first calls start together."""
    barrier = threading.Barrier(THREADS, timeout=300)
    local = threading.local()
    thread_ids = set()

    def call(k):
        if not getattr(local, "started", False):
            local.started = True
            thread_ids.add(threading.get_ident())
            barrier.wait()  # every thread's first call starts at once
        return _run_case(cases[k][1])

    pool = concurrent.futures.ThreadPoolExecutor(THREADS, thread_name_prefix="dd-test")
    futures = [pool.submit(call, k) for k in schedule]
    _, pending = concurrent.futures.wait(futures, timeout=600)
    if pending:  # a deadlock: say where every thread is before failing
        frames = sys._current_frames()
        stacks = "\n".join(f"--- thread {ident}\n" + "".join(traceback.format_stack(frame))
                           for ident, frame in frames.items() if ident in thread_ids)
        pool.shutdown(wait=False, cancel_futures=True)
        raise AssertionError(f"{len(pending)} of {len(futures)} calls still running after "
                             f"600 s:\n{stacks}")
    pool.shutdown()
    assert len(thread_ids) == THREADS
    return [future.result() for future in futures]


def _children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _snapshot(value):
    if isinstance(value, np.ndarray):
        return value.copy(), value.flags.writeable
    if isinstance(value, tuple):
        return tuple(_snapshot(v) for v in value)
    return value


def test_concurrent_first_calls_of_every_operator_match_single_thread_bit_for_bit(tmp_path,
                                                                                 monkeypatch):
    # the threads must compile, not load what an earlier run left in the
    # on-disk cache: an empty cache folder (they save into it concurrently)
    monkeypatch.setenv("DUALDIFF_CACHE_DIR", str(tmp_path / "compile-cache"))
    assert not COMPILES, f"compiled before the threads started: {sorted(set(COMPILES))}"
    cases = _cases()
    labels = [label for label, _, _ in cases]
    assert len(set(labels)) == len(labels)
    schedule = _schedule(cases)
    calls = {label: 0 for label in labels}
    for k in schedule:
        calls[cases[k][0]] += 1
    assert min(calls.values()) >= 2, calls
    inputs_before = {name: _snapshot(value) for name, value in IN.items()}
    inputs_before["SHIFT"] = _snapshot(SHIFT)
    reference_path = tmp_path / "reference.pickle"
    reference_process = _start_reference(reference_path)
    children_cpu = _children_cpu()
    try:
        started, cpu_started = time.perf_counter(), time.process_time()
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL)
        try:
            with _errors_for_warnings():
                threaded = _run_threads(cases, schedule)
        finally:
            sys.setswitchinterval(switch_interval)
        threaded_seconds = time.perf_counter() - started
        threaded_cpu = time.process_time() - cpu_started
        threaded_compiles = list(COMPILES)

        # the same function objects, afterwards, in this thread (see the docstring)
        with _errors_for_warnings():
            after = {label: _run_case(thunk) for label, thunk, _ in cases}

        output, _ = reference_process.communicate(timeout=600)
        assert reference_process.returncode == 0, output.decode(errors="replace")
    finally:
        if reference_process.poll() is None:  # this test failed before reading it
            reference_process.kill()
            reference_process.wait()
    with open(reference_path, "rb") as fh:
        reference = pickle.load(fh)
    assert sorted(reference) == sorted(labels)

    failures = []
    for label, (status, value) in reference.items():
        if status != "ok":
            failures.append(f"{label}: fails in one thread of a fresh process:\n{value}")
    runs = [(f"call {i} (in a thread)", cases[k][0], result)
            for i, (k, result) in enumerate(zip(schedule, threaded))]
    runs += [("the call after the threads", label, result) for label, result in after.items()]
    for where, label, (status, value) in runs:
        if status != "ok":
            failures.append(f"{label}: {where} raised:\n{value}")
        elif reference[label][0] == "ok":
            problems = differences(value, reference[label][1])
            if problems:
                failures.append(f"{label}: {where} differs from the reference: "
                                + "; ".join(problems))
    inputs = dict(IN, SHIFT=SHIFT)
    for name, before in inputs_before.items():
        if differences(canonical(_snapshot(inputs[name])), canonical(before)):
            failures.append(f"input {name} was modified")

    numba.core.event.unregister("numba:compile", _RECORDER)
    compiled = {name for name, _ in threaded_compiles}
    if compiled != set(USER_CODE.values()) \
            or threading.get_ident() in {ident for _, ident in threaded_compiles}:
        failures.append(f"the threads did not make every first compile: {threaded_compiles}")
    print(f"\n{len(schedule)} calls of {len(cases)} cases in {THREADS} threads: "
          f"{threaded_seconds:.1f} s ({threaded_cpu:.1f} s of CPU, {len(threaded_compiles)} "
          f"compiles of the functions); the reference process: "
          f"{_children_cpu() - children_cpu:.1f} s of CPU")
    assert not failures, f"{len(failures)} failures; the first ones:\n" + \
        "\n\n".join(failures[:10])


# ---------------------------------------------------------------------------
# Finite differences by the complex step: a guard made of warning filters
# ---------------------------------------------------------------------------

def _drops_imaginary_part(x):
    """Returns a complex number, but x * x went through a float buffer: the
    complex step must refuse this f (ValueError), never answer 1."""
    for _ in range(3000):  # some work first, as real functions do
        pass
    buffer = np.zeros(1)
    buffer[0] = np.complex128(x * x)  # a ComplexWarning: imaginary part discarded
    return x + buffer[0]


def _complex_safe(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return s


def test_concurrent_complex_steps_keep_the_filters_and_refuse_a_dropped_imaginary_part():
    """dd.fd's complex step makes ComplexWarning an error inside
    ``warnings.catch_warnings()``, which swaps the process-wide filter list:
    unguarded, concurrent calls left a stray filter behind, and a call could
    run f without the filter and answer 1.0 instead of raising (issue 22)."""
    x = np.linspace(-1.0, 1.0, 8)
    with pytest.raises(ValueError, match="discarded the imaginary part"):  # one thread
        dd.fd.derivative(_drops_imaginary_part, 0.7, method="complex")

    def call(k):
        if k % 2:
            return dd.fd.gradient(_complex_safe, x, method="complex")
        try:
            return dd.fd.derivative(_drops_imaginary_part, 0.7, method="complex")
        except ValueError:
            return None

    problems = []
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        for _ in range(20):
            with warnings.catch_warnings():  # in this thread only, around the threads
                # an unguarded call (the race) answers quietly instead of warning
                warnings.simplefilter("ignore", np.exceptions.ComplexWarning)
                before = list(warnings.filters)
                with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
                    results = list(pool.map(call, range(200)))
                stray = [f for f in warnings.filters if f not in before]
            if stray:
                problems.append(f"the threads left {stray} in the process-wide filters")
            answered = [value for k, value in enumerate(results) if k % 2 == 0 and
                        value is not None]
            if answered:
                problems.append(f"{len(answered)} calls answered {answered[0]!r} "
                                "(f dropped the imaginary part) instead of raising")
            if problems:
                break
    finally:
        sys.setswitchinterval(switch_interval)
    assert not problems, problems
