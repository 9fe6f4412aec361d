"""Finite differences against automatic differentiation: accuracy and cost.

The Rosenbrock gradient at n = 10, 100 and 1000, computed by

* ``fd.<method>`` -- :mod:`dualdiff.fd` with the methods ``forward``,
  ``central``, ``central4`` and ``richardson`` on the ``@njit``-compiled loop
  Rosenbrock (the cheapest function finite differences can call), and
  ``complex`` (the complex step) on a NumPy-vectorised Rosenbrock, which is
  complex-safe; ``fd.central (NumPy f)`` is the central difference of that
  same NumPy function, so the complex step can be compared with a real
  method on equal terms;
* ``dd.gradient`` -- forward-mode AD on the plain-Python loop Rosenbrock
  (compiled by dualdiff on first call, outside the timing).

For each: the median time per gradient and its IQR over interleaved batches
(:func:`benchmarks._timing.compare`), the ratio to ``dd.gradient`` in the
same group, the largest relative error against the analytic gradient, and
how many times the function is evaluated per gradient (forward sweeps on
dual numbers for AD).  The errors are measured against the analytic
gradient evaluated in float64, which is itself rounded, so errors near
1e-16 mean "exact to rounding".
"""

import math

import numpy as np
from numba import njit

import dualdiff as dd
from dualdiff import fd
from dualdiff.examples import rosenbrock, rosenbrock_gradient

from ._report import environment, fmt_ratio, fmt_us, format_table, log as _log
from ._timing import Case, Settings, compare

N_VALUES = (10, 100, 1000)
FD_METHODS = ("forward", "central", "central4", "richardson")

# Compiled once at import; FD methods call it n..~10n times per gradient.
rosenbrock_jit = njit(rosenbrock)


def rosenbrock_np(x):
    """NumPy-vectorised Rosenbrock; keeps complex input complex."""
    head, tail = x[:-1], x[1:]
    return np.sum(100.0 * (tail - head * head) ** 2 + (1.0 - head) ** 2)


def rosenbrock_x(n):
    return np.linspace(-1.2, 1.1, n)


class _Counter:
    """Wraps ``f`` and counts its calls (used once per method, never timed)."""

    def __init__(self, f):
        self.f, self.calls = f, 0

    def __call__(self, x):
        self.calls += 1
        return self.f(x)


def _errors(got, want):
    """(largest elementwise relative error, largest error over max |g|)."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    diff = np.abs(got - want)
    nz = want != 0
    elementwise = float(np.max(diff[nz] / np.abs(want[nz]))) if nz.any() else float("nan")
    normwise = float(np.max(diff) / max(float(np.max(np.abs(want))), 1e-300))
    return elementwise, normwise


def _cases(n):
    """[(name, callable, function-for-counting, how to count)] for one n."""
    x = rosenbrock_x(n)
    out = []
    for m in FD_METHODS:
        out.append((f"fd.{m}", (lambda m=m: fd.gradient(rosenbrock_jit, x, method=m)),
                    (lambda f, m=m: fd.gradient(f, x, method=m)), rosenbrock_jit))
    out.append(("fd.central (NumPy f)",
                lambda: fd.gradient(rosenbrock_np, x, method="central"),
                lambda f: fd.gradient(f, x, method="central"), rosenbrock_np))
    out.append(("fd.complex (NumPy f)",
                lambda: fd.gradient(rosenbrock_np, x, method="complex"),
                lambda f: fd.gradient(f, x, method="complex"), rosenbrock_np))
    out.append(("dd.gradient", lambda: dd.gradient(rosenbrock, x), None, None))
    return x, out


def bench_n(n, settings):
    _log(f"[fd_vs_ad] Rosenbrock gradient n={n} ...")
    x, cases = _cases(n)
    want = rosenbrock_gradient(x)
    rosenbrock_jit(x)          # compile both targets outside the timing
    dd.gradient(rosenbrock, x)
    info = {}
    for name, fn, counted, f in cases:
        rel, normwise = _errors(fn(), want)
        if counted is not None:
            counter = _Counter(f)
            counted(counter)
            calls, unit = counter.calls, "f calls"
        else:
            chunk = dd.choose_chunk(n)
            calls, unit = math.ceil(n / chunk), f"sweeps of {chunk} partials"
        info[name] = {"max_rel_error": rel, "max_error_over_max_g": normwise,
                      "evaluations": calls, "evaluation_unit": unit}
    timings = compare([Case(name, fn) for name, fn, _, _ in cases]
                      + [Case("(ref) f(x) @njit", lambda: rosenbrock_jit(x)),
                         Case("(ref) f(x) NumPy", lambda: rosenbrock_np(x))], settings)
    ad = timings["dd.gradient"].median
    rows = []
    for name, t in timings.items():
        row = {"n": n, "method": name, **t.as_dict(), "ratio_vs_ad": t.median / ad}
        row.update(info.get(name, {}))
        rows.append(row)
    return rows


def table(rows):
    headers = ["method", "n", "median us/call", "IQR us", "x AD", "max rel error",
               "max err/max|g|", "evaluations / gradient"]
    out = []
    last_n = None
    for r in rows:
        if last_n is not None and r["n"] != last_n:
            out.append([])
        last_n = r["n"]
        err = f"{r['max_rel_error']:.1e}" if "max_rel_error" in r else ""
        nerr = f"{r['max_error_over_max_g']:.1e}" if "max_rel_error" in r else ""
        if "evaluations" in r:
            ev = f"{r['evaluations']} {r['evaluation_unit']}"
        else:
            ev = "1 (reference)"
        out.append([r["method"], r["n"], fmt_us(r["median_s"]), fmt_us(r["iqr_s"]),
                    fmt_ratio(r["ratio_vs_ad"]), err, nerr, ev])
    return format_table(headers, out, align="lrrrrrrl")


def run(quick=False, clock="cpu"):
    settings = Settings.for_mode(quick, clock)
    env = environment()
    rows = []
    for n in N_VALUES:
        rows.extend(bench_n(n, settings))

    print()
    print(f"Finite differences vs AD: Rosenbrock gradient  ({'quick' if quick else 'full'} "
          f"run; {settings.batches} interleaved batches of ~{settings.batch_seconds * 1e3:.0f} ms "
          f"per case; clock: {settings.clock})")
    print(f"python {env['python']}, numpy {env['numpy']}, numba {env['numba']}, "
          f"{env['cpu_count']} cpus, {env['date']}")
    print("fd.* (except NumPy f rows) differentiate the @njit loop Rosenbrock; dd.gradient the "
          "plain-Python one (compiled by dualdiff).")
    print("x AD: median over dd.gradient's median in the same n group.  max rel error: "
          "max_i |g_i - g*_i| / |g*_i| against the")
    print("analytic gradient g* in float64 (itself rounded, with cancellation in small entries: "
          "a few 1e-14 is exact);")
    print("max err/max|g|: max_i |g_i - g*_i| / max_i |g*_i|.  evaluations counted with a "
          "wrapper in one untimed call.")
    print()
    print(table(rows))
    return {"suite": "fd_vs_ad", "quick": quick, "environment": env,
            "settings": {"clock": settings.clock, "batches": settings.batches,
                         "batch_seconds": settings.batch_seconds,
                         "warmup_calls": settings.warmup_calls},
            "rows": rows}
