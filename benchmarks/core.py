"""Core suite: dualdiff against plain Numba and hand-written Numba derivatives.

For every problem three things are timed side by side in one process, with
interleaved batches (see :mod:`benchmarks._timing`):

* ``plain``  -- the user's function, ``@njit``-compiled, on floats;
* ``hand``   -- a hand-written ``@njit`` derivative: the floor;
* ``dd.*``   -- dualdiff on the same function object.

Problems
--------
1. scalar derivative of ``f(x) = sqrt(x^2 + exp(x^2)) + cos(x^2 + exp(x^2))``
   at 0.7, called from Python *and* inside a compiled loop over 1000 points
   (the fair comparison: no Python dispatch, only dual arithmetic);
2. Rosenbrock gradient (the loop version) at n = 10, 100, 1000, plus the cost
   of one forward sweep with N = 1, 2, 4, 8 partials relative to the function;
3. Broyden tridiagonal Jacobian at n = 10, 100;
4. first-call (compile) time in fresh processes.

Rows marked ``(diag)`` call dualdiff's compiled driver directly, skipping the
Python-side argument checking and dispatch of the public API.  They use a
private attribute (``dualdiff._engine.target.target_of(f).drivers``) and are only
there to split a dualdiff call into "Python overhead" and "compiled work";
they disappear quietly if that internal changes.
"""

import math

import numpy as np
from numba import njit

import dualdiff as dd
from dualdiff import examples
from dualdiff.forward import choose_chunk

from ._report import environment, fmt_ratio, fmt_us, format_table, log as _log
from ._timing import Case, Settings, compare, first_call

try:  # the in-compiled comparisons build dual numbers / dual arrays directly
    from dualdiff._compiled.dual import make_dual
except ImportError:  # pragma: no cover - internal moved
    make_dual = None
try:
    from dualdiff._compiled.array import wrap_dual_array
except ImportError:  # pragma: no cover - internal moved
    wrap_dual_array = None

N_ROSENBROCK = (10, 100, 1000)
N_BROYDEN = (10, 100)
SWEEP_CHUNKS = (1, 2, 4, 8)
SWEEP_N = 1000
LOOP_POINTS = 1000
X0_SCALAR = 0.7
TARGET_SCALAR_RATIO = 1.5      # dualdiff / hand-written, inside compiled code
TARGET_SWEEP_FACTOR = 1.5      # one sweep with N partials <= 1.5 N x plain
TARGET_FIRST_CALL_S = 1.0


# ===========================================================================
# Problems (module level so the same function objects are reused, and
# dualdiff's per-function driver cache is hit on every timed call)
# ===========================================================================

@njit
def scalar_f(x):
    u = x * x + math.exp(x * x)
    return math.sqrt(u) + math.cos(u)


@njit
def scalar_df(x):
    e = math.exp(x * x)
    u = x * x + e
    return 2.0 * x * (1.0 + e) * (0.5 / math.sqrt(u) - math.sin(u))


@njit
def loop_plain(xs):
    acc = 0.0
    for i in range(xs.shape[0]):
        acc += scalar_f(xs[i])
    return acc


@njit
def loop_hand(xs):
    acc = 0.0
    for i in range(xs.shape[0]):
        acc += scalar_df(xs[i])
    return acc


if make_dual is not None:
    @njit
    def loop_dual(xs):
        acc = 0.0
        for i in range(xs.shape[0]):
            y = scalar_f(make_dual(xs[i], (1.0,), 0))
            acc += y.partials[0]
        return acc
else:  # pragma: no cover
    loop_dual = None


rosenbrock = njit(examples.rosenbrock)


@njit
def rosenbrock_grad(x):
    n = len(x)
    g = np.zeros(n)
    for i in range(n - 1):
        t = x[i + 1] - x[i] * x[i]
        g[i] += -400.0 * x[i] * t - 2.0 * (1.0 - x[i])
        g[i + 1] += 200.0 * t
    return g


@njit
def array_noop(x):
    """Dispatch cost of an @njit call taking one array (reference only)."""
    return x[0]


