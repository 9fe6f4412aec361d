"""Latency suite: the first derivative as a user meets it, in fresh processes.

Every case runs in its own fresh Python process, from a script written to a
temporary folder and run as ``python script.py`` (the functions live in a
real source file, as a user's do).  Each case runs in three states:

* ``cold`` -- an empty on-disk cache: a new temporary folder passed as
  ``DUALDIFF_CACHE_DIR``;
* ``warm`` -- a second process, same script, same cache folder;
* ``off``  -- ``DUALDIFF_CACHE=0`` (and a separate empty folder, so nothing
  is read or written anywhere else).

"Cold" means dualdiff's on-disk cache (:mod:`dualdiff.cache`) is empty;
dualdiff's own ``cache=True`` kernels (tape sweeps, block kernels,
allocators) load from the package's ``__pycache__`` as installed.  When
they were compiled in the process instead (stale after an edit of
dualdiff's sources), the table says so.

Per process it records, from ``import dualdiff`` done to the first result:
the process's CPU time (``time.process_time()``) and wall time, the number
of Numba compilations (``numba:compile`` events, listened to with
:mod:`numba.core.event`, also split by the module of the compiled function
in the JSON), and ``dd.cache.info()["this_process"]`` (entries loaded,
missed, saved) when ``dd.cache`` exists; also the import itself (Numba and
dualdiff), a repeat call, and a digest of the result (cold, warm and off
must give bit-identical results).

Cases (the table of issue 16):

1. ``dd.gradient`` of the loop Rosenbrock, n = 10 (``mode="auto"`` picks
   forward mode at this size);
2. a second, similar function in the same process: after case 1's first
   gradient, the first gradient of a valley function with a different body;
3. ``dd.gradient(mode="reverse")`` of Rosenbrock, n = 200;
4. ``dd.hessian`` of Rosenbrock, n = 10;
5. ``dd.jacobian`` of the Broyden tridiagonal function, n = 10;
6. a structured MLP: ``dd.gradient(loss, (W1, b1, W2, b2), args=(X, y))``,
   tanh hidden layer, sigmoid output, squared loss, written with array
   operations (the vectorised loss of the reverse-mode tests);
7. ``python -m dualdiff``, the demo (run through ``runpy`` in the process,
   so its compilations are counted; its target is the wall time of the whole
   process, interpreter start-up included).

Quick: one process per case and state; full: three, medians.  The targets of
issue 16 are printed as a check column (met / MISSED); nothing fails.  The
``--clock`` option does not apply: every figure is given as CPU and as wall
time, and the targets are CPU seconds (the demo's: wall seconds).
"""

import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time

from dualdiff import examples

from ._report import environment, fmt_us, format_table, log as _log

STATES = ("cold", "warm", "off")
REPS_FULL = 3
REPS_QUICK = 1
PROCESS_TIMEOUT_S = 900

# issue 16, "Done when" (CPU seconds from import done to first result;
# the demo: wall seconds of the whole process)
TARGET_WARM_S = 0.5
TARGET_SECOND_S = 0.1
TARGET_DEMO_WARM_WALL_S = 5.0
TARGET_COLD_S = {"gradient": 1.0, "jacobian": 1.0, "hessian": 1.2, "reverse": 2.0,
                 "mlp": 6.0}


# ===========================================================================
# The snippets
# ===========================================================================

_ROSENBROCK = """
def rosenbrock(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s
"""

# similar to Rosenbrock, a different body (another function object, another
# bytecode): what a second function costs once the process has paid its
# one-time costs
_VALLEY = """
def valley(x):
    s = 0.0
    for i in range(len(x) - 1):
        d = x[i + 1] - x[i] * x[i]
        s += 50.0 * d * d + (2.0 - x[i]) ** 2
    return s
"""

# the user's Broyden function, as written in dualdiff.examples (source, not an import:
# the cache needs it defined in the snippet's own file)
_BROYDEN = "\n" + inspect.getsource(examples.broyden)

