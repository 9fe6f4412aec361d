"""Plant a wrong rule in dualdiff's rule table, then fuzz: the fuzzer must notice.

dualdiff generates its number types (Numba duals, tape variables, the
Python-side duals) from ``dualdiff.rules`` when the package is imported, so
the table is changed *before* the rest of dualdiff is imported, in a fresh
process::

    python tests/fuzz_planted.py --rule tanh --factor 1.01 --count 150 --seed 7

The package module is created without running its ``__init__``, the rules
module is imported into it, one rule is replaced (``dataclasses.replace``,
its first derivative multiplied by ``factor``), and only then does
``dualdiff/__init__.py`` run and register every number type from the
changed table.  Nothing under ``dualdiff/`` is edited.

The last line printed is ``PLANTED-RESULT <json>``: the mismatches found
(check, kind, the program's source) for tests/test_fuzz.py to assert on.
"""

import argparse
import dataclasses
import importlib
import importlib.util
import json
import os
import sys


def plant(rule_name="tanh", factor=1.01):
    """Import dualdiff with ``rule_name``'s first derivative multiplied by
    ``factor``.  Must run before anything imports dualdiff."""
    if "dualdiff" in sys.modules:
        raise RuntimeError("dualdiff is already imported: plant() must come first")
    spec = importlib.util.find_spec("dualdiff")
    package = importlib.util.module_from_spec(spec)
    sys.modules["dualdiff"] = package
    try:
        rules = importlib.import_module("dualdiff.rules")
        index = next(i for i, r in enumerate(rules.UNARY) if r.name == rule_name)
        old = rules.UNARY[index]
        namespace = {"old_d1": old.d1}
        # a jitable derivative that nests like the original one (a literal
        # factor: no closure for Numba to type)
        exec(f"def d1(x, y):\n    return {float(factor)!r} * old_d1(x, y)\n", namespace)
        new = dataclasses.replace(old, d1=rules.register_jitable(error_model="numpy")(
            namespace["d1"]))
        rules.UNARY[index] = new
        rules._UNARY_BY_NAME[rule_name] = new
        spec.loader.exec_module(package)  # now dualdiff/__init__.py registers the types
    except BaseException:
        for name in [m for m in sys.modules if m == "dualdiff" or m.startswith("dualdiff.")]:
            del sys.modules[name]
        raise
    return new


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rule", default="tanh")
    ap.add_argument("--factor", type=float, default=1.01)
    ap.add_argument("--count", type=int, default=150)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--batch", type=int, default=10)
    ap.add_argument("--points", type=int, default=3)
    ap.add_argument("--modes", default="grad.fwd,ref")
    ap.add_argument("--shrink", type=int, default=0)
    ap.add_argument("--batches", type=int, default=None)
    a = ap.parse_args(argv)
    if a.factor != 1.0:
        plant(a.rule, a.factor)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import fuzz
    res = fuzz.run(count=a.count, seed=a.seed, batch_size=a.batch, points=a.points,
                   computations=a.modes.split(","), shrink_max=a.shrink, vector=False,
                   log=lambda *x: print(*x, flush=True), max_batches=a.batches)
    print(fuzz.summarize(res), flush=True)
    out = {"comparisons": res.comparisons, "fallbacks": len(res.fallbacks),
           "mismatches": [{"check": m.check, "kind": m.kind,
                           "source": fuzz.render_program(m.prog),
                           "minimal": (fuzz.render_program(m.minimal[0])
                                       if m.minimal else None)}
                          for m in res.mismatches]}
    print("PLANTED-RESULT " + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
