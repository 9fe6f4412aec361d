"""Crossover suite: the measurements behind the auto-mode thresholds and the Hessian chunk.

Three tuning constants of dualdiff are set from measurements; this suite
reruns them (``python -m benchmarks crossover [--quick]``) so the comments
beside the constants can cite a command (issue 15).  Every pair or triple is
timed side by side in one process with interleaved batches (see
:mod:`benchmarks._timing`); times are medians per call, after warm-up calls,
so compilation is excluded.

1. ``dualdiff.second.AUTO_TAPE_MIN_INPUTS``: ``dd.hessian(f, x,
   mode="forward")`` (hyper-duals, ``k (k + 1) / 2`` block sweeps) against
   ``mode="reverse"`` (the second-order tape, forward over reverse) for
   Rosenbrock (the loop version of :mod:`dualdiff.examples`) and log-sum-exp
   of ``A @ x`` written with loops, ``A`` a fixed 20 x n random matrix passed
   as ``args=(A,)`` (the problem of :mod:`benchmarks.hessian`), at n = 10,
   16, 17, 20, 21, 24 (quick: 10, 20, 24).
2. ``dualdiff.reverse.AUTO_REVERSE_MIN_INPUTS``: ``dd.gradient(f, x,
   mode="forward")`` against ``mode="reverse"`` for Rosenbrock and the
   quadratic chain of :mod:`benchmarks.reverse`, at n = 32, 48, 56, 64, 96
   (quick: 32, 64).
3. ``dualdiff.second.MAX_AUTO_HESSIAN_CHUNK``: the process CPU seconds of the
   first ``dd.hessian(f, x, chunk=N)`` call in a fresh process (compile
   included; quick: one process per case, full: three and their median) for
   N = 3, 4, 5, log-sum-exp and Rosenbrock at n = 10, and the steady-state
   time per call of ``dd.hessian(f, x, chunk=N)`` for the three N side by side
   (an explicit chunk skips the per-call fast path, alike for every N).

Every row says which choice the library's automatic mode (``mode="auto"``,
``chunk=None``) makes at that n, and ``auto/best`` is the cost of that choice
over the faster of the two.  The forward and reverse results are checked
against each other (and the three chunks against each other).
"""

import inspect
import math

import numpy as np

import dualdiff as dd
from dualdiff import examples
from dualdiff import operators as _operators
from dualdiff import reverse as rv
from dualdiff import second

from ._report import environment, fmt_ratio, fmt_us, format_table, log as _log
from ._timing import Case, Settings, compare, first_call
from .hessian import ROWS_LSE, logsumexp
from .reverse import _quadratic_chain
from .reverse import rosenbrock as rosenbrock_njit

N_HESSIAN = (10, 16, 17, 20, 21, 24)
N_HESSIAN_QUICK = (10, 20, 24)
N_GRADIENT = (32, 48, 56, 64, 96)
N_GRADIENT_QUICK = (32, 64)
CHUNKS = (3, 4, 5)
N_CHUNK = 10
CHECK_TOL = 1e-10   # relative; forward and reverse agree to rounding

rosenbrock = examples.rosenbrock   # uncompiled, as benchmarks.hessian times it


def _lse_problem(n):
    """x and the fixed 20 x n matrix A for log-sum-exp at n (seeded by n)."""
    rng = np.random.default_rng(1000 + n)
    A = rng.normal(size=(ROWS_LSE, n)) / math.sqrt(n)
    x = rng.normal(size=n)
    return x, A


def _rosenbrock_x(n):
    return np.linspace(-1.2, 1.1, n)


# What mode="auto" picks: the library's own predicates (the constants if they
# have been renamed).
def _hessian_auto(n):
    takes_tape = getattr(second, "_takes_tape", None)
    tape = takes_tape("auto", n) if takes_tape else n >= second.AUTO_TAPE_MIN_INPUTS
    return "reverse" if tape else "forward"


