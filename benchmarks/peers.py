"""Peers suite: dualdiff against the tools users would pick instead (issue 7).

``python -m benchmarks peers [--quick] [--problems a,b] [--tools x,y]``

For every problem and size, in ONE process, every tool that applies is

1. set up (the peer imported, its version of the problem defined and
   transformed) and called once: the *first call* (JAX traces and compiles
   here, Numba compiles, dualdiff compiles unless an earlier size already
   compiled the same chunk size);
2. checked against an analytic reference: max |error| / max |reference|;
3. timed side by side with the others (interleaved batches, median and
   interquartile range; :func:`benchmarks._timing.compare`).  A tool whose
   single call takes longer than ``SLOW_CALL_S`` is timed call by call,
   a few calls only, outside the interleaved group.

dualdiff's first call is also measured in a fresh process per problem (import
excluded, compilation included), as the core suite does.  The peers' first
calls are the first call in this process after their import: for JAX that
is tracing plus XLA compilation; for the eager tools (torch.func, autograd,
numdifftools, SciPy) it is close to a normal call.

Tools not installed are skipped with a note.  Tools that cannot do a problem
are listed with the reason (``n/a``) or the error they raise (``fails``).

The default clock of this suite is the CPU time of the whole process (all
threads): JAX and PyTorch may run work on threads other than the caller's,
which the thread-CPU clock of the core suite would not see, and wall time
counts the time the process waits for a core on a shared machine.
``--clock wall`` gives wall time.  Not part of the default ``python -m benchmarks`` run
(it needs the ``bench`` extra and takes several minutes): name it.
"""

import math
import os
import time
import warnings

import numpy as np

from dualdiff import second as dd_second

from . import _peers_problems as P
from . import _peers_tools as T
from ._report import RESULTS_DIR, environment, fmt_ratio, fmt_us, format_table, log as _log
from ._timing import CLOCKS, Case, Settings, Timing, compare, first_call

#: not run by a bare ``python -m benchmarks`` (see benchmarks/__main__.py)
IN_DEFAULT_RUN = False

# The CPU time of the whole process (every thread).  The thread-CPU clock of
# the core suite misses the work JAX and PyTorch do on their worker threads
# (JAX on CPU dispatches asynchronously), and wall time counts the time this
# process is descheduled when other jobs share the cores.  Registered here,
# next to the shared clocks, so Settings and compare() accept it.
CLOCKS.setdefault("process", time.process_time)
#: this suite's clock unless ``--clock`` is given
DEFAULT_CLOCK = "process"

#: problem -> (title, sizes, sizes in quick mode)
PROBLEMS = {
    "scalar": ("derivative of sqrt(x^2 + exp(x^2)) + cos(x^2 + exp(x^2)) at x = 0.7",
               (1,), (1,)),
    "rosenbrock_grad": ("Rosenbrock gradient", (10, 100, 1000, 10_000), (10, 100, 1000)),
    "broyden_jac": ("Broyden tridiagonal Jacobian", (10, 100, 1000), (10, 100)),
    "rosenbrock_hess": ("Rosenbrock Hessian", (10, 50), (10,)),
    "logsumexp_hess": ("Hessian of log-sum-exp(A x), A of shape (20, n)", (10, 50), (10,)),
    "mlp_grad": ("MLP 32-64-64-1 (tanh, sigmoid) squared loss, gradient w.r.t. all "
                 f"{P.mlp_n_params()} parameters, batch {P.MLP_BATCH}",
                 (P.mlp_n_params(),), (P.mlp_n_params(),)),
    "kepler_grad": ("control flow: Kepler's equation by Newton's method with a data-dependent "
                    "exit, gradient w.r.t. (e, M)", (2,), (2,)),
}

SLOW_CALL_S = 0.25        # calls slower than this are timed call by call
SLOW_CALLS = {True: 2, False: 5}  # timed calls of a slow tool (quick, full)
#: the rows that can be the baseline of a group: the faster of the public
#: API's modes (a mode that fell back with a warning is not counted)
DUALDIFF_MODES = ("dualdiff forward", "dualdiff reverse", "dualdiff reverse (array code)")
TARGET_SCALAR_RATIO = 2.0   # dd.derivative / hand-written @njit
TARGET_SMALL_N = 100        # at n <= this, dualdiff beats jax.jit
TARGET_MLP_RATIO = 1.5      # dualdiff / jax.jit(grad)