# tests/test_reverse.py: mlp_loss_vectorised and _mlp_problem (a larger batch)
_MLP = """
def loss(params, X, y):
    W1, b1, W2, b2 = params
    h = np.tanh(X @ W1 + b1)
    out = h @ W2[:, 0] + b2
    p = 1.0 / (1.0 + np.exp(-out))
    return 0.5 * np.sum((p - y) ** 2)


rng = np.random.default_rng(0)
n_in, n_hidden, batch = 8, 16, 32
params = (rng.normal(size=(n_in, n_hidden)), rng.normal(size=n_hidden),
          rng.normal(size=(n_hidden, 1)), 0.3)
X = rng.normal(size=(batch, n_in))
y = rng.uniform(size=batch)
"""

_DEMO = """
import contextlib
import io
import runpy


def demo():
    # python -m dualdiff, in this process (its output swallowed)
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            runpy.run_module("dualdiff", run_name="__main__", alter_sys=True)
        except SystemExit as stop:
            if stop.code not in (0, None):
                raise
"""


def _x(n):
    return f"x = np.linspace(-1.2, 1.1, {n})\n"


#: key, label, setup, first call, second call (another function, same
#: process) or None, whether to time a repeat call
CASES = [
    ("gradient", "dd.gradient, Rosenbrock n=10 (forward)", _ROSENBROCK + _VALLEY + _x(10),
     "dd.gradient(rosenbrock, x)", "dd.gradient(valley, x)", True),
    ("reverse", 'dd.gradient(mode="reverse"), n=200', _ROSENBROCK + _x(200),
     'dd.gradient(rosenbrock, x, mode="reverse")', None, True),
    ("hessian", "dd.hessian, Rosenbrock n=10", _ROSENBROCK + _x(10),
     "dd.hessian(rosenbrock, x)", None, True),
    ("jacobian", "dd.jacobian, Broyden n=10", _BROYDEN + _x(10),
     "dd.jacobian(broyden, x)", None, True),
    ("mlp", "MLP (W1, b1, W2, b2), args=(X, y)", _MLP,
     "dd.gradient(loss, params, args=(X, y))", None, True),
    ("demo", "python -m dualdiff (the demo)", _DEMO, "demo()", None, False),
]

SECOND_LABEL = "  a second, similar function"

_CHILD = '''\
import time
_W0, _C0 = time.perf_counter(), time.process_time()
import numba.core.event as _ev


class _Compilations(_ev.Listener):
    """Counts Numba compilations: ``numba:compile`` start events."""

    def __init__(self):
        self.count = 0
        self.by_module = {{}}
        self.package_kernels = 0

    def on_start(self, event):
        self.count += 1
        dispatcher = (event.data or {{}}).get("dispatcher")
        module = getattr(getattr(dispatcher, "py_func", None), "__module__", None)
        root = {{"__main__": "user", None: "generated"}}.get(module) or module.split(".")[0]
        self.by_module[root] = self.by_module.get(root, 0) + 1
        # one of dualdiff's own cache=True kernels compiled, not loaded
        if root == "dualdiff" and \\
                type(getattr(dispatcher, "_cache", None)).__name__ == "FunctionCache":
            self.package_kernels += 1

    def on_end(self, event):
        pass

    def take(self):
        out = {{"compilations": self.count, "compilations_by_module": dict(self.by_module),
               "package_kernels_compiled": self.package_kernels}}
        self.__init__()
        return out


_COMPILATIONS = _Compilations()
_ev.register("numba:compile", _COMPILATIONS)
import dualdiff as dd
_W1, _C1 = time.perf_counter(), time.process_time()

import hashlib
import inspect
import json
import sys

import numpy as np

try:
    import dualdiff.cache as _DD_CACHE
except ImportError:
    _DD_CACHE = None


def _cache_counts():
    if _DD_CACHE is None:
        return None
    try:
        return dict(_DD_CACHE.info()["this_process"])
    except Exception:
        return None


def _digest(value):
    if value is None:
        return None
    h = hashlib.sha256()
    for part in (value if isinstance(value, tuple) else (value,)):
        h.update(np.ascontiguousarray(np.asarray(part, dtype=np.float64)).tobytes())
    return h.hexdigest()[:16]


_OUT = {{"import_wall_s": _W1 - _W0, "import_cpu_s": _C1 - _C0,
        "import_compilations": _COMPILATIONS.take()["compilations"]}}


def _measure(key, thunk, repeat):
    before = _cache_counts()
    _COMPILATIONS.take()
    w0, c0 = time.perf_counter(), time.process_time()
    value = thunk()
    w1, c1 = time.perf_counter(), time.process_time()
    rec = {{"wall_s": w1 - w0, "cpu_s": c1 - c0}}
    rec.update(_COMPILATIONS.take())
    after = _cache_counts()
    rec["cache"] = None if after is None else {{
        k: v - (before or {{}}).get(k, 0) for k, v in after.items()}}
    if repeat:
        w0 = time.perf_counter()
        thunk()
        rec["repeat_call_s"] = time.perf_counter() - w0
    rec["digest"] = _digest(value)
    _OUT[key] = rec


{setup}

_measure("first", lambda: {call}, {repeat})
if {has_second}:
    _measure("second", lambda: {second}, {repeat})
_OUT["cache_enabled"] = None if _DD_CACHE is None else bool(_DD_CACHE.enabled())
sys.stdout.write("@@RESULT@@" + json.dumps(_OUT) + "\\n")
'''