# the shared problem and its closed-form Jacobian, compiled as the floor
broyden = njit(examples.broyden)
broyden_jac = njit(examples.broyden_jacobian)


_SWEEP_KERNEL_SRC = """
def sweep_kernel(data, reps):
    proto = make_dual(0.0, ({zeros},), 0)
    acc = 0.0
    for r in range(reps):
        acc += f(wrap_dual_array(data, proto)).partials[0]
    return acc
"""
_sweep_kernels = {}


def sweep_kernel(f, N):
    """(diag) @njit loop calling f on a length-n array of Dual[float64, N]
    ``reps`` times: one forward sweep with no driver and no Python around it."""
    if make_dual is None or wrap_dual_array is None:
        return None
    key = (f, N)
    if key not in _sweep_kernels:
        ns = {"f": f, "make_dual": make_dual, "wrap_dual_array": wrap_dual_array}
        exec(_SWEEP_KERNEL_SRC.format(zeros=", ".join(["0.0"] * N)), ns)
        _sweep_kernels[key] = njit(ns["sweep_kernel"])
    return _sweep_kernels[key]


def rosenbrock_x(n):
    return np.linspace(-1.2, 1.1, n)


def broyden_x(n):
    return np.linspace(-0.9, 0.8, n)


# ===========================================================================
# Helpers
# ===========================================================================

def _driver(f, kind):
    """dualdiff's compiled driver for f (one already built), or None."""
    try:
        drivers = dd._engine.target.target_of(f).drivers
        found = [d for key, d in drivers.items() if key[0] == kind and key[2] == ()]
        return found[0] if len(found) == 1 else None
    except Exception:
        return None


def _check(name, got, want, problems):
    err = float(np.max(np.abs(np.asarray(got) - np.asarray(want))))
    scale = float(np.max(np.abs(np.asarray(want)))) or 1.0
    ok = err <= 1e-12 * max(1.0, scale)
    if not ok:
        _log(f"WARNING: {name}: dualdiff differs from the hand-written derivative by {err:g}")
    problems.append({"check": name, "max_abs_diff": err, "ok": ok})
    return err


class Rows:
    """Collects table rows; ratios are taken within one interleaved group."""

    def __init__(self):
        self.rows = []

    def add_group(self, problem, n, timings, hand, plain, notes=None):
        notes = notes or {}
        h = timings[hand].median if hand in timings else None
        p = timings[plain].median if plain in timings else None
        for name, t in timings.items():
            m = t.median
            row = {"problem": problem, "n": n, "tool": name, **t.as_dict(),
                   "ratio_vs_hand": m / h if h else None,
                   "ratio_vs_plain": m / p if p else None}
            if name in notes:
                row["note"] = notes[name]
            self.rows.append(row)
        self.rows.append(None)  # blank line between groups

    def table(self):
        headers = ["problem", "n", "tool", "median us/call", "IQR us", "dd/hand", "dd/plain"]
        out = []
        for r in self.rows:
            if r is None:
                out.append([])
                continue
            out.append([r["problem"], r["n"], r["tool"], fmt_us(r["median_s"]),
                        fmt_us(r["iqr_s"]), fmt_ratio(r["ratio_vs_hand"]),
                        fmt_ratio(r["ratio_vs_plain"])])
        while out and not out[-1]:
            out.pop()
        return format_table(headers, out, align="lrlrrrr")

    def records(self):
        return [r for r in self.rows if r is not None]


# ===========================================================================
# 1. Scalar derivative
# ===========================================================================

