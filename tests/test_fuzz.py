"""The differential fuzzer (tests/fuzz.py, issue 22) on a small budget.

Every run: one compiled batch of random programs, half from a fixed seed and
half from a seed derived from the date (so each day adds programs nobody has
tried), differentiated in the modes that compile fastest and compared with
each other and with the mpmath reference.  A failure's message is the
fuzzer's report: the mismatch, the program and a minimal program that still
fails the same way, ready to paste into a regression test.

Then the fuzzer is shown to fail: in a fresh process, ``tanh``'s first
derivative is multiplied by 1.01 in the rule table before dualdiff is
imported (tests/fuzz_planted.py), and a forward-mode-versus-reference run
on a small budget must report mismatches, all in programs that call tanh.

Bigger budgets: ``python -m tests.fuzz --count 3000 --seed 1``.
"""

import ast
import datetime
import json
import os
import re
import subprocess
import sys

import mpmath
import numpy as np
import pytest

import fuzz

FIXED_SEED = 20261121
DATE_SEED = datetime.date.today().toordinal()

# The modes of the every-run budget: first and second order in both modes,
# the tape VJP (it reuses the reverse compile), and the reference.  Each
# further mode compiles the batch again for its number type (hvp and vhv
# in forward mode, jvp, the line derivative: 10-25 s each; measured on the
# project's 2-core machine, 6 programs: grad.fwd 9.5 s, grad.rev 21.9 s,
# hess.fwd 15.9 s, hess.rev 1.2 s, vjp.rev 1.7 s, 51 s in all for 204
# comparisons); `python -m tests.fuzz` runs them all.
CI_MODES = ("grad.fwd", "grad.rev", "hess.fwd", "hess.rev", "vjp.rev", "ref")
CI_BATCH = 6    # programs, in one compiled batch
CI_POINTS = 6   # points per program (nearly free once compiled)

HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------------------
# The fuzzer's own parts, in Python (no compiles)
# ---------------------------------------------------------------------------

KINDS = ("scalar", "tuple2", "list", "fill")


@pytest.mark.parametrize("kind", KINDS)
def test_programs_are_deterministic_and_parse(kind):
    for k in range(40):
        a = fuzz.generate_program(f"t/{k}", 3, kind)
        b = fuzz.generate_program(f"t/{k}", 3, kind)
        assert a == b
        source = fuzz.render_program(a)
        ast.parse(source)
        assert fuzz.valid(a), source
    pts = fuzz.generate_points("t/0", 4, 3)
    assert all(np.array_equal(p, q) for p, q in zip(pts, fuzz.generate_points("t/0", 4, 3)))


def test_generator_reaches_every_rule_and_construct():
    names, kinds = set(), set()
    for k in range(300):
        prog = fuzz.generate_program(f"cover/{k}", 3, "scalar")
        for node in fuzz._walk(prog["body"]):
            if isinstance(node, tuple) and node:
                kinds.add(node[0])
                if node[0] in ("u", "b"):
                    names.add((node[1], node[2]))
    for rule in list(fuzz.UNARY.values()) + list(fuzz.BINARY.values()):
        spelled = [s for s, _ in fuzz.spellings(rule) if s != "rules"] or ["rules"]
        for spelling in spelled:
            assert (spelling, rule.name) in names, (spelling, rule.name)
    assert {"for", "while", "if", "brk", "ret", "pow", "sel", "abs", "clip", "ife",
            "div", "neg", "xl", "xlp", "iv"} <= kinds


def _float_eval(source, x):
    namespace = {}
    exec(fuzz.SOURCE_HEADER + source, namespace)
    with np.errstate(all="ignore"):
        return namespace["f"](x)