# ===========================================================================
# Inputs
# ===========================================================================

def make_data(problem, n):
    if problem == "scalar":
        return {"n": 1, "x": P.X0_SCALAR}
    if problem in ("rosenbrock_grad", "rosenbrock_hess"):
        return {"n": n, "x": P.rosenbrock_x(n)}
    if problem == "broyden_jac":
        return {"n": n, "x": P.broyden_x(n)}
    if problem == "logsumexp_hess":
        return {"n": n, "x": P.logsumexp_x(n), "A": P.logsumexp_A(n)}
    if problem == "mlp_grad":
        theta, X, y = P.mlp_data()
        return {"n": theta.size, "theta": theta, "X": X, "y": y}
    if problem == "kepler_grad":
        return {"n": 2, "x": P.KEPLER_X.copy(),
                "iterations": P.kepler_iterations(P.KEPLER_X)}
    raise KeyError(problem)


# ===========================================================================
# One (problem, n) group
# ===========================================================================

def _first_line(exc):
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else ""


def _rel_error(got, want):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        if got.size != want.size:
            return None, f"shape {got.shape}, expected {want.shape}"
        got = got.reshape(want.shape)
    scale = float(np.max(np.abs(want))) or 1.0
    return float(np.max(np.abs(got - want))) / scale, None


def _time_slow(call, calls, clock):
    """Per-call times of a slow tool, one call per sample."""
    tick = CLOCKS[clock]
    samples = []
    for _ in range(calls):
        t0 = tick()
        call()
        samples.append(tick() - t0)
    return Timing("slow", samples, 1)


#: (problem, tool) -> the warning its first call gave, for the later sizes
_WARNED = {}


def run_group(problem, n, tools, settings, skipped_families):
    data = make_data(problem, n)
    ref = P.reference(problem, data)
    rows, fast, slow = [], [], []
    for v in T.variants(problem, tools):
        if v.family in skipped_families:
            continue
        row = {"problem": problem, "n": data["n"], "tool": v.label, "family": v.family,
               "kind": v.kind, "status": "ok"}
        rows.append(row)
        _log(f"[peers] {problem} n={data['n']}: {v.label}: set-up and first call ...")
        try:
            call, to_numpy = v.make(problem, data)
        except T.NotInstalled as exc:
            skipped_families[v.family] = str(exc)
            _log(f"[peers]   skipped: {exc}")
            rows.pop()
            continue
        except T.Unsupported as exc:
            row.update(status="n/a", note=str(exc))
            continue
        except Exception as exc:  # a peer failing at set-up is a result, not a crash
            row.update(status="fails", note=f"{type(exc).__name__}: {_first_line(exc)}",
                       error_class=f"{type(exc).__module__}.{type(exc).__name__}")
            continue
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                result = call()
        except NotImplementedError as exc:  # e.g. a mode still being built
            row.update(status="n/a", note=f"NotImplementedError: {_first_line(exc)}")
            _log(f"[peers]   n/a: {row['note']}")
            continue
        except Exception as exc:
            row.update(status="fails", note=f"{type(exc).__name__}: {_first_line(exc)}",
                       error_class=f"{type(exc).__module__}.{type(exc).__name__}")
            _log(f"[peers]   fails: {row['note']}")
            continue
        row["first_call_s"] = time.perf_counter() - t0
        fallbacks = [w for w in caught if "Fallback" in type(w.message).__name__
                     or "dualdiff" in str(w.message)]
        if fallbacks:
            row["warning"] = (f"{type(fallbacks[0].message).__name__}: "
                              f"{_first_line(fallbacks[0].message)}")
            _WARNED[(problem, v.label)] = row["warning"]
            _log(f"[peers]   warning: {row['warning']}")
        elif (problem, v.label) in _WARNED:  # dualdiff warns once per function
            row["warning"] = "(warned at a smaller n) " + _WARNED[(problem, v.label)]
        if to_numpy is not None:
            err, why = _rel_error(to_numpy(result), ref)
            row["rel_error"] = err
            if why:
                row.update(status="wrong shape", note=why)
                continue
        t0 = time.perf_counter()
        call()
        second = time.perf_counter() - t0
        row["second_call_s"] = second
        (slow if second > SLOW_CALL_S else fast).append((row, Case(v.label, call, v.per)))

    if fast:
        _log(f"[peers] {problem} n={data['n']}: timing {len(fast)} tools side by side ...")
        timings = compare([c for _, c in fast], settings)
        for row, case in fast:
            row.update(timings[case.name].as_dict())
    for row, case in slow:
        calls = SLOW_CALLS[settings.batches < 10]
        _log(f"[peers] {problem} n={data['n']}: {case.name}: timing {calls} slow calls ...")
        row.update(_time_slow(case.fn, calls, settings.clock).as_dict(), timed="call by call")

    base = _best_dualdiff(rows, problem, data["n"])
    for r in rows:
        if base and "median_s" in r:
            r["ratio_vs_dualdiff"] = r["median_s"] / base["median_s"]
    if base:
        base["baseline"] = True
    return rows, data