def bench_scalar(settings, rows, checks):
    _log("[core] 1. scalar derivative ...")
    x0 = X0_SCALAR
    _check("scalar derivative", dd.derivative(scalar_f, x0), scalar_df(x0), checks)
    cases = [Case("plain f(x)", lambda: scalar_f(x0)),
             Case("hand-written f'(x)", lambda: scalar_df(x0)),
             Case("dd.derivative", lambda: dd.derivative(scalar_f, x0))]
    drv = _driver(scalar_f, "scalar")
    if drv is not None:
        seeds = np.ones((1, 1))
        cases.append(Case("dd driver only (diag)", lambda: drv(x0, seeds, ())))
    timings = compare(cases, settings)
    rows.add_group("1 scalar, Python call", 1, timings,
                   "hand-written f'(x)", "plain f(x)")
    result = {"python_call": {k: v.as_dict() for k, v in timings.items()}}

    if loop_dual is not None:
        xs = np.linspace(0.1, 1.3, LOOP_POINTS)
        _check("scalar derivative, compiled loop", loop_dual(xs), loop_hand(xs), checks)
        cases = [Case("loop: plain f", lambda: loop_plain(xs), LOOP_POINTS),
                 Case("loop: hand-written f'", lambda: loop_hand(xs), LOOP_POINTS),
                 Case("loop: f on Dual[1]", lambda: loop_dual(xs), LOOP_POINTS)]
        timings = compare(cases, settings)
        rows.add_group("1 scalar, in @njit loop", 1, timings,
                       "loop: hand-written f'", "loop: plain f")
        result["in_compiled"] = {k: v.as_dict() for k, v in timings.items()}
        ratio = timings["loop: f on Dual[1]"].median / timings["loop: hand-written f'"].median
        result["in_compiled_ratio_vs_hand"] = ratio
    return result


# ===========================================================================
# 2. Rosenbrock gradient, and the cost of one sweep with N partials
# ===========================================================================

def bench_rosenbrock(settings, rows, checks):
    result = {"by_n": {}, "sweeps": []}
    for n in N_ROSENBROCK:
        _log(f"[core] 2. Rosenbrock gradient n={n} ...")
        x = rosenbrock_x(n)
        _check(f"rosenbrock gradient n={n}", dd.gradient(rosenbrock, x), rosenbrock_grad(x), checks)
        auto = choose_chunk(n)
        cases = [Case("plain f(x)", lambda: rosenbrock(x)),
                 Case("hand-written grad", lambda: rosenbrock_grad(x)),
                 Case(f"dd.gradient (chunk {auto})",
                      lambda: dd.gradient(rosenbrock, x, mode="forward"))]
        drv = _driver(rosenbrock, "chunked") if n == N_ROSENBROCK[0] else None
        if drv is not None:
            cases.append(Case("dd driver only (diag)", lambda: drv(x, ())))
        sweep_names = {}
        if n == SWEEP_N:
            cases.append(Case("njit call overhead (diag)", lambda: array_noop(x)))
            for N in SWEEP_CHUNKS:
                if N == auto:
                    sweep_names[N] = f"dd.gradient (chunk {auto})"
                    continue
                dd.gradient(rosenbrock, x, chunk=N)  # compile outside the timing
                name = f"dd.gradient chunk={N}"
                sweep_names[N] = name
                cases.append(Case(name, lambda N=N: dd.gradient(rosenbrock, x, chunk=N)))
        timings = compare(cases, settings)
        rows.add_group("2 Rosenbrock gradient", n, timings, "hand-written grad", "plain f(x)")
        result["by_n"][n] = {k: v.as_dict() for k, v in timings.items()}
        if n == SWEEP_N:
            kernels = _time_sweep_kernels(x, settings)
            plain = timings["plain f(x)"].median
            overhead = timings["njit call overhead (diag)"].median
            body = max(plain - overhead, 1e-12)
            for N, name in sweep_names.items():
                sweeps = math.ceil(n / N)
                per_sweep = timings[name].median / sweeps
                entry = {"N": N, "n": n, "sweeps": sweeps, "per_sweep_s": per_sweep,
                         "per_sweep_over_plain": per_sweep / plain,
                         "per_sweep_over_plain_body": per_sweep / body,
                         "target": TARGET_SWEEP_FACTOR * N}
                if N in kernels:
                    entry["kernel_per_sweep_s"] = kernels[N]["median"]
                    entry["kernel_plain_s"] = kernels["plain"]["median"]
                    entry["kernel_over_plain"] = kernels[N]["median"] / kernels["plain"]["median"]
                result["sweeps"].append(entry)
    return result