def test_reference_interpreter_follows_the_source():
    """The mpmath interpreter runs the same program as the rendered source:
    where plain float evaluation of the source succeeds and the program is
    smooth, the two agree to rounding."""
    agreed = 0
    for k in range(200):
        kind = KINDS[k % len(KINDS)] if k % 2 else "scalar"
        prog = fuzz.generate_program(f"interp/{k}", 3, kind)
        source = fuzz.render_program(prog)
        for x in fuzz.generate_points(f"interp/{k}", 3, 2):
            try:
                want = np.atleast_1d(np.asarray(_float_eval(source, x.copy()), dtype=float))
            except (ValueError, ZeroDivisionError, OverflowError):
                continue  # math.log(-1) and friends raise on plain floats
            ctx = fuzz._MP()
            try:
                with mpmath.workprec(200):
                    got = fuzz.mp_eval(prog, [mpmath.mpf(float(v)) for v in x], ctx)
            except fuzz._Invalid:
                continue
            if ctx.margin < 1e-6 or not np.all(np.isfinite(want)) or np.abs(want).max() > 1e12:
                continue
            got = np.atleast_1d(np.array([float(g) for g in np.atleast_1d(got)]))
            assert got.shape == want.shape, (source, x, got, want)
            assert np.all(np.abs(got - want) <= 1e-7 * (1.0 + np.abs(want))), (source, x, got, want)
            agreed += 1
    assert agreed > 100


def test_compare_conventions():
    assert fuzz.compare([1.0, np.nan, np.inf], [1.0 + 1e-14, np.nan, np.inf]) is None
    assert fuzz.compare([0.0, 1.0], [np.nan, 1.0])[0] == "nan"
    assert fuzz.compare([np.inf], [-np.inf])[0] == "inf"
    assert fuzz.compare([1.0, 2.0], [1.0, 2.001])[0] == "value"
    assert fuzz.compare([1e-17, 1.0], [0.0, 1.0]) is None  # rounding around an exact zero
    assert fuzz.compare(np.zeros(2), np.zeros(3))[0] == "shape"


def test_shrink_candidates_are_valid_and_smaller():
    for k in range(30):
        prog = fuzz.generate_program(f"shrink/{k}", 3, "scalar")
        for cand in fuzz.candidates(prog)[:50]:
            assert fuzz.valid(cand)
            assert fuzz.size(cand) < fuzz.size(prog) or \
                fuzz.render_program(cand) != fuzz.render_program(prog)
            ast.parse(fuzz.render_program(cand))


# ---------------------------------------------------------------------------
# The every-run budget
# ---------------------------------------------------------------------------

def test_fuzz_modes_agree():
    """A few hundred (program, point, check) comparisons, one compile per
    mode: no mode may disagree with forward mode or with the reference."""
    res = fuzz.run(count=10 ** 9, seed=(FIXED_SEED, DATE_SEED), batch_size=CI_BATCH,
                   points=CI_POINTS, computations=CI_MODES, shrink_max=1,
                   shrink_seconds=90.0, vector=False, log=None, max_batches=1)
    assert res.comparisons >= 150
    assert not res.failed, "\n" + fuzz.summarize(res)


# ---------------------------------------------------------------------------
# The fuzzer can fail: a wrong rule planted in the table is found
# ---------------------------------------------------------------------------

def test_planted_wrong_rule_is_found():
    """tanh' off by 1%, in every number type of a fresh process: forward
    mode against the reference finds it, and only in programs using tanh."""
    cmd = [sys.executable, os.path.join(HERE, "fuzz_planted.py"), "--rule", "tanh",
           "--factor", "1.01", "--count", str(10 ** 9), "--batches", "1", "--seed", "3",
           "--batch", "24", "--points", "3", "--modes", "grad.fwd,ref"]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE)] +
                                        [p for p in [env.get("PYTHONPATH")] if p])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env,
                          cwd=os.path.dirname(HERE))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("PLANTED-RESULT ")][-1]
    result = json.loads(line[len("PLANTED-RESULT "):])
    found = result["mismatches"]
    assert found, "the planted tanh rule went unnoticed:\n" + proc.stdout[-3000:]
    for m in found:
        assert m["check"] == "forward vs reference (value, first derivatives)", m
        assert m["kind"] == "value", m
        # a call of tanh itself (arctanh and math.atanh do not count)
        assert re.search(r"\b(np|math|rules)\.tanh\(", m["source"]), m["source"]
    assert result["fallbacks"] == 0