# ===========================================================================
# dualdiff's first call in a fresh process
# ===========================================================================

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_FRESH = {
    "scalar": ("", "dd.derivative(P.example, P.X0_SCALAR)"),
    "rosenbrock_grad": ("x = P.rosenbrock_x({n})", "dd.gradient(P.rosenbrock, x)"),
    "broyden_jac": ("x = P.broyden_x({n})", "dd.jacobian(P.broyden, x)"),
    "rosenbrock_hess": ("x = P.rosenbrock_x({n})", "dd.hessian(P.rosenbrock, x)"),
    "logsumexp_hess": ("x = P.logsumexp_x({n}); A = P.logsumexp_A({n})",
                       "dd.hessian(P.logsumexp, x, args=(A,))"),
    "mlp_grad": ("theta, X, y = P.mlp_data()", "dd.gradient(P.mlp_loss, theta, args=(X, y))"),
    "kepler_grad": ("x = P.KEPLER_X.copy()", "dd.gradient(P.kepler, x)"),
}


def fresh_first_call(problem, n, settings):
    setup, call = _FRESH[problem]
    imports = (f"import sys; sys.path.insert(0, {_ROOT!r})\n"
               "import dualdiff as dd\nfrom benchmarks import _peers_problems as P")
    _log(f"[peers] {problem} n={n}: dualdiff first call in {settings.first_call_reps} "
         "fresh process(es) ...")
    try:
        fc = first_call(f"{problem} n={n}", call, setup=setup.format(n=n), imports=imports,
                        reps=settings.first_call_reps, timeout=900)
    except Exception as exc:
        return {"problem": problem, "n": n, "error": f"{type(exc).__name__}: {_first_line(exc)}"}
    return {"problem": problem, "n": n, "call": call, **fc.as_dict()}


# ===========================================================================
# JAX's dispatch
# ===========================================================================

def jax_dispatch_note(skipped_families):
    if "jax" in skipped_families:
        return "JAX not installed"
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        f = jax.jit(lambda a: (a @ a @ a).sum())
        a = jax.numpy.ones((600, 600))
        f(a).block_until_ready()
        t0 = time.perf_counter()
        r = f(a)
        t1 = time.perf_counter()
        r.block_until_ready()
        t2 = time.perf_counter()
    except Exception as exc:  # informational only
        return f"could not determine ({type(exc).__name__})"
    try:
        flag = jax.config.values.get("jax_cpu_enable_async_dispatch")
    except Exception:
        flag = None
    kind = "asynchronous" if (t1 - t0) < 0.5 * (t2 - t0) else "synchronous"
    return (f"JAX {jax.__version__} on {jax.default_backend()}: dispatch measured {kind} "
            f"(a 600x600 matmul chain returned after {(t1 - t0) * 1e3:.2f} ms, finished after "
            f"{(t2 - t0) * 1e3:.2f} ms; jax_cpu_enable_async_dispatch={flag}). Every timed JAX "
            "call ends with jax.block_until_ready, so the times include the computation.")


# ===========================================================================
# Targets, tables, the "where dualdiff loses" paragraph
# ===========================================================================

def _get(rows, problem, n, tool):
    return next((r for r in rows if r["problem"] == problem and r["n"] == n
                 and r["tool"] == tool), None)


def _best_dualdiff(rows, problem, n):
    cands = [r for r in rows if r["problem"] == problem and r["n"] == n
             and r["tool"] in DUALDIFF_MODES and "median_s" in r and not r.get("warning")]
    return min(cands, key=lambda r: r["median_s"]) if cands else None


