"""Timing helpers shared by every benchmark suite.

Two kinds of measurement:

* :func:`compare` -- steady-state cost per call of several callables measured
  side by side in one process.  Each callable is warmed up (so compilation is
  excluded), calibrated so one timed batch lasts about ``batch_seconds``, and
  then timed in ``batches`` batches that are *interleaved* across the
  callables (batch 1 of every case, then batch 2 of every case, ...), so slow
  drifts of a noisy machine hit all cases alike and ratios stay meaningful.
  The result per case is the median and the interquartile range of the
  per-call times of its batches.

* :func:`first_call` -- the honest cost of the first call, compilation
  included: a snippet is run in a fresh Python subprocess, and the import
  times and the first (and a second) call are timed separately.
"""

import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field

__all__ = ["Case", "Timing", "Settings", "compare", "FirstCall", "first_call"]


# ---------------------------------------------------------------------------
# Steady-state timing
# ---------------------------------------------------------------------------

@dataclass
class Settings:
    """How hard to measure.  ``quick`` trades precision for time."""
    batches: int = 15          # timed batches per case
    batch_seconds: float = 0.02  # target duration of one batch
    warmup_calls: int = 3      # untimed calls before calibration (compile here)
    first_call_reps: int = 3   # fresh subprocesses per first-call measurement
    clock: str = "cpu"         # "cpu": this thread's CPU time; "wall": perf_counter

    @classmethod
    def for_mode(cls, quick, clock="cpu"):
        if clock not in CLOCKS:
            raise ValueError(f"clock must be one of {sorted(CLOCKS)}, got {clock!r}")
        if quick:
            return cls(batches=7, batch_seconds=0.008, warmup_calls=2, first_call_reps=1,
                       clock=clock)
        return cls(clock=clock)


#: Steady-state clocks.  On a shared machine (other processes competing for
#: the cores) the thread's CPU time leaves out the time this process spent
#: descheduled, which wall-clock batches cannot; on an idle machine the two
#: agree.  Both have nanosecond resolution on Linux.
CLOCKS = {"cpu": time.thread_time, "wall": time.perf_counter}


@dataclass
class Case:
    """A callable to time.  ``per`` divides the time of one call: a compiled
    loop over 1000 points reports the cost per point with ``per=1000``."""
    name: str
    fn: object
    per: int = 1


@dataclass
class Timing:
    name: str
    samples: list = field(default_factory=list)  # seconds per unit, one per batch
    number: int = 0                              # calls per batch

    @property
    def median(self):
        return statistics.median(self.samples)

    @property
    def quartiles(self):
        s = sorted(self.samples)
        if len(s) < 2:
            return s[0], s[0]
        q = statistics.quantiles(s, n=4, method="inclusive")
        return q[0], q[2]

    @property
    def iqr(self):
        lo, hi = self.quartiles
        return hi - lo

    def as_dict(self):
        lo, hi = self.quartiles
        return {"median_s": self.median, "q1_s": lo, "q3_s": hi, "iqr_s": hi - lo,
                "batches": len(self.samples), "calls_per_batch": self.number}


def _batch(fn, number, clock=time.perf_counter):
    loop = range(number)
    t0 = clock()
    for _ in loop:
        fn()
    return clock() - t0


def _calibrate(fn, batch_seconds, clock):
    """Calls per batch so that one batch lasts about ``batch_seconds``."""
    number = 1
    while True:
        elapsed = _batch(fn, number, clock)
        if elapsed >= batch_seconds / 4 or number >= 10_000_000:
            break
        number *= 10 if elapsed < batch_seconds / 100 else 2
    return max(1, math.ceil(number * batch_seconds / max(elapsed, 1e-9)))


def compare(cases, settings):
    """Time ``cases`` side by side; returns ``{name: Timing}`` in case order."""
    for case in cases:
        for _ in range(settings.warmup_calls):
            case.fn()
    clock = CLOCKS[settings.clock]
    numbers = [_calibrate(case.fn, settings.batch_seconds, clock) for case in cases]
    timings = {c.name: Timing(c.name, [], k) for c, k in zip(cases, numbers)}
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for b in range(settings.batches):
            # rotate the order so no case always runs first (cache, turbo)
            shift = b % len(cases)
            order = list(range(shift, len(cases))) + list(range(shift))
            for i in order:
                case, number = cases[i], numbers[i]
                elapsed = _batch(case.fn, number, clock)
                timings[case.name].samples.append(elapsed / number / case.per)
    finally:
        if was_enabled:
            gc.enable()
    return timings