@njit
def _plain_kernel(x, reps):
    acc = 0.0
    for r in range(reps):
        acc += rosenbrock(x)
    return acc


def _time_sweep_kernels(x, settings):
    """(diag) one sweep inside compiled code, against the plain function
    inside compiled code: no Python call, no driver."""
    n, reps = len(x), 20
    cases = [Case("plain", lambda: _plain_kernel(x, reps), reps)]
    for N in SWEEP_CHUNKS:
        kernel = sweep_kernel(rosenbrock, N)
        if kernel is None:
            return {}
        data = np.zeros((n, N + 1))
        data[:, 0] = x
        for k in range(N):
            data[k, 1 + k] = 1.0
        cases.append(Case(N, lambda kernel=kernel, data=data: kernel(data, reps), reps))
    _log("[core] 2. one sweep inside compiled code (diag) ...")
    timings = compare(cases, settings)
    return {k: v.as_dict() | {"median": v.median} for k, v in timings.items()}


def sweep_table(sweeps):
    headers = ["N partials", "sweeps", "us/sweep", "sweep/plain", "sweep/plain body",
               "per partial", f"target <= {TARGET_SWEEP_FACTOR}N", "",
               "in-@njit us/sweep (diag)", "in-@njit sweep/plain (diag)"]
    rows = []
    for s in sweeps:
        r = s["per_sweep_over_plain"]
        kernel = ([fmt_us(s["kernel_per_sweep_s"]), f"{s['kernel_over_plain']:.2f}"]
                  if "kernel_per_sweep_s" in s else ["", ""])
        rows.append([s["N"], s["sweeps"], fmt_us(s["per_sweep_s"]), f"{r:.2f}",
                     f"{s['per_sweep_over_plain_body']:.2f}", f"{r / s['N']:.2f}",
                     f"{s['target']:.1f}", "ok" if r <= s["target"] else "MISSED"] + kernel)
    return format_table(headers, rows, align="rrrrrrrlrr")


# ===========================================================================
# 3. Broyden tridiagonal Jacobian
# ===========================================================================

def bench_broyden(settings, rows, checks):
    result = {}
    for n in N_BROYDEN:
        _log(f"[core] 3. Broyden Jacobian n={n} ...")
        x = broyden_x(n)
        _check(f"broyden jacobian n={n}", dd.jacobian(broyden, x), broyden_jac(x), checks)
        auto = choose_chunk(n)
        cases = [Case("plain F(x)", lambda: broyden(x)),
                 Case("hand-written J (dense)", lambda: broyden_jac(x)),
                 Case(f"dd.jacobian (chunk {auto})", lambda: dd.jacobian(broyden, x))]
        drv = _driver(broyden, "chunked") if n == N_BROYDEN[0] else None
        if drv is not None:
            cases.append(Case("dd driver only (diag)", lambda: drv(x, ())))
        timings = compare(cases, settings)
        rows.add_group("3 Broyden Jacobian", n, timings, "hand-written J (dense)", "plain F(x)")
        result[n] = {k: v.as_dict() for k, v in timings.items()}
    return result


# ===========================================================================
# 4. First call in a fresh process
# ===========================================================================

_ROSEN_SRC = """
def rosenbrock(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s
x = numpy.linspace(-1.2, 1.1, 10)
"""

_SCALAR_SRC = """
import math
def f(x):
    u = x * x + math.exp(x * x)
    return math.sqrt(u) + math.cos(u)
"""

# The ``after`` snippet times the first call on a *second*, identical but
# distinct, function in the same process: what is left once the one-time
# costs of the process (typing dualdiff's overloads, compiling its helpers)
# are paid.
_ROSEN_AFTER = """
def rosenbrock2(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s
"""

_SCALAR_AFTER = """
def f2(x):
    u = x * x + math.exp(x * x)
    return math.sqrt(u) + math.cos(u)
"""