def _child_source(setup, call, second, repeat):
    return _CHILD.format(setup=textwrap.dedent(setup).strip(), call=call,
                         second=second or "None", has_second=second is not None,
                         repeat=bool(repeat))


# ===========================================================================
# Running the processes
# ===========================================================================

def _child_cpu():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _run_process(script, folder, env, name):
    """One fresh process; its in-process record plus the wall and CPU time of
    the whole process as seen from here (interpreter start-up included)."""
    cpu0, t0 = _child_cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, script], capture_output=True, text=True,
                          timeout=PROCESS_TIMEOUT_S, env=env, cwd=folder)
    wall, cpu = time.perf_counter() - t0, _child_cpu() - cpu0
    marker = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@RESULT@@")]
    if proc.returncode != 0 or not marker:
        raise RuntimeError(f"latency case {name!r} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-3000:]}")
    run = json.loads(marker[-1][len("@@RESULT@@"):])
    run["process_wall_s"], run["process_cpu_s"] = wall, cpu
    return run


def _environ(**changes):
    env = dict(os.environ)
    for name in ("NUMBA_DISABLE_JIT", "DUALDIFF_CACHE", "DUALDIFF_CACHE_DIR"):
        env.pop(name, None)
    env.update(changes)
    return env


def measure_case(case, reps, states):
    """``{state: [run, ...]}`` for one case: per repetition a new folder with
    the script and an empty cache; cold, then warm on the same cache, then
    off on a separate empty folder."""
    key, label, setup, call, second, repeat = case
    runs = {s: [] for s in states}
    for rep in range(reps):
        with tempfile.TemporaryDirectory(prefix="dualdiff-latency-") as tmp:
            script = os.path.join(tmp, f"latency_{key}.py")
            with open(script, "w") as fh:
                fh.write(_child_source(setup, call, second, repeat))
            cache = os.path.join(tmp, "cache")
            envs = {"cold": _environ(DUALDIFF_CACHE_DIR=cache),
                    "warm": _environ(DUALDIFF_CACHE_DIR=cache),
                    "off": _environ(DUALDIFF_CACHE="0",
                                    DUALDIFF_CACHE_DIR=os.path.join(tmp, "cache-off"))}
            for state in states:
                _log(f"[latency] {label}: {state} ({rep + 1}/{reps}) ...")
                run = _run_process(script, tmp, envs[state], f"{key} {state}")
                _log(f"[latency]   {run['first']['cpu_s']:.2f} s cpu, "
                     f"{run['first']['compilations']} compilations, process "
                     f"{run['process_wall_s']:.1f} s wall")
                runs[state].append(run)
    return runs