# ---------------------------------------------------------------------------
# First-call timing in a fresh process
# ---------------------------------------------------------------------------

_CHILD = '''\
import time
def _clock():
    return time.perf_counter(), time.process_time()
_t0 = _clock()
import numpy, numba
_t1 = _clock()
{imports}
_t2 = _clock()
{setup}
_t3 = _clock()
{call}
_t4 = _clock()
{call}
_t5 = _clock()
{after}
_t6 = _clock()
import json, sys
_out = {{}}
for _i, _kind in enumerate(("", "cpu_")):
    _out.update({{
        _kind + "import_numpy_numba_s": _t1[_i] - _t0[_i],
        _kind + "import_tool_s": _t2[_i] - _t1[_i],
        _kind + "setup_s": _t3[_i] - _t2[_i],
        _kind + "first_call_s": _t4[_i] - _t3[_i],
        _kind + "second_call_s": _t5[_i] - _t4[_i],
        _kind + "imports_and_first_call_s": _t4[_i] - _t0[_i]}})
    if {has_after}:
        _out[_kind + "after_s"] = _t6[_i] - _t5[_i]
sys.stdout.write("@@RESULT@@" + json.dumps(_out) + "\\n")
'''


@dataclass
class FirstCall:
    name: str
    runs: list = field(default_factory=list)  # one dict per subprocess

    def median(self, key):
        return statistics.median(r[key] for r in self.runs)

    def spread(self, key):
        values = [r[key] for r in self.runs]
        return min(values), max(values)

    def as_dict(self):
        keys = self.runs[0].keys() if self.runs else ()
        return {"runs": self.runs,
                "median": {k: self.median(k) for k in keys},
                "min": {k: self.spread(k)[0] for k in keys},
                "max": {k: self.spread(k)[1] for k in keys}}


def first_call(name, call, setup="", imports="", after="", reps=3, timeout=300):
    """Run ``setup`` then ``call`` (twice) in ``reps`` fresh interpreters.

    ``numpy`` and ``numba`` are always imported first and timed on their own;
    ``imports`` (say ``import dualdiff as dd``) is timed next, then ``setup``
    (defining the function and its input, untimed in the results that
    matter), then the first call (compilation included) and a second call,
    then ``after`` if given (say, the first call on *another* function in the
    same process, key ``after_s``).
    Every interval is recorded as wall time and (keys ``cpu_*``) as the
    process's CPU time, which on a shared machine is the better estimate of
    the wall time on an idle one.  Each run also records the wall time of the
    whole process as seen from here (interpreter start-up included).
    """
    source = _CHILD.format(imports=textwrap.dedent(imports).strip() or "pass",
                           setup=textwrap.dedent(setup).strip() or "pass",
                           call=textwrap.dedent(call).strip(),
                           after=textwrap.dedent(after).strip() or "pass",
                           has_after=bool(after.strip()))
    result = FirstCall(name)
    with tempfile.TemporaryDirectory(prefix="dualdiff-bench-") as tmp:
        path = os.path.join(tmp, "first_call_snippet.py")
        with open(path, "w") as fh:
            fh.write(source)
        env = dict(os.environ)
        env.pop("NUMBA_DISABLE_JIT", None)
        for _ in range(reps):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, path], capture_output=True, text=True,
                                  timeout=timeout, env=env, cwd=tmp)
            wall = time.perf_counter() - t0
            marker = [ln for ln in proc.stdout.splitlines() if ln.startswith("@@RESULT@@")]
            if proc.returncode != 0 or not marker:
                raise RuntimeError(f"first-call snippet {name!r} failed "
                                   f"(exit {proc.returncode}):\n{proc.stderr[-2000:]}")
            run = json.loads(marker[-1][len("@@RESULT@@"):])
            run["process_wall_s"] = wall
            result.runs.append(run)
    return result