def targets(rows):
    out = []
    dd = _get(rows, "scalar", 1, "dualdiff forward")
    hand = _get(rows, "scalar", 1, "hand-written @njit")
    if dd and hand and "median_s" in dd and "median_s" in hand:
        r = dd["median_s"] / hand["median_s"]
        out.append({"target": f"scalar derivative: dd.derivative / hand-written @njit <= "
                              f"{TARGET_SCALAR_RATIO:g} (both called from Python)",
                    "ratio": r, "met": r <= TARGET_SCALAR_RATIO})
    dd = _get(rows, "scalar", 1, "dualdiff dd.jit")
    if dd and hand and "median_s" in dd and "median_s" in hand:
        r = dd["median_s"] / hand["median_s"]
        out.append({"target": f"scalar derivative: dd.jit.derivative / hand-written @njit <= "
                              f"{TARGET_SCALAR_RATIO:g} (both called from Python)",
                    "ratio": r, "met": r <= TARGET_SCALAR_RATIO})
    dd = _get(rows, "scalar", 1, T.LOOP_DD)
    hand = _get(rows, "scalar", 1, T.LOOP_HAND)
    if dd and hand and "median_s" in dd and "median_s" in hand:
        r = dd["median_s"] / hand["median_s"]
        out.append({"target": f"scalar derivative inside compiled code: dualdiff Dual[1] / "
                              f"hand-written <= {TARGET_SCALAR_RATIO:g}",
                    "ratio": r, "met": r <= TARGET_SCALAR_RATIO})
    for problem in ("rosenbrock_grad", "broyden_jac", "rosenbrock_hess", "logsumexp_hess"):
        for n in sorted({r["n"] for r in rows if r["problem"] == problem}):
            if n > TARGET_SMALL_N:
                continue
            dd = _best_dualdiff(rows, problem, n)
            jaxes = [r for r in rows if r["problem"] == problem and r["n"] == n
                     and r["tool"].startswith("jax.jit(") and "median_s" in r]
            if not dd or not jaxes:
                continue
            best = min(jaxes, key=lambda r: r["median_s"])
            ratio = dd["median_s"] / best["median_s"]
            out.append({"target": f"{problem} n={n}: {dd['tool']} faster than the fastest "
                                  f"jax.jit variant ({best['tool']})",
                        "ratio": ratio, "met": ratio < 1.0})
    jg = _get(rows, "mlp_grad", P.mlp_n_params(), "jax.jit(grad)")
    dd = _best_dualdiff(rows, "mlp_grad", P.mlp_n_params())
    if jg and dd and "median_s" in jg:
        ratio = dd["median_s"] / jg["median_s"]
        out.append({"target": f"MLP gradient: best dualdiff mode ({dd['tool']}) / "
                              f"jax.jit(grad) <= {TARGET_MLP_RATIO:g}",
                    "ratio": ratio, "met": ratio <= TARGET_MLP_RATIO})
    return out


def _fmt_err(e):
    if e is None:
        return ""
    return "0" if e == 0 else f"{e:.1e}"


def _fmt_s(s):
    if s is None:
        return ""
    return f"{s * 1e3:.1f} ms" if s < 1 else f"{s:.2f} s"


def _row_cells(r):
    if "median_s" in r:
        note = "; ".join(t for t in ("baseline" if r.get("baseline") else "",
                                     r.get("timed", ""), r.get("warning", "")) if t)
        return [fmt_us(r["median_s"]), fmt_us(r["iqr_s"]),
                fmt_ratio(r.get("ratio_vs_dualdiff")), _fmt_s(r.get("first_call_s")),
                _fmt_err(r.get("rel_error")), note]
    return ["", "", "", "", "", f"{r['status']}: {r.get('note', '')}"]


HEADERS = ["problem", "n", "tool", "median us", "IQR us", "time/dualdiff",
           "first call (in process)", "rel. error", "note"]


def text_table(rows):
    out, last = [], None
    for r in rows:
        key = (r["problem"], r["n"])
        if last is not None and key != last:
            out.append([])
        last = key
        out.append([r["problem"], r["n"], r["tool"]] + _row_cells(r))
    return format_table(HEADERS, out, align="lrlrrrrrl")