def _gradient_auto(n):
    use_reverse = getattr(_operators, "_use_reverse", None)
    rev = use_reverse("auto", n) if use_reverse else n >= rv.AUTO_REVERSE_MIN_INPUTS
    return "reverse" if rev else "forward"


def _rel_diff(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


def _check(name, a, b, checks):
    err = _rel_diff(a, b)
    ok = err <= CHECK_TOL
    if not ok:
        _log(f"WARNING: {name}: results differ by {err:g} (relative)")
    checks.append({"check": name, "max_rel_diff": err, "ok": ok})


# ===========================================================================
# 1 and 2: forward against reverse per call
# ===========================================================================

def _pair(section, label, n, forward, reverse, auto, settings, checks):
    """Time forward() and reverse() side by side; one result row."""
    _check(f"{section} {label} n={n}: forward vs reverse", forward(), reverse(), checks)
    t = compare([Case("forward", forward), Case("reverse", reverse)], settings)
    fw, rev = t["forward"].median, t["reverse"].median
    return {"problem": label, "n": n, "forward": t["forward"].as_dict(),
            "reverse": t["reverse"].as_dict(), "forward_over_reverse": fw / rev,
            "faster": "reverse" if rev < fw else "forward", "auto_picks": auto,
            "auto_over_best": (fw if auto == "forward" else rev) / min(fw, rev)}


def bench_hessian_modes(n_values, settings, checks):
    rows = []
    for label in ("Rosenbrock", f"log-sum-exp A ({ROWS_LSE}xn)"):
        for n in n_values:
            _log(f"[crossover] hessian {label} n={n} forward/reverse ...")
            if label == "Rosenbrock":
                f, x, args = rosenbrock, _rosenbrock_x(n), ()
            else:
                x, A = _lse_problem(n)
                f, args = logsumexp, (A,)
            rows.append(_pair(
                "hessian", label, n,
                lambda: dd.hessian(f, x, args=args, mode="forward"),
                lambda: dd.hessian(f, x, args=args, mode="reverse"),
                _hessian_auto(n), settings, checks))
        rows.append(None)
    return rows


def bench_gradient_modes(n_values, settings, checks):
    rows = []
    for label, f in (("Rosenbrock", rosenbrock_njit), ("chain", _quadratic_chain)):
        for n in n_values:
            _log(f"[crossover] gradient {label} n={n} forward/reverse ...")
            x = np.random.default_rng(n).uniform(-2, 2, n)   # as benchmarks.reverse
            rows.append(_pair(
                "gradient", label, n,
                lambda: dd.gradient(f, x, mode="forward"),
                lambda: dd.gradient(f, x, mode="reverse"),
                _gradient_auto(n), settings, checks))
        rows.append(None)
    return rows


def pair_table(rows):
    headers = ["problem", "n", "forward us", "reverse us", "fwd/rev", "faster", "auto picks",
               "auto/best"]
    out = []
    for r in rows:
        if r is None:
            out.append([])
            continue
        out.append([r["problem"], r["n"], fmt_us(r["forward"]["median_s"]),
                    fmt_us(r["reverse"]["median_s"]), fmt_ratio(r["forward_over_reverse"]),
                    r["faster"], r["auto_picks"], fmt_ratio(r["auto_over_best"])])
    while out and not out[-1]:
        out.pop()
    return format_table(headers, out, align="lrrrrlll")


def reverse_from(rows):
    """Per problem: the smallest measured n from which reverse is the faster
    at every larger measured n (None: forward wins at the largest n)."""
    out = {}
    for r in rows:
        if r is None:
            continue
        out.setdefault(r["problem"], []).append((r["n"], r["faster"] == "reverse"))
    result = {}
    for problem, pairs in out.items():
        first = None
        for n, rev in sorted(pairs, reverse=True):
            if not rev:
                break
            first = n
        result[problem] = first
    return result


# ===========================================================================
# 3: the Hessian block size: first call in a fresh process, and per call
# ===========================================================================

# The snippets define the very functions timed in this process (their
# source, and the same x and A).
_ROSEN_SETUP = (inspect.getsource(examples.rosenbrock)
                + f"x = numpy.linspace(-1.2, 1.1, {N_CHUNK})\nargs = ()\n")
_LSE_SETUP = ("import math\nimport numpy as np\n" + inspect.getsource(logsumexp)
              + f"_rng = numpy.random.default_rng({1000 + N_CHUNK})\n"
              f"A = _rng.normal(size=({ROWS_LSE}, {N_CHUNK})) / math.sqrt({N_CHUNK})\n"
              f"x = _rng.normal(size={N_CHUNK})\nargs = (A,)\n")


def bench_chunks(settings, checks):
    auto_chunk = second.choose_hessian_chunk(N_CHUNK)
    rows = []
    x_lse, A = _lse_problem(N_CHUNK)
    problems = (("log-sum-exp", "logsumexp", logsumexp, x_lse, (A,), _LSE_SETUP),
                ("Rosenbrock", "rosenbrock", rosenbrock, _rosenbrock_x(N_CHUNK), (),
                 _ROSEN_SETUP))
    for label, fname, f, x, args, setup in problems:
        first = {}
        for N in CHUNKS:
            name = f"dd.hessian({fname}, x, chunk={N}), n={N_CHUNK}"
            _log(f"[crossover] first call: {name} ({settings.first_call_reps} fresh "
                 f"process(es)) ...")
            first[N] = first_call(name, f"dd.hessian({fname}, x, args=args, chunk={N})",
                                  setup=setup, imports="import dualdiff as dd",
                                  reps=settings.first_call_reps)
        _log(f"[crossover] per call: {label} n={N_CHUNK} chunk={', '.join(map(str, CHUNKS))} ...")
        ref = dd.hessian(f, x, args=args, chunk=auto_chunk)
        for N in CHUNKS:
            if N != auto_chunk:
                _check(f"chunk {label} n={N_CHUNK}: chunk={N} vs {auto_chunk}",
                       dd.hessian(f, x, args=args, chunk=N), ref, checks)
        cases = [Case(f"chunk={N}", lambda N=N: dd.hessian(f, x, args=args, chunk=N))
                 for N in CHUNKS]
        t = compare(cases, settings)
        base_steady = t[f"chunk={auto_chunk}"].median
        base_first = first[auto_chunk].median("cpu_first_call_s")
        for N in CHUNKS:
            fc = first[N]
            lo, hi = fc.spread("cpu_first_call_s")
            steady = t[f"chunk={N}"]
            rows.append({"problem": label, "n": N_CHUNK, "chunk": N,
                         "auto_picks": N == auto_chunk,
                         "first_call_cpu_s": fc.median("cpu_first_call_s"),
                         "first_call_cpu_min_s": lo, "first_call_cpu_max_s": hi,
                         "first_call_wall_s": fc.median("first_call_s"),
                         "first_call_over_auto": fc.median("cpu_first_call_s") / base_first,
                         "steady": steady.as_dict(),
                         "steady_over_auto": steady.median / base_steady,
                         "first_call": fc.as_dict()})
        rows.append(None)
    return rows, auto_chunk


def chunk_table(rows):
    headers = ["problem", "n", "chunk N", "first call cpu s", "(min-max)", "wall s",
               "first/auto", "per call us", "per call/auto", "auto picks"]
    out = []
    for r in rows:
        if r is None:
            out.append([])
            continue
        out.append([r["problem"], r["n"], r["chunk"], f"{r['first_call_cpu_s']:.2f}",
                    f"{r['first_call_cpu_min_s']:.2f}-{r['first_call_cpu_max_s']:.2f}",
                    f"{r['first_call_wall_s']:.2f}", fmt_ratio(r["first_call_over_auto"]),
                    fmt_us(r["steady"]["median_s"]), fmt_ratio(r["steady_over_auto"]),
                    "<- auto" if r["auto_picks"] else ""])
    while out and not out[-1]:
        out.pop()
    return format_table(headers, out, align="lrrrrrrrrl")


# ===========================================================================
# The run
# ===========================================================================

def run(quick=False, clock="cpu"):
    settings = Settings.for_mode(quick, clock)
    env = environment()
    checks = []
    hess_rows = bench_hessian_modes(N_HESSIAN_QUICK if quick else N_HESSIAN, settings, checks)
    grad_rows = bench_gradient_modes(N_GRADIENT_QUICK if quick else N_GRADIENT, settings,
                                     checks)
    chunk_rows, auto_chunk = bench_chunks(settings, checks)

    print()
    print(f"dualdiff crossover benchmarks ({'quick' if quick else 'full'} run; "
          f"{settings.batches} interleaved batches of ~{settings.batch_seconds * 1e3:.0f} ms "
          f"per case; medians; clock: {settings.clock}; first calls: "
          f"{settings.first_call_reps} fresh process(es) each)")
    print(f"python {env['python']}, numpy {env['numpy']}, numba {env['numba']}, "
          f"{env['cpu_count']} cpus, {env['date']}")
    print()
    print(f"1. dd.hessian per call, mode='forward' (hyper-duals) vs mode='reverse' (tape); "
          f"auto takes the tape from n >= AUTO_TAPE_MIN_INPUTS = {second.AUTO_TAPE_MIN_INPUTS}")
    print(pair_table(hess_rows))
    print()
    print(f"2. dd.gradient per call, mode='forward' vs mode='reverse'; auto takes reverse "
          f"from n >= AUTO_REVERSE_MIN_INPUTS = {rv.AUTO_REVERSE_MIN_INPUTS}")
    print(pair_table(grad_rows))
    print()
    print(f"3. dd.hessian(f, x, chunk=N) at n = {N_CHUNK}: first call (compile included) "
          f"in a fresh process, process CPU s, and per call; auto picks N = {auto_chunk} "
          f"(MAX_AUTO_HESSIAN_CHUNK = {second.MAX_AUTO_HESSIAN_CHUNK})")
    print(chunk_table(chunk_rows))
    print()

    summary = []
    for title, rows, constant, value in (
            ("hessian", hess_rows, "AUTO_TAPE_MIN_INPUTS", second.AUTO_TAPE_MIN_INPUTS),
            ("gradient", grad_rows, "AUTO_REVERSE_MIN_INPUTS", rv.AUTO_REVERSE_MIN_INPUTS)):
        measured = [r for r in rows if r is not None]
        worst = max(measured, key=lambda r: r["auto_over_best"])
        starts = reverse_from(rows)
        where = "; ".join(f"{p}: n >= {s}" if s is not None else f"{p}: forward at the largest n"
                          for p, s in starts.items())
        text = (f"{title}: {constant} = {value}; auto at worst {worst['auto_over_best']:.2f}x "
                f"the better mode ({worst['problem']}, n = {worst['n']}); reverse faster "
                f"from {where}")
        summary.append({"constant": constant, "value": value,
                        "worst_auto_over_best": worst["auto_over_best"],
                        "reverse_faster_from": starts})
        print(f"  [info] {text}")
    bad = [c for c in checks if not c["ok"]]
    print(f"  [{'ok' if not bad else 'WRONG'}] forward and reverse (and the three chunks) "
          f"agree to {CHECK_TOL:g} relative ({len(checks)} checks)")
    return {"suite": "crossover", "quick": quick, "environment": env,
            "settings": {"clock": settings.clock, "batches": settings.batches,
                         "batch_seconds": settings.batch_seconds,
                         "first_call_reps": settings.first_call_reps},
            "constants": {"AUTO_TAPE_MIN_INPUTS": second.AUTO_TAPE_MIN_INPUTS,
                          "AUTO_REVERSE_MIN_INPUTS": rv.AUTO_REVERSE_MIN_INPUTS,
                          "MAX_AUTO_HESSIAN_CHUNK": second.MAX_AUTO_HESSIAN_CHUNK},
            "hessian_modes": [r for r in hess_rows if r is not None],
            "gradient_modes": [r for r in grad_rows if r is not None],
            "hessian_chunk": [r for r in chunk_rows if r is not None],
            "summary": summary, "checks": checks}