FIRST_CALLS = [
    # (name, imports, setup, call, after, is a dualdiff target)
    ("plain njit rosenbrock(x), n=10", "", _ROSEN_SRC + "rosenbrock = numba.njit(rosenbrock)",
     "rosenbrock(x)", _ROSEN_AFTER + "numba.njit(rosenbrock2)(x)", False),
    ("dd.gradient(rosenbrock, x), n=10", "import dualdiff as dd", _ROSEN_SRC,
     "dd.gradient(rosenbrock, x)", _ROSEN_AFTER + "dd.gradient(rosenbrock2, x)", True),
    ("plain njit f(0.7)", "", _SCALAR_SRC + "f = numba.njit(f)", "f(0.7)",
     _SCALAR_AFTER + "numba.njit(f2)(0.7)", False),
    ("dd.derivative(f, 0.7)", "import dualdiff as dd", _SCALAR_SRC,
     "dd.derivative(f, 0.7)", _SCALAR_AFTER + "dd.derivative(f2, 0.7)", True),
]


def bench_first_calls(settings):
    out = []
    for name, imports, setup, call, after, is_target in FIRST_CALLS:
        _log(f"[core] 4. first call: {name} ({settings.first_call_reps} fresh process(es)) ...")
        fc = first_call(name, call, setup=setup, imports=imports, after=after,
                        reps=settings.first_call_reps)
        out.append({"name": name, "dualdiff": is_target, **fc.as_dict()})
    return out


def first_call_table(first):
    headers = ["first call in a fresh process", "import numpy+numba", "import dualdiff",
               "first call", "(min-max)", "first call cpu", "second call us",
               "imports+first", "imports+first cpu", "2nd function's first call cpu",
               "process wall"]
    rows = []
    for fc in first:
        med, lo, hi = fc["median"], fc["min"], fc["max"]
        rows.append([
            fc["name"], f"{med['import_numpy_numba_s']:.2f} s",
            f"{med['import_tool_s']:.2f} s" if fc["dualdiff"] else "-",
            f"{med['first_call_s']:.2f} s",
            f"{lo['first_call_s']:.2f}-{hi['first_call_s']:.2f}",
            f"{med['cpu_first_call_s']:.2f} s",
            fmt_us(med["second_call_s"]), f"{med['imports_and_first_call_s']:.2f} s",
            f"{med['cpu_imports_and_first_call_s']:.2f} s",
            f"{med['cpu_after_s']:.2f} s" if "cpu_after_s" in med else "",
            f"{med['process_wall_s']:.2f} s"])
    return format_table(headers, rows, align="lrrrrrrrrrr")


# ===========================================================================
# Targets and the run
# ===========================================================================

def clock_name(clock):
    return {"cpu": "thread CPU time", "wall": "wall time"}.get(clock, clock)


def _targets(scalar, rosen, first):
    lines, verdicts = [], []

    def verdict(ok, text):
        verdicts.append({"target": text, "met": bool(ok)})
        lines.append(f"  [{'ok' if ok else 'MISSED'}] {text}")

    if "in_compiled_ratio_vs_hand" in scalar:
        r = scalar["in_compiled_ratio_vs_hand"]
        verdict(r <= TARGET_SCALAR_RATIO,
                f"scalar derivative inside compiled code: dualdiff/hand-written = {r:.2f} "
                f"(target <= {TARGET_SCALAR_RATIO})")
    py = scalar["python_call"]
    r_api = py["dd.derivative"]["median_s"] / py["hand-written f'(x)"]["median_s"]
    lines.append(f"  [info] scalar derivative through the Python API: dd.derivative/hand-written "
                 f"= {r_api:.1f} (dominated by per-call Python overhead)")
    if "dd driver only (diag)" in py:
        api = py["dd.derivative"]["median_s"]
        drv = py["dd driver only (diag)"]["median_s"]
        lines.append(f"  [info] dd.derivative = {fmt_us(api)} us, of which compiled driver "
                     f"{fmt_us(drv)} us and Python-side checks/dispatch {fmt_us(api - drv)} us")
    for s in rosen["sweeps"]:
        verdict(s["per_sweep_over_plain"] <= s["target"],
                f"Rosenbrock n={s['n']}: one sweep with N={s['N']} partials = "
                f"{s['per_sweep_over_plain']:.2f} x plain (target <= {s['target']:.1f})")
    for fc in first:
        if fc["dualdiff"]:
            med = fc["median"]
            t, cpu = med["first_call_s"], med["cpu_first_call_s"]
            verdict(max(t, cpu) < TARGET_FIRST_CALL_S,
                    f"first call {fc['name']}: {t:.2f} s wall, {cpu:.2f} s cpu, after import "
                    f"(+ {med['import_tool_s']:.2f} s import dualdiff; "
                    f"target < {TARGET_FIRST_CALL_S:.0f} s)")
            if "cpu_after_s" in med:
                lines.append(f"  [info] ... the same call on a second function in that process: "
                             f"{med['after_s']:.2f} s wall, {med['cpu_after_s']:.2f} s cpu "
                             "(the rest of the first call is paid once per process)")
    return lines, verdicts


