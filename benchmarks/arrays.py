"""Array programming on dual arrays: vectorized against loop-style user code.

The same function written two ways, each differentiated by ``dd.gradient``
and each timed against its own plain ``@njit`` version:

* Rosenbrock, n = 100 and 1000: ``np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 +
  (1 - x[:-1]) ** 2)`` against the loop of :mod:`dualdiff.examples`;
* the input gradient of an MLP 32-64-64-1 (tanh, tanh, sigmoid):
  ``W @ h`` (one BLAS call per layer over value and partials) against
  explicit loops.

Target (issue 3): vectorized dual code within 2x of loop-style dual code.
"""


import numpy as np
from numba import njit

import dualdiff as dd
from dualdiff import examples

from ._report import environment, fmt_ratio, fmt_us, format_table, log as _log
from ._timing import Case, Settings, compare

N_ROSENBROCK = (100, 1000)
MLP_SIZES = (32, 64, 64)
TARGET_VEC_OVER_LOOP = 2.0


# ---------------------------------------------------------------------------
# Problems, each written vectorized and as loops
# ---------------------------------------------------------------------------

def rosenbrock_vec(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


rosenbrock_loop = examples.rosenbrock


def mlp_vec(x, W1, b1, W2, b2, w3, b3):
    h1 = np.tanh(W1 @ x + b1)
    h2 = np.tanh(W2 @ h1 + b2)
    return 1.0 / (1.0 + np.exp(-(w3 @ h2 + b3)))


def mlp_loop(x, W1, b1, W2, b2, w3, b3):
    n1, n0 = W1.shape
    n2 = W2.shape[0]
    z = b3
    h1 = []
    for i in range(n1):
        s = b1[i]
        for j in range(n0):
            s = s + W1[i, j] * x[j]
        h1.append(np.tanh(s))
    for i in range(n2):
        s = b2[i]
        for j in range(n1):
            s = s + W2[i, j] * h1[j]
        z = z + w3[i] * np.tanh(s)
    return 1.0 / (1.0 + np.exp(-z))


def mlp_params(seed=0):
    rng = np.random.default_rng(seed)
    n0, n1, n2 = MLP_SIZES
    return (rng.normal(size=(n1, n0)) / np.sqrt(n0), rng.normal(size=n1) * 0.1,
            rng.normal(size=(n2, n1)) / np.sqrt(n1), rng.normal(size=n2) * 0.1,
            rng.normal(size=n2) / np.sqrt(n2), 0.05)


# ---------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------

def _group(problem, n, x, args, vec, loop, settings, rows, checks):
    plain_vec, plain_loop = njit(vec), njit(loop)
    g_vec = dd.gradient(vec, x, args=args, mode="forward")
    g_loop = dd.gradient(loop, x, args=args, mode="forward")
    err = float(np.max(np.abs(g_vec - g_loop)))
    checks.append({"check": f"{problem} n={n}: vectorized == loop gradient",
                   "max_abs_diff": err,
                   "ok": bool(err <= 1e-12 * max(1.0, float(np.abs(g_loop).max())))})
    cases = [Case("plain f, loops (njit)", lambda: plain_loop(x, *args)),
             Case("plain f, vectorized (njit)", lambda: plain_vec(x, *args)),
             Case("dd.gradient, loops", lambda: dd.gradient(loop, x, args=args, mode="forward")),
             Case("dd.gradient, vectorized",
                  lambda: dd.gradient(vec, x, args=args, mode="forward"))]
    timings = compare(cases, settings)
    t = {k: v.median for k, v in timings.items()}
    own_plain = {"dd.gradient, loops": t["plain f, loops (njit)"],
                 "dd.gradient, vectorized": t["plain f, vectorized (njit)"]}
    ratio = t["dd.gradient, vectorized"] / t["dd.gradient, loops"]
    for name, timing in timings.items():
        rows.append({"problem": problem, "n": n, "tool": name, **timing.as_dict(),
                     "over_own_plain": (timing.median / own_plain[name]
                                        if name in own_plain else None),
                     "vec_over_loop": ratio if name == "dd.gradient, vectorized" else None})
    rows.append(None)
    return ratio


def run(quick=False, clock="cpu"):
    settings = Settings.for_mode(quick, clock)
    env = environment()
    rows, checks, ratios = [], [], {}
    for n in N_ROSENBROCK:
        _log(f"[arrays] Rosenbrock n={n} ...")
        x = np.linspace(-1.2, 1.1, n)
        ratios[f"rosenbrock n={n}"] = _group("Rosenbrock gradient", n, x, (), rosenbrock_vec,
                                             rosenbrock_loop, settings, rows, checks)
    _log("[arrays] MLP 32-64-64-1 input gradient ...")
    params = mlp_params()
    x = np.random.default_rng(1).normal(size=MLP_SIZES[0])
    ratios["mlp 32-64-64-1"] = _group("MLP 32-64-64-1 input gradient", MLP_SIZES[0], x, params,
                                      mlp_vec, mlp_loop, settings, rows, checks)

    headers = ["problem", "n", "tool", "median us/call", "IQR us", "x own plain f",
               "vec/loop"]
    table = []
    for r in rows:
        if r is None:
            table.append([])
            continue
        table.append([r["problem"], r["n"], r["tool"], fmt_us(r["median_s"]), fmt_us(r["iqr_s"]),
                      fmt_ratio(r["over_own_plain"]), fmt_ratio(r["vec_over_loop"])])
    while table and not table[-1]:
        table.pop()
    print()
    print(f"dualdiff array benchmarks  ({'quick' if quick else 'full'} run; "
          f"{settings.batches} interleaved batches; median and IQR; clock: {settings.clock})")
    print(f"python {env['python']}, numpy {env['numpy']}, numba {env['numba']}, "
          f"{env['cpu_count']} cpus, {env['date']}")
    print("x own plain f: dd.gradient time over the plain @njit function written the same way; "
          "vec/loop: vectorized dd.gradient over loop-style dd.gradient")
    print()
    print(format_table(headers, table, align="lrlrrrr"))
    print()
    print("Targets")
    verdicts = {}
    for name, ratio in ratios.items():
        ok = ratio <= TARGET_VEC_OVER_LOOP
        verdicts[name] = ok
        print(f"  [{'ok' if ok else 'MISSED'}] {name}: vectorized dual code {ratio:.2f}x "
              f"loop-style dual code (target <= {TARGET_VEC_OVER_LOOP:g}x)")
    bad = [c for c in checks if not c["ok"]]
    print(f"  [{'ok' if not bad else 'WRONG'}] vectorized and loop gradients agree "
          f"({len(checks)} checks)")
    return {"suite": "arrays", "quick": quick, "environment": env,
            "settings": {"clock": settings.clock, "batches": settings.batches,
                         "batch_seconds": settings.batch_seconds},
            "rows": [r for r in rows if r is not None], "vec_over_loop": ratios,
            "targets": verdicts, "checks": checks}