def md_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for r in rows:
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |")
    return "\n".join(lines)


def _why(problem, n, dd):
    """The likely cause, by the kind of problem (a reading aid, not a measurement)."""
    if problem in ("rosenbrock_hess", "logsumexp_hess"):
        if n < dd_second.AUTO_TAPE_MIN_INPUTS:
            return ("Below dd.second.AUTO_TAPE_MIN_INPUTS inputs dd.hessian nests forward "
                    "duals: its cost grows like n^2 function evaluations.")
        return ("dd.hessian is forward over reverse, like jax.hessian, but its tape holds "
                "one node per scalar operation and the tangent lanes are swept node by "
                "node; XLA fuses the whole computation into array loops.")
    if problem == "mlp_grad" and dd["tool"] == "dualdiff reverse (array code)":
        return ("The matmuls are BLAS block nodes, but tanh and exp run as scalar libm calls "
                "per element (NumPy's SIMD loops are several times faster) and each "
                "elementwise op writes a tape node per element.")
    if problem == "mlp_grad" and dd["tool"] == "dualdiff reverse":
        return ("dualdiff's tape records every scalar operation of the loops; the peers' "
                "reverse pass runs through BLAS matrix products.")
    if problem == "mlp_grad":
        return ("Forward mode needs a sweep per 8 of the parameters; the peers run one "
                "reverse sweep through BLAS matrix products.")
    if problem == "kepler_grad":
        return "The faster peer needed the loop rewritten (lax.while_loop), see the table."
    if dd["tool"] == "dualdiff forward" and n >= 1000:
        return f"Forward mode needs about n/8 = {math.ceil(n / 8)} sweeps."
    if dd["tool"] == "dualdiff reverse":
        return "The reverse tape records every scalar operation; JAX's reverse pass is compiled."
    return ("At this size the Python-side cost of a dualdiff call (argument checks, "
            "dispatch, allocating the result) is most of the time.")


def losses(rows, fresh):
    """Bullet points: where a peer beats dualdiff, from the numbers."""
    bullets = []
    for problem in PROBLEMS:
        ns = sorted({r["n"] for r in rows if r["problem"] == problem})
        for n in ns:
            dd = _best_dualdiff(rows, problem, n)
            if dd is None:
                continue
            beaters = [r for r in rows if r["problem"] == problem and r["n"] == n
                       and r["family"] not in ("dualdiff", "numba") and "median_s" in r
                       and r["median_s"] < dd["median_s"]]
            if beaters:
                best = min(beaters, key=lambda r: r["median_s"])
                bullets.append(
                    f"{PROBLEMS[problem][0]}, n = {n}: {len(beaters)} peer tool(s) faster than "
                    f"{dd['tool']}; the fastest, {best['tool']}, takes "
                    f"{fmt_us(best['median_s'])} us against {fmt_us(dd['median_s'])} us "
                    f"({dd['median_s'] / best['median_s']:.1f}x faster). {_why(problem, n, dd)}")
    warned = {}
    for r in rows:
        if r.get("warning") and not r["warning"].startswith("(warned"):
            warned.setdefault(r["tool"], []).append(r["problem"])
    for tool, probs in warned.items():
        first = next(r["warning"] for r in rows if r["tool"] == tool and r.get("warning"))
        bullets.append(f"{tool} fell back (with a warning) on {', '.join(probs)}: "
                       f"{first[:160]} ... The fallback's time is in the tables, not counted "
                       "as dualdiff's best.")
    fc = [f for f in fresh if "median" in f]
    jax_first = [r for r in rows if r["tool"].startswith("jax.jit(") and "first_call_s" in r]
    if fc:
        worst = max(fc, key=lambda f: f["median"]["first_call_s"])
        line = (f"First call: dualdiff compiles on the first call of each function, "
                f"{min(f['median']['first_call_s'] for f in fc):.1f}-"
                f"{worst['median']['first_call_s']:.1f} s in a fresh process "
                f"(worst: {worst['problem']})")
        if jax_first:
            line += (f"; jax.jit's first calls (trace + XLA compile, in this process) took "
                     f"{min(r['first_call_s'] for r in jax_first):.2f}-"
                     f"{max(r['first_call_s'] for r in jax_first):.2f} s")
        bullets.append(line + ".")
    return bullets


