"""Reverse suite: dualdiff's reverse mode against forward mode and hand-written code.

1. Rosenbrock gradient (the loop version) at n = 10, 100, 1000, 10^4:
   the plain function (``@njit``), a hand-written ``@njit`` gradient,
   ``dd.gradient`` in reverse and in forward mode.
2. An MLP 32-64-64-1 (tanh, tanh, sigmoid; squared loss) on a batch of 128,
   6337 parameters passed as a tuple ``(W1, b1, W2, b2, W3, b3)``, written
   with array operations (matmuls are block nodes): ``dd.gradient`` against
   a hand-written NumPy backprop, timed in a subprocess with single-threaded
   BLAS and the wall clock (thread CPU time does not see BLAS threads, and
   OpenBLAS threads oversubscribe a small shared machine).
3. A loop MLP keeping activations in ``np.empty`` scratch arrays against the
   same loss allocating with ``dd.arrays.empty(n, like=theta)``.
4. The crossover of forward and reverse mode for gradients (which sets
   ``dualdiff.reverse.AUTO_REVERSE_MIN_INPUTS``) and ``mode="auto"`` against
   the better of the two.
"""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
from numba import njit

import dualdiff as dd
from dualdiff import examples
from dualdiff import reverse as rv

from ._report import environment, fmt_ratio, fmt_us, format_table, log as _log
from ._timing import Case, Settings, compare

N_ROSENBROCK = (10, 100, 1000, 10_000)
N_CROSSOVER = (16, 32, 48, 64, 80, 96, 112, 128, 160, 256)
MLP_SIZES = (32, 64, 64, 1)
MLP_BATCH = 128
TARGET_ROSENBROCK = 10.0   # reverse / plain at n = 10^4
TARGET_MLP = 1.5           # dd / hand-written backprop
TARGET_AUTO = 1.2          # auto / better mode

rosenbrock = njit(examples.rosenbrock)


@njit
def rosenbrock_grad(x):
    g = np.zeros_like(x)
    for i in range(len(x) - 1):
        t = x[i + 1] - x[i] * x[i]
        g[i] += -400.0 * x[i] * t - 2.0 * (1.0 - x[i])
        g[i + 1] += 200.0 * t
    return g


def mlp_loss(params, X, t):
    W1, b1, W2, b2, W3, b3 = params
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    out = h2 @ W3 + b3
    p = 1.0 / (1.0 + np.exp(-out[:, 0]))
    return 0.5 * np.sum((p - t) ** 2)


def mlp_backprop(params, X, t):
    W1, b1, W2, b2, W3, b3 = params
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    out = h2 @ W3 + b3
    p = 1.0 / (1.0 + np.exp(-out[:, 0]))
    d3 = ((p - t) * p * (1.0 - p))[:, None]
    d2 = (d3 @ W3.T) * (1.0 - h2 * h2)
    d1 = (d2 @ W2.T) * (1.0 - h1 * h1)
    return (X.T @ d1, d1.sum(0), h1.T @ d2, d2.sum(0), h2.T @ d3, d3.sum(0))


def mlp_problem(seed=0):
    rng = np.random.default_rng(seed)
    params = []
    for a, b in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        params += [rng.normal(size=(a, b)) / np.sqrt(a), 0.1 * rng.normal(size=b)]
    X = rng.normal(size=(MLP_BATCH, MLP_SIZES[0]))
    t = rng.uniform(size=MLP_BATCH)
    return tuple(params), X, t


def _max_rel(got, want):
    got, want = np.concatenate([np.ravel(g) for g in got]), \
        np.concatenate([np.ravel(w) for w in want])
    return float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-300))


