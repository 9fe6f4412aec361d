"""``python -m benchmarks [suite ...] [--quick] [--clock cpu|wall] [--no-json]
[--problems a,b] [--tools x,y] [--threads N]``"""

import os
import sys

_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _limit_threads(argv):
    """Pin BLAS, OpenMP (PyTorch) and XLA (JAX) thread pools to ``--threads``
    (default 1) before any of them is imported.  On a small shared machine
    extra threads add contention, not speed, and every tool gets the same
    rule.  ``--threads 0`` leaves the libraries' defaults."""
    threads = "1"
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            threads = argv[i + 1]
        elif arg.startswith("--threads="):
            threads = arg.split("=", 1)[1]
    if not threads.isdigit() or threads == "0":
        return
    for name in _THREAD_VARIABLES:
        os.environ.setdefault(name, threads)
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false "
                                       f"intra_op_parallelism_threads={threads}")


if __name__ == "__main__":
    _limit_threads(sys.argv[1:])

import argparse  # noqa: E402
import importlib  # noqa: E402
import inspect  # noqa: E402
import time  # noqa: E402

from . import SUITES  # noqa: E402
from ._report import write_json


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Print benchmark tables for dualdiff (all default suites when none is named; "
                    "a suite whose module sets IN_DEFAULT_RUN = False runs only when named).",
        epilog="suites: " + "; ".join(f"{k}: {v[1]}" for k, v in SUITES.items()))
    parser.add_argument("suites", nargs="*", metavar="suite",
                        help=f"which suites to run (default: the default ones of "
                             f"{', '.join(SUITES)})")
    parser.add_argument("--quick", action="store_true",
                        help="fewer and shorter timed batches, one first-call process each")
    parser.add_argument("--clock", choices=("cpu", "wall", "process"), default=None,
                        help="steady-state clock: this thread's CPU time (robust when other "
                             "processes share the cores), wall time, or the whole process's "
                             "CPU time (peers only); default: the suite's DEFAULT_CLOCK, cpu "
                             "unless the suite says otherwise")
    parser.add_argument("--no-json", action="store_true",
                        help="do not write benchmarks/results/<suite>.json")
    parser.add_argument("--problems", default=None,
                        help="comma-separated problems, for suites that take them (peers)")
    parser.add_argument("--tools", default=None,
                        help="comma-separated tools or tool families, for suites that take "
                             "them (peers)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for BLAS, PyTorch and JAX (default 1, the same for "
                             "every tool; 0: the libraries' own defaults)")
    opts = parser.parse_args(argv)
    unknown = [s for s in opts.suites if s not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    names = opts.suites or list(SUITES)
    modules = {name: importlib.import_module(SUITES[name][0]) for name in names}
    if not opts.suites:
        names = [n for n in names if getattr(modules[n], "IN_DEFAULT_RUN", True)]
        left_out = [n for n in SUITES if n not in names]
        if left_out:
            print(f"(not in the default run, name them to run: {', '.join(left_out)})")
    for name in names:
        module = modules[name]
        kwargs = {"quick": opts.quick,
                  "clock": opts.clock or getattr(module, "DEFAULT_CLOCK", "cpu")}
        accepted = inspect.signature(module.run).parameters
        for option in ("problems", "tools"):
            value = getattr(opts, option)
            if value is None:
                continue
            if option not in accepted:
                parser.error(f"suite {name!r} does not take --{option}")
            kwargs[option] = value
        print(f"[{name}] running ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        payload = module.run(**kwargs)
        payload["suite_wall_s"] = time.perf_counter() - t0
        if not opts.no_json:
            path = write_json(name, payload)
            print(f"\n[{name}] results written to {path}")
        print(f"[{name}] finished in {payload['suite_wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
