"""Hessian suite: dd.hessian against the plain function and a hand-written Hessian.

For every problem, timed side by side in one process with interleaved
batches (see :mod:`benchmarks._timing`):

* ``plain``  -- the user's function, ``@njit``-compiled, on floats;
* ``hand``   -- a hand-written ``@njit`` Hessian: the floor;
* ``dd.hessian`` -- dualdiff on the same (uncompiled) function object, in
  its default mode (``"auto"``: forward below
  ``dd.second.AUTO_TAPE_MIN_INPUTS`` inputs, reverse from there on);
* ``dd.hessian mode='forward'`` -- forward over forward (hyper-dual numbers,
  ``k (k + 1) / 2`` block sweeps);
* ``dd.hessian mode='reverse'`` -- forward over reverse (one tape with
  second partials, one tangent and one backward pass per chunk of 32
  directions).

Problems
--------
1. Rosenbrock (the loop version), n = 10 and 50;
2. log-sum-exp of ``A @ x`` for a 20 x n matrix ``A``, written with loops,
   n = 10 and 50 (H = Aᵀ (diag(p) - p pᵀ) A, p = softmax(A x));
3. first call (compile included) of ``dd.hessian`` in fresh processes.

Target (issue 4): dd.hessian within 5x of the hand-written Hessian at n = 10,
and a first call under 2 s.
"""

import math

import numpy as np
from numba import njit

import dualdiff as dd
from dualdiff import examples

from ._report import environment, fmt_ratio, fmt_us, format_table, log as _log
from ._timing import Case, Settings, compare, first_call

N_VALUES = (10, 50)
ROWS_LSE = 20
TARGET_RATIO_N10 = 5.0
TARGET_FIRST_CALL_S = 2.0


# ===========================================================================
# Problems (module level: the same function objects on every timed call)
# ===========================================================================

rosenbrock = examples.rosenbrock


@njit
def rosenbrock_hessian(x):
    n = len(x)
    H = np.zeros((n, n))
    for i in range(n - 1):
        H[i, i] += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0
        H[i, i + 1] = -400.0 * x[i]
        H[i + 1, i] = -400.0 * x[i]
        H[i + 1, i + 1] += 200.0
    return H


def logsumexp(x, A):
    """log(sum_i exp((A x)_i)), loop style (shifted by the largest term)."""
    m, n = A.shape
    big = -np.inf
    for i in range(m):
        s = 0.0
        for j in range(n):
            s += A[i, j] * x[j]
        if s > big:
            big = s
    total = 0.0
    for i in range(m):
        s = 0.0
        for j in range(n):
            s += A[i, j] * x[j]
        total += math.exp(s - big)
    return big + math.log(total)


@njit
def logsumexp_hessian(x, A):
    m, n = A.shape
    z = A @ x
    p = np.exp(z - z.max())
    p /= p.sum()
    Ap = A.T @ p                      # (n,)
    H = np.empty((n, n))
    for a in range(n):
        for b in range(a, n):
            s = 0.0
            for i in range(m):
                s += p[i] * A[i, a] * A[i, b]
            H[a, b] = H[b, a] = s - Ap[a] * Ap[b]
    return H


rosenbrock_plain = njit(rosenbrock)
logsumexp_plain = njit(logsumexp)


def _check(name, got, want, checks):
    err = float(np.max(np.abs(got - want)))
    ok = err <= 1e-12 * max(1.0, float(np.max(np.abs(want))))
    if not ok:
        _log(f"WARNING: {name}: dd.hessian differs from the hand-written Hessian by {err:g}")
    checks.append({"check": name, "max_abs_diff": err, "ok": ok})


# ===========================================================================
# Steady state
# ===========================================================================

def bench_problem(label, f, plain, hand, x, args, settings, rows, checks):
    n = len(x)
    _log(f"[hessian] {label} n={n} ...")
    _check(f"{label} n={n}", dd.hessian(f, x, args=args), hand(x, *args), checks)
    for mode in ("forward", "reverse"):
        _check(f"{label} n={n} (mode={mode})", dd.hessian(f, x, args=args, mode=mode),
               hand(x, *args), checks)
    cases = [Case("plain f(x)", lambda: plain(x, *args)),
             Case("hand-written Hessian", lambda: hand(x, *args)),
             Case("dd.hessian", lambda: dd.hessian(f, x, args=args)),
             Case("dd.hessian mode='forward'",
                  lambda: dd.hessian(f, x, args=args, mode="forward")),
             Case("dd.hessian mode='reverse'",
                  lambda: dd.hessian(f, x, args=args, mode="reverse"))]
    timings = compare(cases, settings)
    h = timings["hand-written Hessian"].median
    p = timings["plain f(x)"].median
    for name, t in timings.items():
        rows.append({"problem": label, "n": n, "tool": name, **t.as_dict(),
                     "ratio_vs_hand": t.median / h, "ratio_vs_plain": t.median / p})
    rows.append(None)
    return timings


def table(rows):
    headers = ["problem", "n", "tool", "median us/call", "IQR us", "/hand", "/plain"]
    out = []
    for r in rows:
        if r is None:
            out.append([])
            continue
        out.append([r["problem"], r["n"], r["tool"], fmt_us(r["median_s"]), fmt_us(r["iqr_s"]),
                    fmt_ratio(r["ratio_vs_hand"]), fmt_ratio(r["ratio_vs_plain"])])
    while out and not out[-1]:
        out.pop()
    return format_table(headers, out, align="lrlrrrr")


# ===========================================================================
# First call in a fresh process
# ===========================================================================