def bench_rosenbrock(settings, table, result):
    for n in N_ROSENBROCK:
        _log(f"[reverse] Rosenbrock n={n} ...")
        x = np.random.default_rng(n).uniform(-2, 2, n)
        err = _max_rel([dd.gradient(rosenbrock, x, mode="reverse")], [rosenbrock_grad(x)])
        cases = [Case("plain f(x)", lambda: rosenbrock(x)),
                 Case("hand-written grad", lambda: rosenbrock_grad(x)),
                 Case("dd reverse", lambda: dd.gradient(rosenbrock, x, mode="reverse")),
                 Case("dd forward", lambda: dd.gradient(rosenbrock, x, mode="forward"))]
        t = compare(cases, settings)
        plain = t["plain f(x)"].median
        for name, timing in t.items():
            table.append(["Rosenbrock", n, name, fmt_us(timing.median),
                          fmt_ratio(timing.median / plain), ""])
        table[-2][-1] = f"max rel err vs hand {err:.1e}"
        ops, nbytes = rv.tape_size(rosenbrock, x)
        result["rosenbrock"][n] = {k: v.as_dict() for k, v in t.items()}
        result["rosenbrock"][n]["tape_operations"] = ops
        result["rosenbrock"][n]["tape_bytes"] = nbytes
        table.append([])