def _fastest(rows, problem, n, pred):
    cands = [r for r in rows if r["problem"] == problem and r["n"] == n and pred(r)]
    ok = [r for r in cands if "median_s" in r]
    if ok:
        return min(ok, key=lambda r: r["median_s"])
    return cands[0] if cands else None


def _cell(r):
    if r is None:
        return "-"
    if "median_s" in r:
        return fmt_us(r["median_s"])
    if r["status"] == "fails":
        return f"fails ({r.get('error_class', '').rsplit('.', 1)[-1]})"
    return "n/a"


README_COLUMNS = [
    ("dualdiff", lambda r: r["tool"] in DUALDIFF_MODES and not r.get("warning")),
    ("hand-written Numba", lambda r: r["tool"] == "hand-written @njit"),
    ("jax.jit", lambda r: r["tool"].startswith("jax.jit(") and "rewrite" not in r["tool"]),
    ("torch.func", lambda r: r["family"] == "torch"),
    ("autograd", lambda r: r["family"] == "autograd"),
    ("SciPy FD", lambda r: r["family"] == "scipy"),
]


def readme_section(payload):
    """The text proposed for README.md's "Performance" section."""
    rows, env = payload["rows"], payload["environment"]
    table = []
    for problem, (title, _, _) in PROBLEMS.items():
        for n in sorted({r["n"] for r in rows if r["problem"] == problem}):
            cells = [_cell(_fastest(rows, problem, n, pred)) for _, pred in README_COLUMNS]
            table.append([SHORT_NAMES[problem], n] + cells)
    out = ["## Performance", "",
           f"Time per call in microseconds (median; {payload['settings']['clock']} clock), from "
           f"`python -m benchmarks peers{' --quick' if payload['quick'] else ''}` on "
           f"{env['date'][:10]}, {env['cpu_count']} cpus, numba {env['numba']}, "
           + ", ".join(f"{k} {v}" for k, v in payload["versions"].items()
                       if v and k in ("jax", "torch", "autograd", "scipy"))
           + ". dualdiff runs the Numba-style loop code and takes and returns NumPy arrays; "
           "each peer runs idiomatic array code at float64 (JAX results waited for); each "
           "column shows that tool's fastest variant. Full tables, first-call times and "
           "accuracy: `benchmarks/results/peers.md`.", "",
           md_table(["problem", "n"] + [c for c, _ in README_COLUMNS], table), ""]
    met = [t for t in payload["targets"] if t["met"]]
    missed = [t for t in payload["targets"] if not t["met"]]
    if payload["targets"]:
        out.append(f"Targets: {len(met)} met, {len(missed)} missed"
                   + (": " + "; ".join(f"{t['target']} (ratio {t['ratio']:.2f})"
                                       for t in missed) if missed else "") + ".")
        out.append("")
    out += ["Where dualdiff loses:", ""] + [f"- {b}" for b in payload["losses"]]
    return "\n".join(out)


SHORT_NAMES = {"scalar": "scalar derivative (example)", "rosenbrock_grad": "Rosenbrock gradient",
               "broyden_jac": "Broyden Jacobian", "rosenbrock_hess": "Rosenbrock Hessian",
               "logsumexp_hess": "log-sum-exp Hessian", "mlp_grad": "MLP loss gradient",
               "kepler_grad": "Kepler (while-loop) gradient"}