def run(quick=False, clock="cpu"):
    settings = Settings.for_mode(quick, clock)
    env = environment()
    rows = Rows()
    checks = []
    scalar = bench_scalar(settings, rows, checks)
    rosen = bench_rosenbrock(settings, rows, checks)
    broy = bench_broyden(settings, rows, checks)
    first = bench_first_calls(settings)

    print()
    print(f"dualdiff core benchmarks  ({'quick' if quick else 'full'} run; "
          f"{settings.batches} interleaved batches of ~{settings.batch_seconds * 1e3:.0f} ms "
          f"per case; median and IQR over batches; clock: {clock_name(settings.clock)})")
    print(f"python {env['python']}, numpy {env['numpy']}, numba {env['numba']}, "
          f"{env['cpu_count']} cpus, {env['date']}")
    if "dualdiff_source_sha256" in env:
        print(f"dualdiff source sha256 {env['dualdiff_source_sha256']} "
              f"(newest edit {env['dualdiff_source_newest_edit']})")
    print("dd/hand and dd/plain: this row's median over the hand-written and the plain row "
          "of the same group")
    print()
    print(rows.table())
    print()
    print(f"One forward sweep with N partials vs the plain function (Rosenbrock n={SWEEP_N}; "
          "dd.gradient time / sweeps / plain f(x) time;")
    print("'plain body' subtracts the dispatch cost of an @njit call on one array; the in-@njit "
          "columns time one sweep")
    print("called from a compiled loop on a dual array, against the plain function called from "
          "a compiled loop)")
    print(sweep_table(rosen["sweeps"]))
    print()
    print("First call (compilation included), median of "
          f"{settings.first_call_reps} fresh process(es); 'cpu' = process CPU time, the "
          "better estimate on a busy machine")
    print(first_call_table(first))
    print()
    lines, verdicts = _targets(scalar, rosen, first)
    print("Targets")
    print("\n".join(lines))
    bad = [c for c in checks if not c["ok"]]
    print(f"  [{'ok' if not bad else 'WRONG'}] dualdiff results equal the hand-written "
          f"derivatives ({len(checks)} checks"
          + (f"; {len(bad)} differ: {', '.join(c['check'] for c in bad)}" if bad else "")
          + ")")

    return {
        "suite": "core", "quick": quick, "environment": env,
        "settings": {"clock": settings.clock,
                     "batches": settings.batches, "batch_seconds": settings.batch_seconds,
                     "warmup_calls": settings.warmup_calls,
                     "first_call_reps": settings.first_call_reps},
        "rows": rows.records(), "scalar": scalar,
        "rosenbrock": {"by_n": {str(k): v for k, v in rosen["by_n"].items()},
                       "sweeps": rosen["sweeps"]},
        "broyden": {str(k): v for k, v in broy.items()},
        "first_call": first, "targets": verdicts, "checks": checks,
    }