# ===========================================================================
# Summaries and tables
# ===========================================================================

def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _summary(runs, part):
    """Medians over the runs of one state for ``part`` ("first"/"second")."""
    recs = [r[part] for r in runs]
    out = {k: _median([r.get(k) for r in recs])
           for k in ("cpu_s", "wall_s", "compilations", "package_kernels_compiled",
                     "repeat_call_s")}
    caches = [r["cache"] for r in recs if r.get("cache") is not None]
    out["cache"] = ({k: _median([c.get(k, 0) for c in caches]) for k in caches[0]}
                    if caches else None)
    for k in ("import_cpu_s", "import_wall_s", "import_compilations", "process_wall_s",
              "process_cpu_s"):
        out[k] = _median([r[k] for r in runs])
    out["digests"] = sorted({r["digest"] for r in recs if r.get("digest")})
    return out


def _s(seconds, digits=2):
    return "-" if seconds is None else f"{seconds:.{digits}f}"


def _cache_text(cache):
    if not cache:
        return "-"
    text = f"{cache.get('loaded', 0):g}/{cache.get('missed', 0):g}/{cache.get('saved', 0):g}"
    extra = [f"{cache[k]:g} {k}" for k in ("damaged", "uncacheable") if cache.get(k)]
    return text + (f" ({', '.join(extra)})" if extra else "")


def _rows(results, states):
    """(label, key, part) for every table row: the cases, the second function
    right after the case that measures it."""
    rows = []
    for key, label, _, _, second, _ in CASES:
        if key not in results:
            continue
        rows.append((label, key, "first"))
        if second is not None:
            rows.append((SECOND_LABEL, key, "second"))
    return rows


def detail_table(results, states):
    headers = ["operation", "state", "import cpu", "first result cpu", "wall", "compilations",
               "cache loaded/missed/saved", "repeat call us", "process wall"]
    rows = []
    for label, key, part in _rows(results, states):
        for i, state in enumerate(states):
            m = results[key]["summary"][state][part]
            second = part == "second"
            rows.append([label if i == 0 else "", state,
                         "" if second else f"{_s(m['import_cpu_s'])} s",
                         f"{_s(m['cpu_s'])} s", f"{_s(m['wall_s'])} s",
                         f"{m['compilations']:g}", _cache_text(m["cache"]),
                         "-" if m["repeat_call_s"] is None else fmt_us(m["repeat_call_s"]),
                         "" if second else f"{_s(m['process_wall_s'], 1)} s"])
    return format_table(headers, rows, align="llrrrrrrr")


def _verdict(value, target):
    if value is None or target is None:
        return "-", None
    ok = value <= target
    return ("met" if ok else "MISSED"), ok


def _targets(key, part):
    """(figure name, cold target, warm target) for one row."""
    if key == "demo":
        return "process_wall_s", None, TARGET_DEMO_WARM_WALL_S
    if part == "second":
        return "cpu_s", None, TARGET_SECOND_S
    return "cpu_s", TARGET_COLD_S.get(key), TARGET_WARM_S