def markdown(payload):
    rows, env = payload["rows"], payload["environment"]
    out = ["# dualdiff against its peers", "",
           f"Generated by `python -m benchmarks peers{' --quick' if payload['quick'] else ''}` "
           f"on {env['date']} ({env['cpu_count']} cpus, {env['platform']}); python "
           f"{env['python']}, numpy {env['numpy']}, numba {env['numba']}; peers: "
           + ", ".join(f"{k} {v}" for k, v in payload["versions"].items() if v) + ".",
           "",
           f"Clock: {payload['settings']['clock']} time. Steady-state numbers are medians of "
           f"{payload['settings']['batches']} interleaved batches (~"
           f"{payload['settings']['batch_seconds'] * 1e3:.0f} ms each) after warm-up, with the "
           "interquartile range; tools slower than "
           f"{SLOW_CALL_S} s per call are timed call by call. `time/dualdiff` is the tool's "
           "median over the faster dualdiff mode's (forward or reverse, marked `baseline`) "
           "in the same group (> 1: dualdiff is faster). "
           "`rel. error` is max |error| / max |analytic reference|. The first call is the "
           "first in this process (JAX: trace + compile); dualdiff's fresh-process first "
           "call is in its own table.", "",
           payload["jax_dispatch"], "",
           "Peers get their best case: inputs converted to their array type once, outside the "
           "timing; results left in their array type. dualdiff takes and returns NumPy arrays "
           "and the function is the Numba-style loop code (plus, for the MLP, the same loss as "
           "array code); the peers run idiomatic array code.", "",
           "Threads: " + _thread_note(payload.get("threads") or {}), ""]
    if payload.get("machine_note"):
        out += [payload["machine_note"], ""]
    if payload["skipped"]:
        out += ["Skipped (not installed): " + "; ".join(payload["skipped"].values()), ""]
    out += ["## Targets", ""]
    for t in payload["targets"]:
        out.append(f"- **{'met' if t['met'] else 'missed'}**: {t['target']}: ratio "
                   f"{t['ratio']:.2f}")
    if not payload["targets"]:
        out.append("- (no target could be evaluated in this run)")
    out += ["", "## Where dualdiff loses", ""]
    out += [f"- {b}" for b in payload["losses"]] or ["- nowhere in this run"]
    out += ["", "## Time per call", ""]
    for problem, (title, _, _) in PROBLEMS.items():
        prows = [r for r in rows if r["problem"] == problem]
        if not prows:
            continue
        out += [f"### {title}", ""]
        if problem == "kepler_grad":
            its = payload.get("kepler_iterations")
            at = tuple(P.KEPLER_X.tolist())
            out += [f"Newton's method stops when the step is below {P.KEPLER_TOL:g}: "
                    f"{its} iterations at (e, M) = {at}. `fails` rows record the "
                    "error class the tool raises on the user's unmodified loop; `[rewrite]` "
                    "rows had to be rewritten for the tool.", ""]
        table = [[r["n"], r["tool"]] + _row_cells(r) for r in prows]
        out += [md_table(HEADERS[1:], table), ""]
    out += ["## dualdiff's first call in a fresh process", "",
            "Compilation included, imports excluded (`import dualdiff` timed separately); "
            "median over the fresh processes.", ""]
    ft = []
    for f in payload["fresh_first_call"]:
        if "median" in f:
            m = f["median"]
            ft.append([f["problem"], f["n"], f"`{f['call']}`", f"{m['import_tool_s']:.2f} s",
                       f"{m['first_call_s']:.2f} s", f"{m['cpu_first_call_s']:.2f} s",
                       _fmt_s(m["second_call_s"])])
        else:
            ft.append([f["problem"], f["n"], "", "", "", "", f.get("error", "")])
    out += [md_table(["problem", "n", "call", "import (incl. problems module)",
                      "first call wall", "first call cpu", "second call"], ft), ""]
    out += ["## Accuracy", "",
            "max |error| / max |reference| against the analytic derivative (float64).", ""]
    at = [[r["problem"], r["n"], r["tool"], _fmt_err(r["rel_error"])]
          for r in rows if r.get("rel_error") is not None]
    out += [md_table(["problem", "n", "tool", "rel. error"], at), ""]
    out += ["## Proposed README \"Performance\" section", "",
            "The text below is generated from this run, for the lead to paste into README.md.",
            "", "```markdown", readme_section(payload), "```", ""]
    if payload.get("plots"):
        out += ["## Plots", ""] + [f"![{os.path.basename(p)}]({os.path.basename(p)})"
                                   for p in payload["plots"]] + [""]
    return "\n".join(out)


# ===========================================================================
# The run
# ===========================================================================

def _parse(names, known, what):
    if not names:
        return None
    chosen = [s.strip() for s in names.split(",") if s.strip()] if isinstance(names, str) \
        else list(names)
    bad = [s for s in chosen if s not in known]
    if bad:
        raise SystemExit(f"unknown {what}: {', '.join(bad)}; choose from {', '.join(known)}")
    return chosen