_ROSEN_SRC = """
def rosenbrock(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return s
x = numpy.linspace(-1.2, 1.1, 10)
"""

_LSE_SRC = """
import math
def logsumexp(x, A):
    m, n = A.shape
    total = 0.0
    for i in range(m):
        s = 0.0
        for j in range(n):
            s += A[i, j] * x[j]
        total += math.exp(s)
    return math.log(total)
x = numpy.linspace(-0.5, 0.5, 10)
A = numpy.cos(numpy.arange(200.0)).reshape(20, 10)
"""

FIRST_CALLS = [
    ("dd.hessian(rosenbrock, x), n=10", _ROSEN_SRC, "dd.hessian(rosenbrock, x)"),
    ("dd.hessian(logsumexp, x, args=(A,)), n=10", _LSE_SRC,
     "dd.hessian(logsumexp, x, args=(A,))"),
    # the tape Hessian (the default from n = 13 on), reported without a target
    ("dd.hessian(rosenbrock, x, mode='reverse'), n=10", _ROSEN_SRC,
     "dd.hessian(rosenbrock, x, mode='reverse')"),
]


def bench_first_calls(settings):
    out = []
    for name, setup, call in FIRST_CALLS:
        _log(f"[hessian] first call: {name} ({settings.first_call_reps} fresh process(es)) ...")
        fc = first_call(name, call, setup=setup, imports="import dualdiff as dd",
                        reps=settings.first_call_reps)
        out.append({"name": name, **fc.as_dict()})
    return out


def first_call_table(first):
    headers = ["first call in a fresh process", "import dualdiff", "first call", "(min-max)",
               "first call cpu", "second call us"]
    rows = []
    for fc in first:
        med, lo, hi = fc["median"], fc["min"], fc["max"]
        rows.append([fc["name"], f"{med['import_tool_s']:.2f} s", f"{med['first_call_s']:.2f} s",
                     f"{lo['first_call_s']:.2f}-{hi['first_call_s']:.2f}",
                     f"{med['cpu_first_call_s']:.2f} s", fmt_us(med["second_call_s"])])
    return format_table(headers, rows, align="lrrrrr")


# ===========================================================================
# The run
# ===========================================================================

def run(quick=False, clock="cpu"):
    settings = Settings.for_mode(quick, clock)
    env = environment()
    rows, checks, ratios = [], [], {}
    rng = np.random.default_rng(4)
    for n in N_VALUES:
        x = np.linspace(-1.2, 1.1, n)
        t = bench_problem("Rosenbrock", rosenbrock, rosenbrock_plain, rosenbrock_hessian,
                          x, (), settings, rows, checks)
        ratios[("Rosenbrock", n)] = t["dd.hessian"].median / t["hand-written Hessian"].median
    for n in N_VALUES:
        A = rng.normal(size=(ROWS_LSE, n)) / math.sqrt(n)
        x = rng.normal(size=n)
        t = bench_problem(f"log-sum-exp A ({ROWS_LSE}xn)", logsumexp, logsumexp_plain,
                          logsumexp_hessian, x, (A,), settings, rows, checks)
        ratios[("log-sum-exp", n)] = t["dd.hessian"].median / t["hand-written Hessian"].median
    first = bench_first_calls(settings)

    print()
    print(f"dualdiff Hessian benchmarks ({'quick' if quick else 'full'} run; "
          f"{settings.batches} interleaved batches of ~{settings.batch_seconds * 1e3:.0f} ms "
          f"per case; median and IQR over batches; clock: {settings.clock})")
    print(f"python {env['python']}, numpy {env['numpy']}, numba {env['numba']}, "
          f"{env['cpu_count']} cpus, {env['date']}; automatic block size "
          f"{dd.MAX_AUTO_HESSIAN_CHUNK} max")
    print()
    print(table(rows))
    print()
    print("First call (compile included), fresh process(es), after `import dualdiff`")
    print(first_call_table(first))
    print()
    print("Targets")
    verdicts = []
    for (label, n), r in ratios.items():
        if n == N_VALUES[0]:
            ok = r <= TARGET_RATIO_N10
            verdicts.append({"target": f"{label} n={n} dd.hessian/hand <= {TARGET_RATIO_N10}",
                             "value": r, "met": ok})
            print(f"  [{'ok' if ok else 'MISSED'}] {label} n={n}: dd.hessian / hand-written = "
                  f"{r:.1f} (target <= {TARGET_RATIO_N10:.0f})")
    for fc in first:
        if "mode=" in fc["name"]:
            continue  # the target is for the default mode
        med = fc["median"]
        t = max(med["first_call_s"], med["cpu_first_call_s"])
        ok = t < TARGET_FIRST_CALL_S
        verdicts.append({"target": f"first call {fc['name']} < {TARGET_FIRST_CALL_S} s",
                         "value": t, "met": ok})
        print(f"  [{'ok' if ok else 'MISSED'}] first call {fc['name']}: "
              f"{med['first_call_s']:.2f} s wall, {med['cpu_first_call_s']:.2f} s cpu "
              f"(target < {TARGET_FIRST_CALL_S:.0f} s)")
    bad = [c for c in checks if not c["ok"]]
    print(f"  [{'ok' if not bad else 'WRONG'}] dd.hessian equals the hand-written Hessians "
          f"to 1e-12 ({len(checks)} checks)")
    return {"suite": "hessian", "quick": quick, "environment": env,
            "settings": {"clock": settings.clock, "batches": settings.batches,
                         "batch_seconds": settings.batch_seconds,
                         "first_call_reps": settings.first_call_reps},
            "rows": [r for r in rows if r is not None], "first_call": first,
            "targets": verdicts, "checks": checks}