def target_table(results, states):
    headers = ["operation", "figure", "cold", "target", "check", "warm", "target", "check"]
    if "off" in states:
        headers.append("off")
    headers.append("same result")
    rows, verdicts = [], []
    for label, key, part in _rows(results, states):
        figure, cold_target, warm_target = _targets(key, part)
        summ = results[key]["summary"]
        row = [label.strip(), "process wall" if figure == "process_wall_s" else "cpu"]
        for state, target in (("cold", cold_target), ("warm", warm_target)):
            value = summ[state][part][figure] if state in summ else None
            text, ok = _verdict(value, target)
            row += [f"{_s(value)} s", "-" if target is None else f"<= {target:g} s", text]
            if ok is not None:
                verdicts.append({"case": key, "part": part, "state": state, "figure": figure,
                                 "value_s": value, "target_s": target, "met": ok,
                                 "target": f"{label.strip()}, {state}: {value:.2f} s "
                                           f"({figure}; target <= {target:g} s)"})
        if "off" in states:
            row.append(f"{_s(summ['off'][part][figure])} s")
        digests = set()
        for state in states:
            digests.update(summ[state][part]["digests"])
        row.append("-" if not digests else ("yes" if len(digests) == 1 else "DIFFERENT"))
        rows.append(row)
    return format_table(headers, rows, align="llrrlrrl" + "r" * ("off" in states) + "l"), \
        verdicts


# ===========================================================================
# The run
# ===========================================================================

def run(quick=False, clock="cpu"):
    reps = REPS_QUICK if quick else REPS_FULL
    states = STATES
    env = environment()
    results = {}
    t0 = time.perf_counter()
    for case in CASES:
        key, label, _, _, second, _ = case
        runs = measure_case(case, reps, states)
        summary = {s: {"first": _summary(runs[s], "first")} for s in states}
        if second is not None:
            for s in states:
                summary[s]["second"] = _summary(runs[s], "second")
        results[key] = {"label": label, "call": case[3], "second_call": second,
                        "runs": runs, "summary": summary}
    elapsed = time.perf_counter() - t0

    print()
    print(f"dualdiff latency: the first result in fresh processes ({'quick' if quick else 'full'}"
          f" run; {'median of ' + str(reps) if reps > 1 else str(reps)} process(es) per case "
          f"and state; {elapsed:.0f} s)")
    print(f"python {env['python']}, numpy {env['numpy']}, numba {env['numba']}, "
          f"{env['cpu_count']} cpus, {env['date']}")
    if "dualdiff_source_sha256" in env:
        print(f"dualdiff source sha256 {env['dualdiff_source_sha256']} "
              f"(newest edit {env['dualdiff_source_newest_edit']})")
    enabled = {s: {r.get("cache_enabled") for k in results for r in results[k]["runs"][s]}
               for s in states}
    if all(e == {None} for e in enabled.values()):
        print("dd.cache does not exist in this dualdiff: no on-disk cache, warm = cold = off")
    print("cold: empty DUALDIFF_CACHE_DIR; warm: a second process on the same folder; "
          "off: DUALDIFF_CACHE=0")
    print("first result: from `import dualdiff` done to the first result (setup excluded); "
          "cpu = process CPU time;")
    print("import: numba + dualdiff; compilations: numba:compile events in that span; "
          "cache: dd.cache.info()['this_process'] counts in that span;")
    print(f"'{SECOND_LABEL.strip()}': the first gradient of another function right after "
          "the first one, in the same process")
    print()
    print(detail_table(results, states))
    stale = [(results[k]["label"], s) for k in results for s in states
             if any(r["first"].get("package_kernels_compiled") for r in results[k]["runs"][s])]
    if stale:
        print("note: dualdiff's own cache=True kernels were compiled, not loaded, in: "
              + "; ".join(f"{label} ({s})" for label, s in stale)
              + " (the package's cache was stale or missing)")
    print()
    print("Targets of issue 16 (CPU seconds from import done to first result; the demo: wall "
          "seconds of the whole process)")
    table, verdicts = target_table(results, states)
    print(table)
    met = sum(v["met"] for v in verdicts)
    print(f"{met} of {len(verdicts)} targets met")

    return {"suite": "latency", "quick": quick, "environment": env,
            "settings": {"reps": reps, "states": list(states), "clock": "process cpu and wall",
                         "targets": {"warm_s": TARGET_WARM_S, "second_s": TARGET_SECOND_S,
                                     "demo_warm_wall_s": TARGET_DEMO_WARM_WALL_S,
                                     "cold_s": TARGET_COLD_S}},
            "cases": results, "targets": verdicts, "measured_s": elapsed}