def run(quick=False, clock=DEFAULT_CLOCK, problems=None, tools=None):
    t_start = time.perf_counter()
    settings = Settings.for_mode(quick, clock)
    problems = _parse(problems, list(PROBLEMS), "problem(s)") or list(PROBLEMS)
    tool_names = sorted(set(T.FAMILIES) | {v.label for p in PROBLEMS for v in T.variants(p)})
    tools = _parse(tools, tool_names, "tool(s)")
    if clock == "cpu":
        _log("[peers] note: the thread-CPU clock does not see work JAX/PyTorch do on other "
             "threads; use the default (process CPU time) or --clock wall")
    env = environment()
    load_start = _load()
    skipped = {}
    rows, kepler_its = [], None
    for problem in problems:
        for n in PROBLEMS[problem][2 if quick else 1]:
            group, data = run_group(problem, n, tools, settings, skipped)
            rows += group
            kepler_its = data.get("iterations", kepler_its)
    for family, why in skipped.items():
        _log(f"[peers] note: {family} skipped: {why}")
    fresh = []
    if tools is None or "dualdiff" in tools or any(t.startswith("dualdiff") for t in tools):
        for problem in problems:
            fresh.append(fresh_first_call(problem, PROBLEMS[problem][2 if quick else 1][0],
                                          settings))
    payload = {
        "suite": "peers", "quick": quick, "environment": env, "versions": T.versions(),
        "settings": {"clock": settings.clock, "batches": settings.batches,
                     "batch_seconds": settings.batch_seconds,
                     "warmup_calls": settings.warmup_calls,
                     "first_call_reps": settings.first_call_reps,
                     "slow_call_s": SLOW_CALL_S},
        "threads": _threads(skipped),
        "jax_dispatch": jax_dispatch_note(skipped) if (tools is None or "jax" in tools
                                                      or any("jax" in t for t in tools))
        else "JAX not selected",
        "skipped": skipped, "problems": {k: PROBLEMS[k][0] for k in problems},
        "kepler_iterations": kepler_its, "rows": rows, "fresh_first_call": fresh,
    }
    payload["targets"] = targets(rows)
    payload["losses"] = losses(rows, fresh)
    payload["load_average"] = {"start": load_start, "end": _load()}
    payload["machine_note"] = (
        f"Load average (1 min) {load_start} at the start, {payload['load_average']['end']} at "
        f"the end, on {env['cpu_count']} cpus: a load near or above the cpu count means "
        "other jobs shared the machine, so absolute times are noisy and the ratios within "
        "a group are the numbers to read.")
    try:
        from ._plots import plot_peers
        payload["plots"] = plot_peers(rows, PROBLEMS, RESULTS_DIR)
    except ImportError as exc:
        _log(f"[peers] note: plots skipped ({exc})")
        payload["plots"] = []
    os.makedirs(RESULTS_DIR, exist_ok=True)
    md_path = os.path.join(RESULTS_DIR, "peers.md")
    with open(md_path, "w") as fh:
        fh.write(markdown(payload) + "\n")

    print()
    print(f"dualdiff against its peers ({'quick' if quick else 'full'} run; clock: "
          f"{settings.clock}; median and IQR over interleaved batches)")
    print(payload["jax_dispatch"])
    print()
    print(text_table(rows))
    print()
    print("Targets")
    for t in payload["targets"]:
        print(f"  [{'ok' if t['met'] else 'MISSED'}] {t['target']}: {t['ratio']:.2f}")
    print()
    print("Where dualdiff loses")
    for b in payload["losses"]:
        print(f"  - {b}")
    print(f"\n[peers] tables and the proposed README text written to {md_path}")
    payload["run_wall_s"] = time.perf_counter() - t_start
    return payload


def _load():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _thread_note(threads):
    blas = threads.get("OPENBLAS_NUM_THREADS")
    if blas is None:
        return ("the libraries' defaults (BLAS, PyTorch and XLA may each use every core).")
    return (f"every tool runs with {blas} thread(s): BLAS, OpenMP/PyTorch and XLA are pinned "
            "by `python -m benchmarks` (`--threads`), so no tool gains from cores the others "
            "do not use.")


def _threads(skipped):
    out = {"numba": None}
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS"):
        out[name] = os.environ.get(name)
    try:
        import numba
        out["numba"] = numba.config.NUMBA_NUM_THREADS
    except Exception:
        pass
    if "torch" not in skipped:
        try:
            import torch
            out["torch"] = torch.get_num_threads()
        except ImportError:
            pass
    return out
