"""``python -m benchmarks [suite ...] [--quick] [--clock cpu|wall] [--no-json]``"""

import argparse
import importlib
import sys
import time

from . import SUITES
from ._report import write_json


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Print benchmark tables for dualdiff (all suites by default).",
        epilog="suites: " + "; ".join(f"{k}: {v[1]}" for k, v in SUITES.items()))
    parser.add_argument("suites", nargs="*", metavar="suite",
                        help=f"which suites to run (default: all of {', '.join(SUITES)})")
    parser.add_argument("--quick", action="store_true",
                        help="fewer and shorter timed batches, one first-call process each")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="steady-state clock: this thread's CPU time (default; robust when "
                             "other processes share the cores) or wall time")
    parser.add_argument("--no-json", action="store_true",
                        help="do not write benchmarks/results/<suite>.json")
    opts = parser.parse_args(argv)
    unknown = [s for s in opts.suites if s not in SUITES]
    if unknown:
        parser.error(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    for name in opts.suites or list(SUITES):
        module = importlib.import_module(SUITES[name][0])
        t0 = time.perf_counter()
        payload = module.run(quick=opts.quick, clock=opts.clock)
        payload["suite_wall_s"] = time.perf_counter() - t0
        if not opts.no_json:
            path = write_json(name, payload)
            print(f"\n[{name}] results written to {path}")
        print(f"[{name}] finished in {payload['suite_wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