def _mlp_in_subprocess(settings):
    """Time the MLP in a fresh process with single-threaded BLAS: on a small,
    shared machine OpenBLAS threads oversubscribe the cores and turn a 0.1 ms
    matmul into tens of ms, for both sides, which says nothing about AD."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    code = ("import json, dataclasses, benchmarks.reverse as b, benchmarks._timing as t\n"
            f"s = t.Settings(**{dataclasses.asdict(settings)!r})\n"
            "print(json.dumps(b._mlp_timings(s)))\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _mlp_timings(settings):
    params, X, t = mlp_problem()
    dd.gradient(mlp_loss, params, args=(X, t))
    cases = [Case("hand-written NumPy backprop", lambda: mlp_backprop(params, X, t)),
             Case("dd.gradient (reverse, blocks)", lambda: dd.gradient(mlp_loss, params,
                                                                      args=(X, t)))]
    timings = compare(cases, dataclasses.replace(settings, clock="wall"))
    return {k: v.as_dict() for k, v in timings.items()}


def bench_mlp(settings, table, result):
    _log("[reverse] MLP 32-64-64-1, batch 128 (single-threaded BLAS, subprocess) ...")
    params, X, t = mlp_problem()
    n_params = sum(p.size for p in params)
    got = dd.gradient(mlp_loss, params, args=(X, t))
    err = _max_rel(got, mlp_backprop(params, X, t))
    # wall clock: thread CPU time does not see the BLAS threads' work
    timings = _mlp_in_subprocess(settings)
    hand = timings["hand-written NumPy backprop"]["median_s"]
    for name, timing in timings.items():
        table.append([f"MLP ({n_params} params)", MLP_BATCH, name,
                      fmt_us(timing["median_s"]), fmt_ratio(timing["median_s"] / hand),
                      "wall, 1 BLAS thread"])
    table[-1][-1] += f"; max rel err vs hand {err:.1e}"
    flat, _ = dd._engine.inputs.flatten_params(params)
    tape = rv._tape_for(mlp_loss, flat, (X, t), tuple(np.shape(p) for p in params))
    result["mlp"] = dict(timings)
    result["mlp"].update(n_params=n_params, max_rel_err=err, ratio=timings[
        "dd.gradient (reverse, blocks)"]["median_s"] / hand,
        tape_ids=tape.count - tape.n, blob_bytes=int(tape.blob.nbytes))
    table.append([])


# A loop MLP as Numba users write it: activations kept in np.empty scratch
# arrays (rewritten by dualdiff to hold tape variables), against the same
# loss allocating with dd.arrays.empty(n, like=theta) (issue 18).
SCRATCH_IN, SCRATCH_HIDDEN, SCRATCH_BATCH = 8, 16, 32
TARGET_SCRATCH = 3.0       # np.empty version / dd.arrays.empty version


def _scratch_layer(theta, n_hidden, row):
    n_in = row.shape[0]
    out = np.empty(n_hidden)
    for j in range(n_hidden):
        s = theta[n_hidden * n_in + j]
        for k in range(n_in):
            s += theta[j * n_in + k] * row[k]
        out[j] = np.tanh(s)
    return out


def scratch_mlp(theta, X, y):
    n_hidden = SCRATCH_HIDDEN
    head = n_hidden * X.shape[1] + n_hidden
    total = 0.0
    for i in range(X.shape[0]):
        h = _scratch_layer(theta, n_hidden, X[i])
        z = 0.0
        for j in range(n_hidden):
            z += theta[head + j] * h[j]
        total += (z - y[i]) ** 2
    return total / X.shape[0]


def _like_layer(theta, n_hidden, row):
    n_in = row.shape[0]
    out = dd.arrays.empty(n_hidden, like=theta)
    for j in range(n_hidden):
        s = theta[n_hidden * n_in + j]
        for k in range(n_in):
            s += theta[j * n_in + k] * row[k]
        out[j] = np.tanh(s)
    return out


def like_mlp(theta, X, y):
    n_hidden = SCRATCH_HIDDEN
    head = n_hidden * X.shape[1] + n_hidden
    total = 0.0
    for i in range(X.shape[0]):
        h = _like_layer(theta, n_hidden, X[i])
        z = 0.0
        for j in range(n_hidden):
            z += theta[head + j] * h[j]
        total += (z - y[i]) ** 2
    return total / X.shape[0]


def bench_scratch(settings, table, result):
    _log("[reverse] loop MLP with np.empty scratch arrays ...")
    rng = np.random.default_rng(3)
    X = rng.normal(size=(SCRATCH_BATCH, SCRATCH_IN))
    y = rng.normal(size=SCRATCH_BATCH)
    theta = 0.3 * rng.normal(size=SCRATCH_HIDDEN * SCRATCH_IN + 2 * SCRATCH_HIDDEN)
    err = _max_rel([dd.gradient(scratch_mlp, theta, args=(X, y), mode="reverse")],
                   [dd.gradient(like_mlp, theta, args=(X, y), mode="reverse")])
    cases = [Case("dd.arrays.empty(n, like=theta)",
                  lambda: dd.gradient(like_mlp, theta, args=(X, y), mode="reverse")),
             Case("np.empty(n) (rewritten)",
                  lambda: dd.gradient(scratch_mlp, theta, args=(X, y), mode="reverse"))]
    t = compare(cases, settings)
    base = t["dd.arrays.empty(n, like=theta)"].median
    for name, timing in t.items():
        table.append([f"loop MLP ({theta.size} params)", SCRATCH_BATCH, f"reverse, {name}",
                      fmt_us(timing.median), fmt_ratio(timing.median / base), ""])
    table[-1][-1] = f"max rel diff {err:.1e}"
    result["scratch"] = {k: v.as_dict() for k, v in t.items()}
    result["scratch"]["ratio"] = t["np.empty(n) (rewritten)"].median / base
    table.append([])


def _quadratic_chain(x):
    s = 0.0
    for i in range(len(x) - 1):
        s += (x[i + 1] - x[i]) ** 2 + 0.1 * x[i] ** 2
    return s


def bench_crossover(settings, table, result):
    _log("[reverse] forward/reverse crossover and auto mode ...")
    rows = []
    for f_name, f in (("Rosenbrock", rosenbrock), ("chain", _quadratic_chain)):
        for n in N_CROSSOVER:
            x = np.random.default_rng(n).uniform(-2, 2, n)
            cases = [Case("forward", lambda: dd.gradient(f, x, mode="forward")),
                     Case("reverse", lambda: dd.gradient(f, x, mode="reverse")),
                     Case("auto", lambda: dd.gradient(f, x, mode="auto"))]
            t = compare(cases, settings)
            fw, rev, auto = (t[k].median for k in ("forward", "reverse", "auto"))
            rows.append({"f": f_name, "n": n, "forward_s": fw, "reverse_s": rev, "auto_s": auto,
                         "auto_over_best": auto / min(fw, rev)})
            table.append([f"auto: {f_name}", n, "forward / reverse / auto",
                          f"{fmt_us(fw)} / {fmt_us(rev)} / {fmt_us(auto)}",
                          fmt_ratio(auto / min(fw, rev)),
                          "reverse faster" if rev < fw else "forward faster"])
        table.append([])
    result["crossover"] = rows


def run(quick=False, clock="cpu"):
    settings = Settings.for_mode(quick, clock)
    env = environment()
    table, result = [], {"rosenbrock": {}}
    bench_rosenbrock(settings, table, result)
    bench_mlp(settings, table, result)
    bench_scratch(settings, table, result)
    bench_crossover(settings, table, result)

    print()
    print(f"dualdiff reverse-mode benchmarks ({'quick' if quick else 'full'} run; "
          f"{settings.batches} interleaved batches; median; clock: {settings.clock})")
    print(f"python {env['python']}, numpy {env['numpy']}, numba {env['numba']}, "
          f"{env['cpu_count']} cpus, {env['date']}")
    print("ratio: over the plain function (Rosenbrock), over the hand-written backprop (MLP), "
          "auto over the better mode (auto rows)")
    print()
    print(format_table(["problem", "n", "case", "time (us)", "ratio", "note"], table,
                       align="lrlrrl"))
    print()
    ros = result["rosenbrock"][N_ROSENBROCK[-1]]
    r_ros = ros["dd reverse"]["median_s"] / ros["plain f(x)"]["median_s"]
    r_hand = ros["hand-written grad"]["median_s"] / ros["plain f(x)"]["median_s"]
    r_mlp = result["mlp"]["ratio"]
    worst_auto = max(r["auto_over_best"] for r in result["crossover"])
    verdicts = [
        (r_ros <= TARGET_ROSENBROCK, f"Rosenbrock n={N_ROSENBROCK[-1]}: reverse = {r_ros:.1f} x "
         f"plain (hand-written gradient {r_hand:.1f} x; target <= {TARGET_ROSENBROCK:.0f})"),
        (r_mlp <= TARGET_MLP, f"MLP gradient: dualdiff = {r_mlp:.2f} x hand-written backprop "
         f"(target <= {TARGET_MLP})"),
        (result["scratch"]["ratio"] <= TARGET_SCRATCH, f"loop MLP with np.empty scratch "
         f"arrays: {result['scratch']['ratio']:.2f} x the dd.arrays.empty version "
         f"(target <= {TARGET_SCRATCH:.0f})"),
        (worst_auto <= TARGET_AUTO, f"auto mode: at worst {worst_auto:.2f} x the better mode "
         f"(target <= {TARGET_AUTO}; threshold n >= {rv.AUTO_REVERSE_MIN_INPUTS})"),
    ]
    print("Targets")
    for ok, text in verdicts:
        print(f"  [{'ok' if ok else 'MISSED'}] {text}")
    print(f"  [info] tape: {rv.NODE_BYTES} bytes per node; Rosenbrock "
          f"n={N_ROSENBROCK[-1]} records {ros['tape_operations']:,} nodes "
          f"({ros['tape_bytes']:,} bytes; preaccumulated: one node per term)")
    return {"suite": "reverse", "quick": quick, "environment": env,
            "settings": {"clock": settings.clock, "batches": settings.batches,
                         "batch_seconds": settings.batch_seconds},
            "rosenbrock": {str(k): v for k, v in result["rosenbrock"].items()},
            "mlp": result["mlp"], "scratch": result["scratch"],
            "crossover": result["crossover"],
            "targets": [{"target": text, "met": bool(ok)} for ok, text in verdicts]}
