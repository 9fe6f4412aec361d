"""A differential fuzzer for dualdiff (issue 22).

Random programs of the kind users write (expression trees over ``x[i]`` using
every rule of ``dualdiff.rules`` in its ``math.``/``np.`` spellings, powers,
``min``/``max``/``abs``/``np.clip``, branches on data, for-loops, while-loops
with data-dependent exits, early returns, and a few vector-valued programs)
are generated from an integer seed, compiled in batches, and differentiated
in every mode.  The modes must agree with forward mode (the reference
semantics, bit for bit where NaN and inf are), and at points where the
program is smooth, with a 30-digit mpmath reference: the same program
interpreted on mpmath numbers and differentiated by central differences at
high precision.  A mismatch is shrunk to a small program that still fails
the same way.

Run from the repository root::

    python -m tests.fuzz --count 3000 --seed 1

What is counted: one *comparison* is one (program, point, check) triple, a
check being one mode compared with forward mode or with the mpmath reference
(for instance "hessian reverse vs hessian forward").

``--replay BATCH:PROGRAM`` runs one program of a run again, and ``--show``
prints it: programs are a function of the seed, the fuzzer's code and the
rule table, so a replay is exact only with the same version of both (a rule
added to the table changes the random choices).  The minimal program of a
report does not depend on either: paste it.

The module is importable as ``fuzz`` (tests put ``tests/`` on ``sys.path``)
and as ``tests.fuzz``: it uses absolute imports only.

Programs are kept as small trees (tuples):

expressions
    ``("x", i)`` ``x[i]``; ``("xl",)`` ``x[i]`` and ``("xlp",)`` ``x[i - 1]``
    and ``("iv",)`` ``i``, inside a for-loop over ``i``; ``("v", name)`` a
    local; ``("c", float)``; ``("ci", int)`` an integer exponent;
    ``("neg", a)``; ``("add"|"sub"|"mul"|"div"|"pow", a, b)``;
    ``("u", spelling, rule, a)`` and ``("b", spelling, rule, a, b)`` a rule of
    the table spelled ``math.``/``np.``/``rules.`` or as the table's further
    spellings (``np.radians``, ``scipy.special.expit``); ``("sel", fn, a, b)`` with
    fn one of ``max min np.maximum np.minimum np.fmax np.fmin``;
    ``("abs", a)``; ``("clip", a, lo, hi)``; ``("ife", cond, a, b)``.
conditions
    ``("cmp", op, a, b)``.
statements
    ``("set", name, e)``, ``("aug", name, op, e)``, ``("if", cond, body,
    orelse)``, ``("for", body)``, ``("while", cond, body, cap)``,
    ``("brk",)``, ``("ret", e)``, and for vector programs ``("retvec",
    [e...])`` and ``("retfill", e)`` (``out = np.empty_like(x)``; ``out[i] =
    e`` in a loop).
"""

import argparse
import importlib.util
import itertools
import math
import os
import random
import sys
import tempfile
import time
import warnings

import mpmath
import numpy as np
import scipy.special  # noqa: F401  (rules spelled scipy.special.* in the programs)

import dualdiff as dd
from dualdiff import rules

__all__ = ["generate_program", "render_program", "run", "Mismatch", "FuzzResult", "main"]

# ===========================================================================
# The rule table, as the generator sees it
# ===========================================================================

# A rule without a second derivative (tetragamma, by design) has no
# reverse-mode Hessian: the generator leaves it out
UNARY = {r.name: r for r in rules.UNARY if r.d2 is not None}
BINARY = {r.name: r for r in rules.BINARY}

# How to keep a rule's argument mostly inside its domain.
#   any: anything; moderate: |arg| not huge (exp & co.); pos: > 0;
#   unit: in (-1, 1); gt1: > 1; gtm1: > -1; tan: in (-pi/2, pi/2)
ARG_CLASS = {
    "sqrt": "pos", "cbrt": "any", "exp": "moderate", "exp2": "moderate",
    "expm1": "moderate", "log": "pos", "log2": "pos", "log10": "pos", "log1p": "gtm1",
    "sin": "any", "cos": "any", "tan": "tan", "arcsin": "unit", "arccos": "unit",
    "arctan": "any", "sinh": "moderate", "cosh": "moderate", "tanh": "any",
    "arcsinh": "any", "arccosh": "gt1", "arctanh": "unit", "erf": "any", "erfc": "any",
    "lgamma": "pos", "digamma": "pos", "trigamma": "pos", "tetragamma": "pos",
    "square": "any", "reciprocal": "pos", "sinc": "any", "absolute": "any",
    "sign": "any", "floor": "any", "ceil": "any", "trunc": "any", "rint": "any",
    "expit": "any", "deg2rad": "any", "rad2deg": "any",
}  # a rule not listed here (new in the table) takes any argument
# the exact edge point of each argument class (reached with zero partials)
EDGE_KIND = {"pos": "zero", "any": "zero", "moderate": "big", "unit": "one",
             "gt1": "one", "gtm1": "minus_one", "tan": "zero"}


_MODULES = ("math.", "numpy.", "scipy.special.")


def spellings(rule):
    """``[(spelling, rendered name)]`` of a rule: ``math``, ``np``, further
    dotted spellings the table lists (``numpy.radians``,
    ``scipy.special.expit``: :func:`dualdiff.rules.spelling_names` where it
    exists), and the generic ``rules.`` function (the only spelling of
    digamma & co.)."""
    out = []
    if rule.math_name:
        out.append(("math", f"math.{rule.math_name}"))
    if rule.numpy_name:
        out.append(("np", f"np.{rule.numpy_name}"))
    main = {f"math.{rule.math_name}", f"numpy.{rule.numpy_name}"}
    names = getattr(rules, "spelling_names", None)
    for dotted in (names(rule) if names else ()):
        if dotted not in main and dotted.startswith(_MODULES):
            out.append((dotted, _render_dotted(dotted)))
    out.append(("rules", f"rules.{rule.name}"))
    return out


def _render_dotted(dotted):
    return "np." + dotted[6:] if dotted.startswith("numpy.") else dotted


def rule_call(spelling, name, binary=False):
    rule = (BINARY if binary else UNARY)[name]
    if spelling == "math":
        return f"math.{rule.math_name}"
    if spelling == "np":
        return f"np.{rule.numpy_name}"
    if spelling == "rules":
        return f"rules.{name}"
    return _render_dotted(spelling)


# spellings Numba cannot compile on a plain float (dualdiff overloads them
# for dual numbers only): their argument must depend on x
FLOAT_UNSUPPORTED = {("math", "cbrt")}

SELECTIONS = ("max", "min", "np.maximum", "np.minimum", "np.fmax", "np.fmin")
CMP_OPS = ("<", "<=", ">", ">=", "==", "!=")
LOCALS = ("s", "t")

# ===========================================================================
# Rendering: tree -> Python source
# ===========================================================================


def _num(v):
    r = repr(float(v))
    return f"({r})" if r.startswith("-") else r


def render_expr(e):
    k = e[0]
    if k == "x":
        return f"x[{e[1]}]"
    if k == "xl":
        return "x[i]"
    if k == "xlp":
        return "x[i - 1]"
    if k == "iv":
        return "i"
    if k == "v":
        return e[1]
    if k == "c":
        return _num(e[1])
    if k == "ci":
        return f"({e[1]})" if e[1] < 0 else str(e[1])
    if k == "neg":
        return f"(-{render_expr(e[1])})"
    if k in _BINOPS:
        return f"({render_expr(e[1])} {_BINOPS[k]} {render_expr(e[2])})"
    if k == "u":
        return f"{rule_call(e[1], e[2])}({render_expr(e[3])})"
    if k == "b":
        return f"{rule_call(e[1], e[2], True)}({render_expr(e[3])}, {render_expr(e[4])})"
    if k == "sel":
        return f"{e[1]}({render_expr(e[2])}, {render_expr(e[3])})"
    if k == "abs":
        return f"abs({render_expr(e[1])})"
    if k == "clip":
        return f"np.clip({render_expr(e[1])}, {render_expr(e[2])}, {render_expr(e[3])})"
    if k == "ife":
        return f"({render_expr(e[2])} if {render_cond(e[1])} else {render_expr(e[3])})"
    raise ValueError(f"unknown expression {e!r}")


_BINOPS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


def render_cond(c):
    return f"{render_expr(c[2])} {c[1]} {render_expr(c[3])}"


def _strip(s):
    # outer parentheses of a whole statement's expression are noise
    if s.startswith("(") and s.endswith(")"):
        depth = 0
        for j, ch in enumerate(s):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and j < len(s) - 1:
                return s
        return s[1:-1]
    return s


def render_stmts(stmts, indent, lines, depth=0):
    pad = "    " * indent
    for st in stmts:
        k = st[0]
        if k == "set":
            lines.append(f"{pad}{st[1]} = {_strip(render_expr(st[2]))}")
        elif k == "aug":
            lines.append(f"{pad}{st[1]} {st[2]}= {_strip(render_expr(st[3]))}")
        elif k == "if":
            lines.append(f"{pad}if {render_cond(st[1])}:")
            render_stmts(st[2] or [("pass",)], indent + 1, lines, depth)
            if st[3]:
                lines.append(f"{pad}else:")
                render_stmts(st[3], indent + 1, lines, depth)
        elif k == "for":
            lines.append(f"{pad}for i in range(len(x)):")
            render_stmts(st[1] or [("pass",)], indent + 1, lines, depth + 1)
        elif k == "while":
            kv = f"k{depth}"
            lines.append(f"{pad}{kv} = 0")
            lines.append(f"{pad}while {render_cond(st[1])} and {kv} < {st[3]}:")
            render_stmts(st[2], indent + 1, lines, depth + 1)
            lines.append(f"{pad}    {kv} += 1")
        elif k == "brk":
            lines.append(f"{pad}break")
        elif k == "pass":
            lines.append(f"{pad}pass")
        elif k == "ret":
            lines.append(f"{pad}return {_strip(render_expr(st[1]))}")
        elif k == "retvec":
            items = ", ".join(_strip(render_expr(e)) for e in st[1])
            if st[2] == "list":
                lines.append(f"{pad}return [{items}]")
            else:
                lines.append(f"{pad}return ({items}{',' if len(st[1]) == 1 else ''})")
        elif k == "retfill":
            lines.append(f"{pad}out = np.empty_like(x)")
            lines.append(f"{pad}for i in range(len(x)):")
            lines.append(f"{pad}    out[i] = {_strip(render_expr(st[1]))}")
            lines.append(f"{pad}return out")
        else:
            raise ValueError(f"unknown statement {st!r}")


def render_program(prog, name="f"):
    """Source of ``def name(x): ...`` for a program tree."""
    lines = [f"def {name}(x):"]
    render_stmts(prog["body"], 1, lines)
    return "\n".join(lines) + "\n"


SOURCE_HEADER = ("import math\nimport numpy as np\nimport scipy.special\n"
                 "from dualdiff import rules\n")

# ===========================================================================
# Generation
# ===========================================================================

CONSTANTS = (0.5, 2.0, 3.0, 0.1, 1.5, -1.0, -0.5, 0.25, 10.0, 1e-3, 0.0, 1.0, -2.0, 0.75)


class _Gen:
    """Random program trees from one ``random.Random``."""

    def __init__(self, rnd, n):
        self.r = rnd
        self.n = n
        self.in_loop = False
        self.locals = []

    # ---- leaves -------------------------------------------------------
    def xleaf(self):
        r = self.r
        if self.in_loop and r.random() < 0.5:
            return ("xl",) if r.random() < 0.75 else ("xlp",)
        return ("x", r.randrange(self.n))

    def leaf(self):
        r = self.r
        p = r.random()
        if p < 0.6:
            return self.xleaf()
        if p < 0.75 and self.locals:
            return ("v", r.choice(self.locals))
        if p < 0.8 and self.in_loop:
            # the loop index as a float (a bare int in a branch of a
            # selection would not unify with a dual)
            return ("mul", ("c", r.choice((0.5, 1.0, -1.0))), ("iv",))
        return ("c", r.choice(CONSTANTS))

    def zero(self):
        """An exact zero with zero partials (a singular point on purpose)."""
        i = self.r.randrange(self.n)
        x = ("x", i)
        return self.r.choice([
            ("sub", x, x),
            ("sub", ("u", "np", "floor", x), ("u", "np", "floor", x)),
            ("mul", ("c", 0.0), x),
            ("u", "np", "floor", ("mul", ("c", 1e-3), ("u", "np", "tanh", x))),  # 0 or -1
            ("abs", ("sub", x, x)),
            ("sub", ("sel", "max", x, x), ("sel", "min", x, x)),
        ])

    def one(self, sign=1.0):
        i = self.r.randrange(self.n)
        e = ("div", ("x", i), ("x", i))
        return e if sign > 0 else ("neg", e)

    # ---- expressions --------------------------------------------------
    def expr(self, depth):
        r = self.r
        if depth <= 0 or r.random() < 0.18:
            return self.leaf()
        p = r.random()
        d = depth - 1
        if p < 0.30:
            op = r.choice(("add", "add", "sub", "mul", "mul", "div"))
            a, b = self.expr(d), self.expr(d)
            if op == "div" and r.random() < 0.8:
                b = self.positive(b)
            return (op, a, b)
        if p < 0.62:
            return self.unary(d)
        if p < 0.68:
            return self.binary(d)
        if p < 0.78:
            return self.power(d)
        if p < 0.86:
            return ("sel", r.choice(SELECTIONS), self.arg(d), self.expr(d))
        if p < 0.89:
            return ("abs", self.arg(d))
        if p < 0.92:
            return self.clip(d)
        if p < 0.96:
            return ("ife", self.cond(d), self.expr(d), self.expr(d))
        return ("neg", self.expr(d))

    def arg(self, d):
        """An expression that reads the input, mostly (a constant argument
        is legal but not what users write)."""
        e = self.expr(d)
        return self.with_x(e) if self.r.random() < 0.9 else e

    def positive(self, e):
        r = self.r
        c = r.choice((0.1, 0.5, 1.0))
        return r.choice([
            ("add", ("mul", e, e), ("c", c)),
            ("add", ("abs", e), ("c", c)),
            ("u", r.choice(("math", "np")), "exp", ("mul", ("c", 0.5), e)),
            ("b", "np", "hypot", e, ("c", c)),
            ("add", ("u", "np", "square", e), ("c", c)),
        ])

    def shaped(self, cls, e):
        """``e`` made to fit an argument class (mostly)."""
        r = self.r
        if cls == "pos":
            return self.positive(e)
        if cls == "moderate":
            return e if r.random() < 0.5 else ("mul", ("c", 3.0), ("u", "np", "tanh", e))
        if cls == "unit":
            return r.choice([("mul", ("c", 0.9), ("u", "np", "tanh", e)),
                             ("div", e, ("add", ("c", 1.0), ("abs", e))),
                             ("mul", ("c", 0.5), ("u", "math", "sin", e))])
        if cls == "gt1":
            return r.choice([("add", ("c", 1.05), ("mul", e, e)),
                             ("add", ("u", "np", "cosh", e), ("c", 0.01))])
        if cls == "gtm1":
            return r.choice([("mul", e, e), ("sub", ("u", "np", "exp", e), ("c", 0.5))])
        if cls == "tan":
            return r.choice([("mul", ("c", 1.4), ("u", "np", "tanh", e)),
                             ("u", "math", "sin", e)]) if r.random() < 0.8 else e
        return e

    def edge(self, cls):
        kind = EDGE_KIND[cls]
        if kind == "zero":
            return self.zero()
        if kind == "one":
            return self.one()
        if kind == "minus_one":
            return self.one(-1.0)
        # big: overflow-ish
        return ("mul", ("c", self.r.choice((400.0, 800.0))), self.xleaf())

    def unary(self, d):
        r = self.r
        name = r.choice(sorted(UNARY))
        rule = UNARY[name]
        usual = [s for s, _ in spellings(rule) if s != "rules"]
        sp = r.choice(usual) if usual and r.random() < 0.9 else "rules"
        cls = ARG_CLASS.get(name, "any")
        p = r.random()
        if p < 0.12:
            arg = self.edge(cls)
        elif p < 0.2:
            arg = self.arg(d)  # raw: may leave the domain (NaN on purpose)
        else:
            arg = self.shaped(cls, self.arg(d))
        if (sp, name) in FLOAT_UNSUPPORTED:
            arg = self.with_x(arg)
        return ("u", sp, name, arg)

    def binary(self, d):
        r = self.r
        name = r.choice(sorted(BINARY))
        sp = r.choice([s for s, _ in spellings(BINARY[name])])
        a, b = self.expr(d), self.expr(d)
        if r.random() < 0.1:
            a = self.zero()
            if name in ("arctan2", "hypot") and r.random() < 0.5:
                b = self.zero()
        return ("b", sp, name, a, b)

    def power(self, d):
        r = self.r
        a = self.expr(d)
        kind = r.random()
        if kind < 0.45:
            k = r.choice((2, 2, 3, 3, 4, -1, -2, 0, 1, 5))
            if k < 0 and r.random() < 0.7:
                a = self.positive(a)
            return ("pow", a, ("ci", k))
        if kind < 0.7:
            p = r.choice((0.5, -1.0, 1.5, 2.0, 3.0, -0.5, 0.0, 1.0, 2.5, 1.0 / 3.0))
            if p != int(p) or p < 0:
                a = self.positive(a) if r.random() < 0.85 else self.zero()
            return ("pow", a, ("c", p))
        if kind < 0.85:  # dual exponent, positive base
            base = self.positive(a) if r.random() < 0.9 else self.zero()
            return ("pow", base, self.expr(d))
        if kind < 0.93:
            return ("pow", ("c", r.choice((2.0, 0.5, 3.0, 1.1))), self.expr(d))
        if self.in_loop:  # integer-variable exponent
            return ("pow", a, ("iv",))
        return ("pow", a, ("ci", 2))

    def clip(self, d):
        r = self.r
        lo = r.choice((-1.0, -0.5, 0.0, 0.2))
        hi = r.choice((0.5, 1.0, 2.0))
        # np.clip of three floats does not compile in Numba: x comes first
        if r.random() < 0.2:
            return ("clip", self.with_x(self.expr(d)), self.xleaf(), ("c", 3.0))
        return ("clip", self.with_x(self.expr(d)), ("c", lo), ("c", hi))

    def cond(self, d):
        r = self.r
        return ("cmp", r.choice(CMP_OPS), self.expr(min(d, 1)),
                self.expr(min(d, 1)) if r.random() < 0.7 else ("c", r.choice(CONSTANTS)))

    # ---- statements ---------------------------------------------------
    def with_x(self, e):
        """``e`` if it reads x or a local, else ``e`` plus an x leaf."""
        if _reads_input(e):
            return e
        return ("add", e, ("x", self.r.randrange(self.n)))

    def body_stmt(self, depth, allow_break):
        r = self.r
        p = r.random()
        name = r.choice(self.locals)
        if p < 0.4:
            return ("aug", name, r.choice(("+", "+", "-", "*")), self.with_x(self.expr(depth)))
        if p < 0.6:
            return ("set", name, self.with_x(self.expr(depth)))
        if p < 0.85 or not allow_break:
            orelse = [self.body_stmt(depth - 1, False)] if r.random() < 0.5 else []
            then = [self.body_stmt(depth - 1, False)]
            if r.random() < 0.1:
                then = [("ret", self.with_x(self.expr(depth)))]
            return ("if", self.cond(2), then, orelse)
        return ("if", self.cond(2), [("brk",)], [])

    def scalar_program(self):
        r = self.r
        body = []
        self.locals = []
        if r.random() < 0.15:
            body.append(("set", "s", ("c", 0.0)))  # s = 0.0; s += ... in a loop below
            self.in_loop = True
            body.append(("for", [("aug", "s", "+", self.with_x(self.expr(2)))]))
            self.in_loop = False
        else:
            body.append(("set", "s", self.with_x(self.expr(3))))
        self.locals.append("s")
        if r.random() < 0.6:
            body.append(("set", "t", self.with_x(self.expr(3))))
            self.locals.append("t")
        for _ in range(r.choice((0, 1, 1, 2, 2, 3))):
            p = r.random()
            if p < 0.35:
                self.in_loop = True
                stmts = [self.body_stmt(2, True) for _ in range(r.choice((1, 1, 2, 3)))]
                self.in_loop = False
                body.append(("for", stmts))
            elif p < 0.55:
                name = r.choice(self.locals)
                # a contraction or a growth with a data-dependent exit
                step = r.choice([
                    ("set", name, ("add", ("mul", ("c", 0.5), ("v", name)), self.expr(1))),
                    ("set", name, ("u", "math", "cos", ("v", name))),
                    ("aug", name, "*", ("c", r.choice((0.7, 1.3)))),
                    ("set", name, ("sub", ("v", name),
                                   ("div", ("sub", ("mul", ("v", name), ("v", name)),
                                            self.positive(self.expr(1))),
                                    ("add", ("mul", ("c", 2.0), ("abs", ("v", name))),
                                     ("c", 0.5))))),
                ])
                cond = ("cmp", r.choice((">", "<", ">=")), ("abs", ("v", name)) if
                        r.random() < 0.5 else ("v", name), ("c", r.choice((0.1, 0.5, 1.0, 2.0))))
                body.append(("while", cond, [step], r.choice((5, 10, 20, 50))))
            elif p < 0.8:
                then = [r.choice([("ret", self.with_x(self.expr(2))),
                                  self.body_stmt(2, False)])]
                orelse = [self.body_stmt(2, False)] if r.random() < 0.4 else []
                body.append(("if", self.cond(2), then, orelse))
            else:
                body.append(self.body_stmt(2, False))
        final = self.with_x(self.expr(3))
        if "s" not in _locals_read(final):
            final = ("add", ("v", "s"), final) if r.random() < 0.6 else ("mul", ("v", "s"), final)
        body.append(("ret", final))
        return {"kind": "scalar", "n": self.n, "body": body}

    def vector_program(self, style, m):
        """A vector-valued program: ``style`` "tuple" (``m`` items), "list"
        or "fill" (``out = np.empty_like(x)`` filled in a loop).  One batch
        shares a style (the dispatcher's branches must unify)."""
        r = self.r
        self.locals = []
        body = []
        if r.random() < 0.5:
            body.append(("set", "s", self.with_x(self.expr(2))))
            self.locals.append("s")
        if style == "fill":
            self.in_loop = True
            e = self.expr(3)
            self.in_loop = False
            if not _reads_input(e):
                e = ("add", e, ("xl",))
            body.append(("retfill", e))
        else:
            if style == "list":
                m = r.choice((1, 2, 3))
            items = [self.with_x(self.expr(3)) for _ in range(m)]
            body.append(("retvec", items, style))
        return {"kind": "vector", "n": self.n, "body": body}


def _walk(e):
    if isinstance(e, list):
        for s in e:
            yield from _walk(s)
        return
    yield e
    if isinstance(e, tuple):
        for c in e[1:]:
            if isinstance(c, tuple):
                yield from _walk(c)
            elif isinstance(c, list):
                for s in c:
                    yield from _walk(s)


def _reads_input(e):
    return any(isinstance(n, tuple) and n and n[0] in ("x", "xl", "xlp", "v") for n in _walk(e))


def _locals_read(e):
    return {n[1] for n in _walk(e) if isinstance(n, tuple) and n and n[0] == "v"}


def generate_program(seed, n, kind="scalar"):
    """The program tree of ``seed`` for inputs of length ``n``; ``kind`` is
    "scalar" or a vector style "tuple<m>", "list", "fill"."""
    g = _Gen(random.Random(seed), n)
    if kind == "scalar":
        return g.scalar_program()
    if kind.startswith("tuple"):
        return g.vector_program("tuple", int(kind[5:]))
    return g.vector_program(kind, 0)


def generate_points(seed, n, count):
    """``count`` points for a program: generic ones and edge points (ties,
    zeros, integers, half-integers, large values)."""
    r = random.Random(f"points/{seed}")
    pts = []
    for j in range(count):
        x = np.array([round(r.uniform(-2.0, 2.0), 3) for _ in range(n)])
        if r.random() < (0.6 if j > 0 else 0.15):
            for _ in range(r.choice((1, 1, 2))):
                i = r.randrange(n)
                kind = r.random()
                if kind < 0.3:
                    x[i] = x[(i + 1) % n]  # a tie
                elif kind < 0.5:
                    x[i] = 0.0
                elif kind < 0.7:
                    x[i] = float(r.randint(-2, 2))
                elif kind < 0.8:
                    x[i] = r.randint(-3, 2) + 0.5  # rint ties
                elif kind < 0.9:
                    x[i] = r.choice((30.0, -30.0, 1e3, 710.0, 1e-300))
                else:
                    x[i] = r.choice((1.0, -1.0))
        pts.append(x)
    return pts


# ===========================================================================
# The mpmath interpreter (reference values) with edge detection
# ===========================================================================

class _Invalid(Exception):
    """The reference is unavailable (a NaN, an overflow, a domain error)."""


class _Return(Exception):
    def __init__(self, value):
        self.value = value


class _Break(Exception):
    pass


MARGIN = 1e-7  # closer than this to a kink, tie or singular point: not smooth

#: rules of the table the interpreter has no mpmath function for (filled as
#: programs meet them; reported by the command line)
NO_REFERENCE = set()


def _mp_sign(a):
    return mpmath.mpf(1) if a > 0 else (mpmath.mpf(-1) if a < 0 else mpmath.mpf(0))


def _sgn(a):
    return 1 if a > 0 else (-1 if a < 0 else 0)


def _frac_dist(a):
    return abs(a - mpmath.nint(a))


def _mp_lgamma(a):
    if a > 0:
        return mpmath.loggamma(a)
    return mpmath.log(abs(mpmath.gamma(a)))


def _pole_dist(a):
    return _frac_dist(a) if a < 0.5 else mpmath.mpf(1)


class _MP:
    """Evaluation on mpmath numbers.  ``margin`` is the smallest distance to
    a kink, tie, jump or singular point seen (relative where it matters);
    ``trace`` lists the discrete decisions taken (branches, which operand a
    selection took, the integer a floor gave, signs at kinks): the points of
    a difference stencil must all take the same ones, or the function is not
    smooth there whatever the margin (an argument with a derivative of 1e23
    crosses a jump of ceil within the stencil)."""

    def __init__(self):
        self.margin = mpmath.inf
        self.trace = []

    def edge(self, d):
        if d < self.margin:
            self.margin = d

    def side(self, key):
        self.trace.append(key)

    def rel(self, a, b):
        self.edge(abs(a - b) / max(mpmath.mpf(1), abs(a), abs(b)))
        self.side(_sgn(a - b))

    def check(self, v):
        if isinstance(v, mpmath.mpc) or not mpmath.isfinite(v) or abs(v) > 1e300:
            raise _Invalid()
        return v

    def unary(self, name, a):
        mp = mpmath
        e = self.edge
        if name == "sqrt":
            e(abs(a))
            if a < 0:
                raise _Invalid()
            return mp.sqrt(a)
        if name == "cbrt":
            e(abs(a))
            return mp.cbrt(a) if a >= 0 else -mp.cbrt(-a)
        if name == "exp":
            return mp.exp(a)
        if name == "exp2":
            return mp.power(2, a)
        if name == "expm1":
            return mp.expm1(a)
        if name in ("log", "log2", "log10"):
            e(abs(a))
            if a <= 0:
                raise _Invalid()
            v = mp.log(a)
            return v if name == "log" else v / mp.log(2 if name == "log2" else 10)
        if name == "log1p":
            e(abs(a + 1))
            if a <= -1:
                raise _Invalid()
            return mp.log1p(a)
        if name in ("sin", "cos", "tan"):
            if name == "tan":
                e(abs(mp.cos(a)))
                self.side(int(mp.floor(a / mp.pi + 0.5)))
            return getattr(mp, name)(a)
        if name in ("arcsin", "arccos", "arctanh"):
            e(1 - abs(a))
            if abs(a) >= 1:
                raise _Invalid()
            return {"arcsin": mp.asin, "arccos": mp.acos, "arctanh": mp.atanh}[name](a)
        if name == "arccosh":
            e(a - 1)
            if a <= 1:
                raise _Invalid()
            return mp.acosh(a)
        if name == "arctan":
            return mp.atan(a)
        if name in ("sinh", "cosh", "tanh", "erf", "erfc"):
            return getattr(mp, name)(a)
        if name == "arcsinh":
            return mp.asinh(a)
        if name in ("lgamma", "digamma", "trigamma", "tetragamma"):
            e(_pole_dist(a))
            self.side(int(mp.floor(a)) if a < 0.5 else 0)
            if a <= 0 and a == mp.nint(a):
                raise _Invalid()
            if name == "lgamma":
                return _mp_lgamma(a)
            return mp.psi({"digamma": 0, "trigamma": 1, "tetragamma": 2}[name], a)
        if name == "square":
            return a * a
        if name == "reciprocal":
            e(abs(a))
            if a == 0:
                raise _Invalid()
            return 1 / a
        if name == "sinc":
            return mp.mpf(1) if a == 0 else mp.sin(mp.pi * a) / (mp.pi * a)
        if name == "absolute":
            e(abs(a))
            self.side(_sgn(a))
            return abs(a)
        if name == "sign":
            e(abs(a))
            self.side(_sgn(a))
            return _mp_sign(a)
        if name in ("floor", "ceil", "trunc"):
            e(_frac_dist(a))
            if name == "floor":
                y = mp.floor(a)
            elif name == "ceil":
                y = mp.ceil(a)
            else:
                y = mp.floor(a) if a >= 0 else mp.ceil(a)
            self.side(y)
            return y
        if name == "rint":
            e(abs(abs(a - mp.floor(a)) - mp.mpf(0.5)))
            y = mp.nint(a)
            self.side(y)
            return y
        if name == "expit":
            return 1 / (1 + mp.exp(-a))
        if name == "deg2rad":
            return a * (mp.pi / 180)
        if name == "rad2deg":
            return a * (180 / mp.pi)
        NO_REFERENCE.add(name)
        raise _Invalid()  # a rule new to the table: the modes are still compared

    def binary(self, name, a, b):
        mp = mpmath
        if name == "arctan2":
            self.edge(mp.hypot(a, b))
            self.edge(abs(b) if a <= 0 else mp.inf)  # the branch cut
            self.side((_sgn(a), _sgn(b)))
            return mp.atan2(a, b)
        if name == "hypot":
            self.edge(mp.hypot(a, b))
            return mp.hypot(a, b)
        if name == "copysign":
            self.edge(abs(a))
            self.edge(abs(b))
            self.side((_sgn(a), _sgn(b)))
            return abs(a) if b >= 0 else -abs(a)
        if name == "logaddexp":
            m = max(a, b)
            return m + mp.log(mp.exp(a - m) + mp.exp(b - m))
        if name == "logaddexp2":
            m = max(a, b)
            return m + mp.log(mp.power(2, a - m) + mp.power(2, b - m)) / mp.log(2)
        NO_REFERENCE.add(name)
        raise _Invalid()


def mp_eval(prog, x, ctx=None):
    """``prog`` at ``x`` (a sequence of mpf) on mpmath numbers: a number or
    a list.  Raises ``_Invalid`` when the reference is unavailable."""
    ctx = ctx or _MP()
    env = {}
    try:
        _exec(prog["body"], x, env, ctx, 0)
    except _Return as r:
        return r.value
    except (ZeroDivisionError, OverflowError, ValueError, TypeError):
        raise _Invalid() from None
    raise AssertionError("program fell off its end")


def _ev(e, x, env, ctx):
    k = e[0]
    n = len(x)
    if k == "x":
        return x[e[1]]
    if k == "xl":
        return x[env["i"]]
    if k == "xlp":
        return x[(env["i"] - 1) % n]
    if k == "iv":
        return mpmath.mpf(env["i"])
    if k == "v":
        return env[e[1]]
    if k == "c" or k == "ci":
        return mpmath.mpf(e[1])
    if k == "neg":
        return -_ev(e[1], x, env, ctx)
    if k in ("add", "sub", "mul", "div"):
        a, b = _ev(e[1], x, env, ctx), _ev(e[2], x, env, ctx)
        if k == "add":
            v = a + b
        elif k == "sub":
            v = a - b
        elif k == "mul":
            v = a * b
        else:
            ctx.edge(abs(b))
            ctx.side(_sgn(b))
            if b == 0:
                raise _Invalid()
            v = a / b
        return ctx.check(v)
    if k == "pow":
        a = _ev(e[1], x, env, ctx)
        ek = e[2][0]
        b = _ev(e[2], x, env, ctx)
        if ek == "ci" or (ek == "iv"):
            kk = int(b)
            if kk < 0:
                ctx.edge(abs(a))
                ctx.side(_sgn(a))
                if a == 0:
                    raise _Invalid()
            return ctx.check(a ** kk)
        if ek == "c" and b == mpmath.nint(b) and b >= 0:
            return ctx.check(a ** int(b))
        ctx.edge(abs(a))
        ctx.side(_sgn(a))
        if a <= 0:
            raise _Invalid()
        return ctx.check(mpmath.power(a, b))
    if k == "u":
        return ctx.check(ctx.unary(e[2], _ev(e[3], x, env, ctx)))
    if k == "b":
        return ctx.check(ctx.binary(e[2], _ev(e[3], x, env, ctx), _ev(e[4], x, env, ctx)))
    if k == "sel":
        a, b = _ev(e[2], x, env, ctx), _ev(e[3], x, env, ctx)
        ctx.rel(a, b)
        if "max" in e[1]:
            return b if b > a else a
        return b if b < a else a
    if k == "abs":
        a = _ev(e[1], x, env, ctx)
        ctx.edge(abs(a))
        ctx.side(_sgn(a))
        return abs(a)
    if k == "clip":
        a, lo, hi = (_ev(c, x, env, ctx) for c in e[1:])
        ctx.rel(a, lo)
        ctx.rel(a, hi)
        a = lo if lo > a else a
        return hi if hi < a else a
    if k == "ife":
        return _ev(e[2] if _cond(e[1], x, env, ctx) else e[3], x, env, ctx)
    raise ValueError(k)


def _cond(c, x, env, ctx):
    a, b = _ev(c[2], x, env, ctx), _ev(c[3], x, env, ctx)
    ctx.rel(a, b)
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b,
            "==": a == b, "!=": a != b}[c[1]]


def _exec(stmts, x, env, ctx, depth):
    for st in stmts:
        k = st[0]
        if k == "set":
            env[st[1]] = _ev(st[2], x, env, ctx)
        elif k == "aug":
            a, b = env[st[1]], _ev(st[3], x, env, ctx)
            env[st[1]] = ctx.check(a + b if st[2] == "+" else a - b if st[2] == "-" else a * b)
        elif k == "if":
            _exec(st[2] if _cond(st[1], x, env, ctx) else st[3], x, env, ctx, depth)
        elif k == "for":
            saved = env.get("i")
            try:
                for i in range(len(x)):
                    env["i"] = i
                    _exec(st[1], x, env, ctx, depth + 1)
            except _Break:
                pass
            env["i"] = saved
        elif k == "while":
            count = 0
            try:
                while _cond(st[1], x, env, ctx) and count < st[3]:
                    _exec(st[2], x, env, ctx, depth + 1)
                    count += 1
            except _Break:
                pass
        elif k == "brk":
            raise _Break()
        elif k == "ret":
            raise _Return(_ev(st[1], x, env, ctx))
        elif k == "retvec":
            raise _Return([_ev(e, x, env, ctx) for e in st[1]])
        elif k == "retfill":
            out = []
            for i in range(len(x)):
                env["i"] = i
                out.append(_ev(st[1], x, env, ctx))
            raise _Return(out)
        else:
            raise ValueError(k)


# ===========================================================================
# The mpmath reference: central differences at high precision
# ===========================================================================

REF_BITS = 64  # target precision of the reference derivatives


def mp_reference(prog, x, hessian=True):
    """``(value, jacobian, hessian)`` of ``prog`` at ``x`` as float arrays
    (shapes ``(m,)``, ``(m, n)``, ``(m, n, n)``), or None where the program
    is not smooth at x (within :data:`MARGIN` of a kink, tie, jump or
    singular point, or a NaN, inf or domain error).  The jacobian is None
    when a point of its stencil takes another branch (see :class:`_MP`), the
    hessian when one of its own does (or when not asked for): the value
    is still checked then."""
    n = len(x)
    hbits = REF_BITS + 20
    work = (3 if hessian else 2) * hbits + 80
    with mpmath.workprec(work):
        h = mpmath.ldexp(1, -hbits)
        xs = [mpmath.mpf(float(v)) for v in x]

        center = []

        def at(*steps):
            pt = list(xs)
            for i, s in steps:
                pt[i] = pt[i] + s * h
            ctx = _MP()
            try:
                y = mp_eval(prog, pt, ctx)
            except _Invalid:
                return None
            if ctx.margin < MARGIN:
                return None
            if not steps:
                center.append(ctx.trace)
            elif ctx.trace != center[0]:
                return None  # a branch, selection or jump changed within the stencil
            return y if isinstance(y, list) else [y]

        f0 = at()
        if f0 is None:
            return None
        m = len(f0)
        jac = hess = None
        plus = [at((i, 1)) for i in range(n)]
        minus = [at((i, -1)) for i in range(n)]
        if all(p is not None for p in plus + minus):
            jac = [[(plus[i][k] - minus[i][k]) / (2 * h) for i in range(n)] for k in range(m)]
            if hessian:
                hess = [[[None] * n for _ in range(n)] for _ in range(m)]
                for i in range(n):
                    for k in range(m):
                        hess[k][i][i] = (plus[i][k] - 2 * f0[k] + minus[i][k]) / (h * h)
                    for j in range(i + 1, n):
                        c = [at((i, a), (j, b)) for a, b in ((1, 1), (1, -1), (-1, 1), (-1, -1))]
                        if hess is None or any(p is None for p in c):
                            hess = None
                            break
                        for k in range(m):
                            hess[k][i][j] = hess[k][j][i] = \
                                (c[0][k] - c[1][k] - c[2][k] + c[3][k]) / (4 * h * h)
                    if hess is None:
                        break
        value = _floats(f0)
        jac = _floats(jac)
        hess = _floats(hess)
    if value is None:
        return None
    return value, jac, hess


def _floats(nested):
    """A nested list of mpf as a finite float array, or None."""
    if nested is None:
        return None
    try:
        a = np.array(nested, dtype=object).astype(np.float64)
    except (OverflowError, ValueError, TypeError):
        return None
    if not (np.all(np.isfinite(a)) and np.all(np.abs(a) < 1e300)):
        return None
    return a


# ===========================================================================
# Batches: one generated module, one compile per mode
# ===========================================================================

_tmp = {"dir": None}
_module_ids = itertools.count()


def _tmpdir():
    if _tmp["dir"] is None:
        import atexit
        import shutil
        _tmp["dir"] = tempfile.mkdtemp(prefix="dualdiff_fuzz_")
        atexit.register(shutil.rmtree, _tmp["dir"], True)
    return _tmp["dir"]


def _remove_tmpdir():
    """Remove the generated modules (files and sys.modules entries): child
    processes and pytest-xdist workers end without running atexit."""
    import shutil
    path = _tmp["dir"]
    if path is None:
        return
    for name in [m for m in sys.modules if m.startswith(f"fuzzbatch_{os.getpid()}_")]:
        del sys.modules[name]
    shutil.rmtree(path, ignore_errors=True)
    _tmp["dir"] = None


def load_module(source, stem="batch"):
    """Import ``source`` from a temporary file as a fresh module (its name
    must not start with "_": dualdiff compiles the plain functions f calls
    only from user modules)."""
    name = f"fuzzbatch_{os.getpid()}_{next(_module_ids)}_{stem}"
    path = os.path.join(_tmpdir(), name + ".py")
    with open(path, "w") as fh:
        fh.write(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def batch_source(programs):
    """One module: ``p0 .. pK`` and the dispatcher ``f(x, sel)``, plus
    ``g(t, x0, v, sel) = f(x0 + t v, sel)`` (the restriction to a line)."""
    parts = [SOURCE_HEADER]
    parts += [render_program(p, f"p{k}") for k, p in enumerate(programs)]
    lines = ["def f(x, sel):"]
    for k in range(len(programs) - 1):
        lines += [f"    if sel == {k}:", f"        return p{k}(x)"]
    lines.append(f"    return p{len(programs) - 1}(x)")
    parts.append("\n".join(lines) + "\n")
    parts.append("def g(t, x0, v, sel):\n    return f(x0 + t * v, sel)\n")
    return "\n\n".join(parts)


def standalone_source(prog):
    """The program as a user would paste it into a test."""
    return SOURCE_HEADER + "\n\n" + render_program(prog) + \
        "\n\ndef g(t, x0, v):\n    return f(x0 + t * v)\n"


# ===========================================================================
# Modes: the computations, and the checks comparing them
# ===========================================================================

COMPUTATIONS = {
    # name: (description, call(module, x, args, v, u), scalar?, vector?)
    "grad.fwd": ("value_and_gradient(mode='forward')",
                 lambda M, x, a, v, u: dd.value_and_gradient(M.f, x, args=a, mode="forward")),
    "grad.rev": ("value_and_gradient(mode='reverse')",
                 lambda M, x, a, v, u: dd.value_and_gradient(M.f, x, args=a, mode="reverse")),
    "jac.fwd": ("value_and_jacobian(mode='forward')",
                lambda M, x, a, v, u: dd.value_and_jacobian(M.f, x, args=a, mode="forward")),
    "jac.rev": ("value_and_jacobian(mode='reverse')",
                lambda M, x, a, v, u: dd.value_and_jacobian(M.f, x, args=a, mode="reverse")),
    "hess.fwd": ("hessian(mode='forward')",
                 lambda M, x, a, v, u: dd.hessian(M.f, x, args=a, mode="forward")),
    "hess.rev": ("hessian(mode='reverse')",
                 lambda M, x, a, v, u: dd.hessian(M.f, x, args=a, mode="reverse")),
    "hvp.fwd": ("hvp(v, mode='forward')",
                lambda M, x, a, v, u: dd.hvp(M.f, x, v, args=a, mode="forward")),
    "hvp.rev": ("hvp(v, mode='reverse')",
                lambda M, x, a, v, u: dd.hvp(M.f, x, v, args=a, mode="reverse")),
    "jvp": ("jvp(v)", lambda M, x, a, v, u: dd.jvp(M.f, x, v, args=a)),
    "vjp.fwd": ("vjp(u, mode='forward')",
                lambda M, x, a, v, u: dd.vjp(M.f, x, u, args=a, mode="forward")),
    "vjp.rev": ("vjp(u, mode='reverse')",
                lambda M, x, a, v, u: dd.vjp(M.f, x, u, args=a, mode="reverse")),
    "deriv": ("derivative(t -> f(x + t v), 0)",
              lambda M, x, a, v, u: dd.derivative(M.g, 0.0, args=(x, v) + a)),
    "vhv": ("vhv(v)", lambda M, x, a, v, u: dd.vhv(M.f, x, v, args=a)),
    "ref": ("mpmath reference (30 digits, central differences)", None),
}

SCALAR_COMPUTATIONS = ("grad.fwd", "grad.rev", "hess.fwd", "hess.rev", "hvp.fwd", "hvp.rev",
                       "jvp", "vjp.fwd", "vjp.rev", "deriv", "vhv", "ref")
VECTOR_COMPUTATIONS = ("jac.fwd", "jac.rev", "hess.fwd", "hvp.fwd", "jvp", "vjp.fwd",
                       "vjp.rev", "ref")


class Out:
    """One computation's answer at one point: ``value`` or ``error``;
    ``modified`` if it changed its inputs."""

    __slots__ = ("value", "error", "modified")

    def __init__(self, value=None, error=None, modified=False):
        self.value, self.error, self.modified = value, error, modified


def _same(a, b):
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)


def _call(name, M, x, args, v, u, prog, hessian_ref):
    if name == "ref":
        try:
            return Out(mp_reference(prog, x, hessian=hessian_ref))
        except Exception as exc:  # the interpreter must never take the run down
            return Out(error=f"reference failed: {type(exc).__name__}: {exc}")
    call = COMPUTATIONS[name][1]
    x_in = x.copy()
    v_in = v.copy()
    u_in = np.copy(u)
    try:
        with np.errstate(all="ignore"):
            value = call(M, x_in, args, v_in, u_in if np.ndim(u) else u)
        out = Out(value)
    except Exception as exc:
        out = Out(error=f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
    out.modified = not (_same(x_in, x) and _same(v_in, v) and _same(u_in, u))
    return out


# ---- comparing numbers --------------------------------------------------

RTOL = 1e-10      # between modes
REF_RTOL = 1e-7   # against the mpmath reference


def compare(got, want, rtol=RTOL, mag=None, scale=1.0):
    """None if ``got`` agrees with ``want``: same shape, NaN and inf in the
    same places (inf with the same sign), finite entries within ``rtol``
    relative to the entry, plus ``rtol`` times the largest finite entry, the
    ``scale`` of the problem (see :func:`_scale`) and ``mag`` (an entrywise
    magnitude of the terms that made ``want``).  Rounding differs between
    modes, so a result that should be 0 comes out as 1e-17 in one of them.
    Else ``(kind, detail)``, kind one of shape, nan, inf, value."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return "shape", f"shape {got.shape} != {want.shape}"
    gn, wn = np.isnan(got), np.isnan(want)
    if (gn != wn).any():
        idx = tuple(int(i) for i in np.argwhere(gn != wn)[0])
        return "nan", f"NaN placement differs at {idx}: {float(got[idx])!r} vs {float(want[idx])!r}"
    gi, wi = np.isinf(got), np.isinf(want)
    bad = (gi != wi) | (gi & wi & (np.sign(got) != np.sign(want)))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        return "inf", f"inf placement differs at {idx}: {float(got[idx])!r} vs {float(want[idx])!r}"
    fin = np.isfinite(got) & np.isfinite(want)
    if not fin.any():
        return None
    g, w = got[fin], want[fin]
    scale = max(np.max(np.abs(g)), np.max(np.abs(w)), scale)
    tol = rtol * np.maximum(np.abs(g), np.abs(w)) + rtol * scale
    if mag is not None:
        tol = tol + rtol * np.broadcast_to(np.asarray(mag, dtype=np.float64), got.shape)[fin]
    err = np.abs(g - w)
    if (err > tol).any():
        j = int(np.argmax(err - tol))
        idx = tuple(int(i) for i in np.argwhere(fin)[j])
        return "value", (f"differs at {idx}: {float(got[idx])!r} vs {float(want[idx])!r} "
                         f"(|diff| {err[j]:.3g} > tol {tol[j]:.3g})")
    return None


def _scale(R, second=False):
    """The size of the problem at a point: 1, |f|, and the largest finite
    first (and with ``second``, second) derivatives forward mode found."""
    out = 1.0
    for name in ("grad.fwd", "jac.fwd") + (("hess.fwd",) if second else ()):
        r = R.get(name)
        if r is None or r.error:
            continue
        for part in (r.value if isinstance(r.value, tuple) else (r.value,)):
            a = np.abs(np.asarray(part, dtype=np.float64))
            a = a[np.isfinite(a)]
            if a.size:
                out = max(out, float(a.max()))
    return out


def _finite(*arrays):
    return all(np.all(np.isfinite(np.asarray(a, dtype=np.float64))) for a in arrays)


# ---- checks ------------------------------------------------------------
# A check returns None (skipped: not applicable here), or a list of
# (got name, got value, want name, want value, compare result).

_NO_U = "no u (forward mode failed)"


def _both(R, a, b):
    """Error handling shared by the checks: a failure of either side is a
    mismatch unless both raised the same exception type."""
    ra, rb = R[a], R[b]
    if ra.error or rb.error:
        if ra.error and rb.error and ra.error.split(":")[0] == rb.error.split(":")[0]:
            return "agree"
        if (ra.error == _NO_U and rb.error) or (rb.error == _NO_U and ra.error):
            return "agree"  # a VJP had no u because forward mode raised, as f does
        return [(a, ra.error or ra.value, b, rb.error or rb.value,
                 ("error", f"{a}: {ra.error or 'ok'}; {b}: {rb.error or 'ok'}"))]
    return None


def _c_pair(a, b, unpack=lambda r: r):
    """``a`` against ``b``, both exact modes of the same quantity."""
    def check(R, x, v, u):
        e = _both(R, a, b)
        if e is not None:
            return [] if e == "agree" else e
        ga, gb = unpack(R[a].value), unpack(R[b].value)
        out = []
        for part_a, part_b in zip(ga if isinstance(ga, tuple) else (ga,),
                                  gb if isinstance(gb, tuple) else (gb,)):
            second = a.startswith(("hess", "hvp"))
            out.append((a, part_a, b, part_b,
                        compare(part_a, part_b, scale=_scale(R, second=second))))
        return out
    return check


def _symmetric(name):
    def check(R, x, v, u):
        r = R[name]
        if r.error:
            return None
        H = np.asarray(r.value)
        Ht = np.swapaxes(H, -1, -2)
        res = None if _same(H, Ht) else ("asymmetric", "the Hessian is not exactly symmetric")
        return [(name, H, name + " transposed", Ht, res)]
    return check


def _c_hvp_vs_hessian(name):
    def check(R, x, v, u):
        e = _both(R, name, "hess.fwd")
        if e is not None:
            return [] if e == "agree" else e
        H = np.asarray(R["hess.fwd"].value)
        if not _finite(H):
            return None  # H v mixes inf and 0: compare hvp modes with each other instead
        want = H @ v
        return [(name, R[name].value, "hess.fwd @ v", want,
                 compare(R[name].value, want, mag=np.abs(H) @ np.abs(v),
                         scale=_scale(R, second=True)))]
    return check


def _first_order(R):
    """(value, J) of forward mode, J of shape (m, n) (m = 1 for a scalar f)."""
    if "grad.fwd" in R:
        val, g = R["grad.fwd"].value
        return np.atleast_1d(val), np.asarray(g)[None, :], "grad.fwd"
    val, J = R["jac.fwd"].value
    return np.atleast_1d(val), np.asarray(J), "jac.fwd"


def _base_name(R):
    return "grad.fwd" if "grad.fwd" in R else "jac.fwd"


def _c_jvp(R, x, v, u):
    base = _base_name(R)
    e = _both(R, "jvp", base)
    if e is not None:
        return [] if e == "agree" else e
    val, J, _ = _first_order(R)
    if not _finite(J):
        return None
    jv_val, jv = R["jvp"].value
    want = (J @ v).reshape(np.shape(jv))
    val = np.reshape(val, np.shape(jv_val))
    return [("jvp", jv_val, base, val, compare(jv_val, val, scale=_scale(R))),
            ("jvp", jv, f"{base} @ v", want,
             compare(jv, want, mag=(np.abs(J) @ np.abs(v)).reshape(np.shape(jv)),
                     scale=_scale(R)))]


def _c_vjp(name):
    def check(R, x, v, u):
        base = _base_name(R)
        e = _both(R, name, base)
        if e is not None:
            return [] if e == "agree" else e
        val, J, _ = _first_order(R)
        uu = np.atleast_1d(np.asarray(u, dtype=np.float64))
        if J.shape[0] != uu.shape[0]:
            return None
        if base == "grad.fwd":
            want = uu[0] * J[0]  # u^T J for one output: exact, NaN/inf placement included
            mag = None
        else:
            if not _finite(J):
                return None
            want = uu @ J
            mag = np.abs(uu) @ np.abs(J)
        got_val, got = R[name].value
        val = np.reshape(val, np.shape(got_val))
        return [(name, got_val, base, val, compare(got_val, val, scale=_scale(R))),
                (name, got, f"u^T {base}", want, compare(got, want, mag=mag, scale=_scale(R)))]
    return check


def _c_deriv(R, x, v, u):
    e = _both(R, "deriv", "grad.fwd")
    if e is not None:
        return [] if e == "agree" else e
    _, J, _ = _first_order(R)
    if not _finite(J):
        return None
    want = float(J[0] @ v)
    return [("deriv", R["deriv"].value, "grad.fwd . v", want,
             compare(R["deriv"].value, want, mag=float(np.abs(J[0]) @ np.abs(v)),
                     scale=_scale(R)))]


def _c_vhv(R, x, v, u):
    e = _both(R, "vhv", "hess.fwd")
    if e is not None:
        return [] if e == "agree" else e
    H = np.asarray(R["hess.fwd"].value)
    if not _finite(H):
        return None
    want = float(v @ H @ v)
    return [("vhv", R["vhv"].value, "v^T hess.fwd v", want,
             compare(R["vhv"].value, want, mag=float(np.abs(v) @ np.abs(H) @ np.abs(v)),
                     scale=_scale(R, second=True)))]


def _c_reference(which):
    def check(R, x, v, u):
        ref = R["ref"]
        if ref.error:
            return [("ref", ref.error, "ref", None, ("error", ref.error))]
        if ref.value is None:
            return None  # not smooth here: only the modes are compared
        base = _base_name(R) if which == "first" else "hess.fwd"
        if R[base].error:
            return [(base, R[base].error, "ref", None, ("error", R[base].error))]
        value, jac, hess = ref.value
        if which == "first":
            val, J, name = _first_order(R)
            sc = _scale(R)
            out = [(name, val, "ref value", value, compare(val, value, REF_RTOL, scale=sc))]
            if jac is not None:
                out.append((name, J, "ref derivative", jac, compare(J, jac, REF_RTOL, scale=sc)))
            return out
        if hess is None:
            return None
        H = np.asarray(R["hess.fwd"].value).reshape(hess.shape)
        return [("hess.fwd", H, "ref hessian", hess,
                 compare(H, hess, REF_RTOL, scale=_scale(R, second=True)))]
    return check


# name: (needs, check, which program kinds)
CHECKS = {
    "gradient reverse vs forward": (("grad.fwd", "grad.rev"), _c_pair("grad.rev", "grad.fwd"),
                                    "scalar"),
    "jacobian reverse vs forward": (("jac.fwd", "jac.rev"), _c_pair("jac.rev", "jac.fwd"),
                                    "vector"),
    "hessian reverse vs forward": (("hess.fwd", "hess.rev"), _c_pair("hess.rev", "hess.fwd"),
                                   "scalar"),
    "hessian forward symmetric": (("hess.fwd",), _symmetric("hess.fwd"), "both"),
    "hessian reverse symmetric": (("hess.rev",), _symmetric("hess.rev"), "scalar"),
    "hvp forward vs hessian": (("hvp.fwd", "hess.fwd"), _c_hvp_vs_hessian("hvp.fwd"), "both"),
    "hvp reverse vs hessian": (("hvp.rev", "hess.fwd"), _c_hvp_vs_hessian("hvp.rev"), "scalar"),
    "hvp reverse vs hvp forward": (("hvp.fwd", "hvp.rev"), _c_pair("hvp.rev", "hvp.fwd"),
                                   "scalar"),
    "jvp vs forward": (("jvp", "@first"), _c_jvp, "both"),
    "vjp forward vs forward": (("vjp.fwd", "@first"), _c_vjp("vjp.fwd"), "both"),
    "vjp reverse vs forward": (("vjp.rev", "@first"), _c_vjp("vjp.rev"), "both"),
    "derivative on a line vs gradient": (("deriv", "grad.fwd"), _c_deriv, "scalar"),
    "vhv vs hessian": (("vhv", "hess.fwd"), _c_vhv, "scalar"),
    "forward vs reference (value, first derivatives)": (("ref", "@first"), _c_reference("first"),
                                                        "both"),
    "hessian forward vs reference": (("ref", "hess.fwd"), _c_reference("second"), "both"),
}


def _needs(check, kind):
    first = "grad.fwd" if kind == "scalar" else "jac.fwd"
    return tuple(first if c == "@first" else c for c in CHECKS[check][0])


def checks_for(kind, computations):
    """The checks that apply to programs of ``kind`` with these computations."""
    out = []
    for name, (_, _, kinds) in CHECKS.items():
        if kinds not in ("both", kind):
            continue
        if all(c in computations for c in _needs(name, kind)):
            out.append(name)
    return out


# ===========================================================================
# Running batches
# ===========================================================================

U_PATTERN = (-1.5, 0.5, 2.0, -0.25, 1.0, 3.0)


class Mismatch:
    """One failed comparison, with what is needed to reproduce it."""

    def __init__(self, check, kind, detail, where, prog, x, v, u, got, want):
        self.check, self.kind, self.detail = check, kind, detail
        self.where = where            # dict: seed, batch, program, point
        self.prog, self.x, self.v, self.u = prog, x, v, u
        self.got, self.want = got, want  # (name, value)
        self.minimal = None           # (program, verified: bool, note)

    @property
    def signature(self):
        return (self.check, self.kind, self.got[0], self.want[0])

    def report(self):
        w = self.where
        lines = [f"MISMATCH [{self.check}] {self.kind}: {self.detail}",
                 f"  where: seed {w.get('seed')} batch {w.get('batch')} program "
                 f"{w.get('program')} point {w.get('point')}"
                 + (f"  (replay: python -m tests.fuzz --seed {w['seed']} --points "
                    f"{w.get('points', 2)} --replay {w['batch']}:{w['program']})"
                    if w.get("batch") is not None else ""),
                 f"  x = {_fmt(self.x)}", f"  v = {_fmt(self.v)}", f"  u = {_fmt(self.u)}",
                 f"  {_describe(self.got[0])} = {_fmt(self.got[1])}",
                 f"  {_describe(self.want[0])} = {_fmt(self.want[1])}",
                 "  program:"]
        lines += ["    " + ln for ln in render_program(self.prog).splitlines()]
        if self.minimal is not None:
            prog, verified, note, entry = self.minimal
            lines.append(f"  minimal program ({'verified' if verified else 'NOT verified'}"
                         f" on its own: {note}):")
            src = SOURCE_HEADER + "\n\n" + render_program(prog)
            if _needs(self.check, prog["kind"]).count("deriv"):
                src += "\n\ndef g(t, x0, v):\n    return f(x0 + t * v)\n"
            lines += ["    " + ln for ln in src.rstrip().splitlines()]
            lines.append(f"    # x = np.array({_fmt(self.x)}); v = np.array({_fmt(self.v)})"
                         + (f"; u = {_fmt(self.u)}" if self.u is not None else ""))
            if entry is not None:
                lines.append(f"    # {_describe(entry[0])} = {_fmt(entry[1])}")
                lines.append(f"    # {_describe(entry[2])} = {_fmt(entry[3])}")
                lines.append(f"    # {entry[4][0]}: {entry[4][1]}")
        return "\n".join(lines).rstrip() + "\n"


def _describe(name):
    if name in COMPUTATIONS:
        return f"{name} = {COMPUTATIONS[name][0]}"
    return name


def _fmt(a):
    if a is None:
        return "None"
    if isinstance(a, str):
        return a
    if isinstance(a, tuple):
        return "(" + ", ".join(_fmt(i) for i in a) + ")"
    arr = np.asarray(a, dtype=np.float64)
    return np.array2string(arr, precision=17, separator=", ", max_line_width=120,
                           floatmode="unique").replace("\n", " ")


class FuzzResult:
    def __init__(self):
        self.comparisons = 0
        self.mismatches = []
        self.fallbacks = []   # (batch info, computation, message)
        self.seconds = 0.0
        self.programs = 0
        self.points = 0
        self.skipped_smooth = 0
        self.timings = {}

    @property
    def failed(self):
        return bool(self.mismatches or self.fallbacks)


def _directions(seed, n, m_hint=None):
    r = random.Random(f"dir/{seed}")
    v = np.array([r.choice((-1.0, 1.0)) * round(r.uniform(0.25, 1.0), 2) for _ in range(n)])
    return v


def _u_for(R, kind):
    if kind == "scalar":
        return U_PATTERN[0]
    first = R.get("jac.fwd")
    if first is None or first.error:
        return None
    m = np.size(first.value[0])
    return np.array([U_PATTERN[k % len(U_PATTERN)] for k in range(m)])


def evaluate(module, programs, points, kind, computations, checks, args_of, log=None,
             timings=None):
    """Run ``computations`` (in order) on every program of a loaded module at
    its points, then ``checks``.  ``points[k]`` is a list of ``(x, v)``;
    ``args_of(k)`` the extra arguments selecting program k.  Returns
    ``(results, fallbacks)``: results[(k, j)] = (R, u, [(check, entries)])."""
    R = {(k, j): {} for k in range(len(programs)) for j in range(len(points[k]))}
    U = {}
    fallbacks = []
    tainted = set()
    hessian_ref = "hess.fwd" in computations
    for name in computations:
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for k, prog in enumerate(programs):
                for j, (x, v) in enumerate(points[k]):
                    u = U.get((k, j))
                    if name in ("vjp.fwd", "vjp.rev") and u is None:
                        u = U[(k, j)] = _u_for(R[(k, j)], kind)
                        if u is None:
                            R[(k, j)][name] = Out(error=_NO_U)
                            continue
                    R[(k, j)][name] = _call(name, module, x, args_of(k), v,
                                            u if u is not None else U_PATTERN[0], prog,
                                            hessian_ref)
        dt = time.perf_counter() - t0
        if timings is not None:
            timings[name] = timings.get(name, 0.0) + dt
        msgs = sorted({str(w.message) for w in caught if "dualdiff" in str(w.message)})
        if msgs:
            tainted.add(name)
            fallbacks.append((name, msgs))
        if log:
            log(f"    {name:9s} {dt:6.2f} s" + (f"  WARNED: {msgs[0][:150]}" if msgs else ""))
    results = {}
    for (k, j), r in R.items():
        x, v = points[k][j]
        u = U.get((k, j), U_PATTERN[0] if kind == "scalar" else None)
        done = []
        for check in checks:
            needs = _needs(check, kind)
            if any(c in tainted for c in needs):
                continue
            entries = CHECKS[check][1](r, x, v, u)
            if entries is None:
                continue
            for c in needs:
                if r[c].modified:
                    entries = list(entries) + [(c, x, c, x, ("modified input",
                                                             f"{c} changed its inputs"))]
            done.append((check, entries))
        results[(k, j)] = (r, u, done)
    return results, fallbacks


def _mismatches_of(done, prog, x, v, u, where):
    out = []
    for check, entries in done:
        for got_name, got, want_name, want, res in entries:
            if res is not None:
                out.append(Mismatch(check, res[0], res[1], where, prog, x, v, u,
                                    (got_name, got), (want_name, want)))
                break  # one per check
    return out


# ===========================================================================
# Shrinking
# ===========================================================================

_LEAVES = ("x", "xl", "xlp", "iv", "v", "c", "ci")


def size(node):
    if isinstance(node, dict):
        return size(node["body"])
    if isinstance(node, list):
        return sum(size(s) for s in node)
    if isinstance(node, tuple):
        return 1 + sum(size(c) for c in node[1:] if isinstance(c, (tuple, list)))
    return 0


def _kids(e):
    """The sub-expressions that may replace ``e`` (not integer exponents)."""
    k = e[0]
    if k in ("neg", "abs"):
        return [e[1]]
    if k in ("add", "sub", "mul", "div"):
        return [e[1], e[2]]
    if k == "pow":
        return [e[1]] + ([e[2]] if e[2][0] not in ("ci", "c", "iv") else [])
    if k == "u":
        return [e[3]]
    if k in ("b",):
        return [e[3], e[4]]
    if k == "sel":
        return [e[2], e[3]]
    if k == "clip":
        return [e[1]]
    if k == "ife":
        return [e[2], e[3]]
    return []


def _expr_variants(e, n):
    out = list(_kids(e))
    if e[0] not in _LEAVES:
        out += [("x", j) for j in range(n)] + [("c", 1.0)]
    for idx in range(1, len(e)):
        child = e[idx]
        if not isinstance(child, tuple):
            continue
        sub = _cond_variants(child, n) if child[0] == "cmp" else _expr_variants(child, n)
        for cv in sub:
            out.append(e[:idx] + (cv,) + e[idx + 1:])
    return out


def _cond_variants(c, n):
    out = []
    for idx in (2, 3):
        for cv in _expr_variants(c[idx], n):
            out.append(c[:idx] + (cv,) + c[idx + 1:])
    return out


def _unloop(stmts, n):
    """A loop body outside its loop: i = 0, breaks dropped."""
    def sub(e):
        if not isinstance(e, tuple):
            return e
        if e == ("xl",):
            return ("x", 0)
        if e == ("xlp",):
            return ("x", n - 1)
        if e[0] == "pow" and e[2] == ("iv",):
            return ("pow", sub(e[1]), ("ci", 0))
        if e == ("iv",):
            return ("c", 0.0)
        return (e[0],) + tuple(sub(c) if isinstance(c, tuple) else
                               [sub(s) for s in c] if isinstance(c, list) else c
                               for c in e[1:])
    out = []
    for st in stmts:
        if st[0] == "brk":
            continue
        if st[0] == "if":
            out.append(("if", sub(st[1]), _unloop(st[2], n), _unloop(st[3], n)))
        else:
            out.append(sub(st))
    return out


def _stmt_variants(stmts, n, top):
    """One-step simplifications of a statement list."""
    out = []
    for i, st in enumerate(stmts):
        before, after = stmts[:i], stmts[i + 1:]
        last = top and i == len(stmts) - 1
        if not last:
            out.append(before + after)
        k = st[0]
        if k == "if":
            out.append(before + st[2] + after)
            if st[3]:
                out.append(before + st[3] + after)
            for cv in _cond_variants(st[1], n):
                out.append(before + [("if", cv, st[2], st[3])] + after)
            for bv in _stmt_variants(st[2], n, False):
                out.append(before + [("if", st[1], bv, st[3])] + after)
            for bv in _stmt_variants(st[3], n, False):
                out.append(before + [("if", st[1], st[2], bv)] + after)
        elif k == "for":
            out.append(before + _unloop(st[1], n) + after)
            for bv in _stmt_variants(st[1], n, False):
                out.append(before + [("for", bv)] + after)
        elif k == "while":
            out.append(before + st[2] + after)
            for cv in _cond_variants(st[1], n):
                out.append(before + [("while", cv, st[2], st[3])] + after)
            for bv in _stmt_variants(st[2], n, False):
                if bv:
                    out.append(before + [("while", st[1], bv, st[3])] + after)
        elif k in ("set", "ret", "retfill"):
            for ev in _expr_variants(st[-1], n):
                out.append(before + [st[:-1] + (ev,)] + after)
        elif k == "aug":
            for ev in _expr_variants(st[3], n):
                out.append(before + [st[:3] + (ev,)] + after)
        elif k == "retvec":
            items = st[1]
            if st[2] == "list" and len(items) > 1:
                for j in range(len(items)):
                    out.append(before + [("retvec", items[:j] + items[j + 1:], "list")] + after)
            for j, it in enumerate(items):
                for ev in _expr_variants(it, n):
                    out.append(before + [("retvec", items[:j] + [ev] + items[j + 1:], st[2])]
                               + after)
    return out


def _int_like(e):
    return e[0] in ("iv", "ci") or (e[0] in ("add", "sub", "mul", "neg") and
                                    all(_int_like(c) for c in e[1:] if isinstance(c, tuple)))


def valid(prog):
    """Whether a (shrunk) program still compiles in every mode: locals are
    assigned before they are read, statement values are not integers,
    np.clip and math.cbrt get a number that depends on x first, and a
    return ends the program."""
    dual = set()
    # locals that ever hold a value depending on x (fixpoint)
    for _ in range(3):
        for node in _walk_stmts(prog["body"]):
            if node[0] in ("set", "aug") and _depends(node[-1], dual):
                dual.add(node[1])

    ok = [True]

    def exprs_ok(e):
        for node in _walk(e):
            if isinstance(node, tuple) and node and node[0] == "clip" \
                    and not _depends(node[1], dual):
                return False
            if isinstance(node, tuple) and node and node[0] == "u" \
                    and (node[1], node[2]) in FLOAT_UNSUPPORTED and not _depends(node[3], dual):
                return False
            if isinstance(node, tuple) and node and node[0] in ("sel", "ife", "clip") and \
                    any(_int_like(c) for c in node[1:] if isinstance(c, tuple) and c[0] != "cmp"):
                return False
        return True

    def walk(stmts, assigned):
        assigned = set(assigned)
        for st in stmts:
            k = st[0]
            es = [c for c in st[1:] if isinstance(c, tuple)]
            if k == "retvec":
                es = list(st[1])
            for e in es:
                if _locals_read(e) - assigned or not exprs_ok(e):
                    ok[0] = False
                if k in ("set", "aug", "ret", "retfill", "retvec") and _int_like(e):
                    ok[0] = False
            if k == "set":
                assigned.add(st[1])
            elif k == "aug":
                if st[1] not in assigned:
                    ok[0] = False
            elif k == "if":
                a = walk(st[2], assigned)
                b = walk(st[3], assigned)
                assigned |= (a & b)
            elif k == "for":
                walk(st[1], assigned)
            elif k == "while":
                walk(st[2], assigned)
        return assigned

    walk(prog["body"], set())
    body = prog["body"]
    for st in _walk_stmts(body):
        # the dispatcher's branches unify reflected lists only of the same
        # item type: every item depends on x (then every item is a dual)
        if st[0] == "retvec" and not all(_depends(e, dual) for e in st[1]):
            return False
    return ok[0] and bool(body) and body[-1][0] in ("ret", "retvec", "retfill")


def _walk_stmts(stmts):
    for st in stmts:
        yield st
        if st[0] == "if":
            yield from _walk_stmts(st[2])
            yield from _walk_stmts(st[3])
        elif st[0] == "for":
            yield from _walk_stmts(st[1])
        elif st[0] == "while":
            yield from _walk_stmts(st[2])


def _depends(e, dual):
    return any(isinstance(n, tuple) and n and (n[0] in ("x", "xl", "xlp") or
                                                (n[0] == "v" and n[1] in dual))
               for n in _walk(e))


def candidates(prog):
    """Valid one-step simplifications of ``prog``, smallest first."""
    seen = {render_program(prog)}
    out = []
    for body in _stmt_variants(prog["body"], prog["n"], True):
        cand = dict(prog, body=body)
        src = render_program(cand)
        if src in seen or not valid(cand):
            continue
        seen.add(src)
        out.append(cand)
    out.sort(key=size)
    return out


def _fails_same_way(done, mm):
    """The entry of ``done`` that fails like ``mm`` (same check, kind and
    modes), or None."""
    for check, entries in done:
        if check != mm.check:
            continue
        for entry in entries:
            got_name, _, want_name, _, res = entry
            if res is not None and res[0] == mm.kind and got_name == mm.got[0] \
                    and want_name == mm.want[0]:
                return entry
    return None


def _reproduce(progs, mm, standalone=False, log=None):
    """For each program: does it fail ``mm``'s check the same way at its
    point?  One module (one compile per mode) for all of them."""
    kind = mm.prog["kind"]
    needs = _needs(mm.check, kind)
    order = [c for c in (SCALAR_COMPUTATIONS if kind == "scalar" else VECTOR_COMPUTATIONS)
             if c in needs]
    if "vjp.fwd" in order or "vjp.rev" in order:
        order = [c for c in order if c not in ("vjp.fwd", "vjp.rev")] + \
                [c for c in order if c in ("vjp.fwd", "vjp.rev")]
    if standalone:
        module = load_module(standalone_source(progs[0]), "minimal")
        args_of = lambda k: ()  # noqa: E731
    else:
        module = load_module(batch_source(progs), "shrink")
        args_of = lambda k: (k,)  # noqa: E731
    points = [[(mm.x, mm.v)] for _ in progs]
    results, fallbacks = evaluate(module, progs, points, kind, order, [mm.check], args_of)
    if fallbacks:
        if log:
            log(f"    (a shrink batch of {len(progs)} fell back: {fallbacks[0][1][0][:150]})")
        if len(progs) == 1 or standalone:
            return [None] * len(progs)
        half = len(progs) // 2  # one candidate spoils its batch: find it
        return _reproduce(progs[:half], mm, log=log) + _reproduce(progs[half:], mm, log=log)
    return [_fails_same_way(results[(k, 0)][2], mm) for k in range(len(progs))]


def shrink(mm, max_seconds=300.0, chunk=30, log=None):
    """Greedy shrinking: the smallest failing one-step simplification, until
    none fails; then the result is checked again on its own (as ``f(x)``,
    no dispatcher).  Sets ``mm.minimal``."""
    t0 = time.perf_counter()
    current = mm.prog
    rounds = 0
    while time.perf_counter() - t0 < max_seconds:
        cands = candidates(current)
        found = None
        for start in range(0, len(cands), chunk):
            part = cands[start:start + chunk]
            fails = _reproduce(part, mm, log=log)
            for c, bad in zip(part, fails):
                if bad:
                    found = c
                    break
            if found is not None or time.perf_counter() - t0 > max_seconds:
                break
        rounds += 1
        if found is None:
            break
        current = found
        if log:
            log(f"    shrink round {rounds}: size {size(current)} "
                f"({time.perf_counter() - t0:.0f} s)")
    entry = _reproduce([current], mm, standalone=True, log=log)[0]
    note = f"{rounds} rounds, {time.perf_counter() - t0:.0f} s"
    if entry is None and current is not mm.prog:
        entry = _reproduce([mm.prog], mm, standalone=True, log=log)[0]
        if entry is not None:
            current, note = mm.prog, note + "; the shrunk one did not reproduce"
    mm.minimal = (current, entry is not None, note, entry)
    return mm.minimal


# ===========================================================================
# The driver
# ===========================================================================

VECTOR_KINDS = ("tuple1", "tuple2", "tuple3", "list", "fill")


def batch_plan(seed, b):
    """(kind, n) of batch ``b`` of run ``seed``."""
    r = random.Random(f"batch/{seed}/{b}")
    kind = "scalar" if r.random() < 0.75 else r.choice(VECTOR_KINDS)
    return kind, r.choice((2, 3, 3, 4))


def program_seed(seed, b, k):
    """The seed of program ``k`` of batch ``b``: a string, which
    ``random.Random`` hashes deterministically."""
    return f"{seed}/{b}/{k}"


def run(*args, **kwargs):
    own_dir = _tmp["dir"] is None
    _tmpdir()  # before any child process: they write their modules here too
    try:
        return _run(*args, **kwargs)
    finally:
        if own_dir:
            _remove_tmpdir()


def _run(count=300, seed=0, batch_size=30, points=2, computations=None, shrink_max=4,
         shrink_seconds=240.0, vector=True, log=print, replay=None, max_batches=None,
         isolate=False):
    """Run about ``count`` comparisons; returns a :class:`FuzzResult`.

    ``computations`` restricts the modes (names of :data:`COMPUTATIONS`);
    ``shrink_max`` is how many mismatch classes (check, kind, modes) get a
    minimal program; ``replay=(b, k)`` runs program k of batch b alone;
    ``max_batches`` stops after that many compiled batches (each full, of
    ``batch_size`` programs), whatever the count.  Numba never frees what it
    compiled (about 0.8 GiB per batch of 25 programs in every mode):
    ``isolate`` runs each batch in a child process, whose memory goes when
    it exits, at the price of compiling dualdiff's own drivers again each
    time.  Shrinking always runs in a child process."""
    log = log or (lambda *a: None)
    seeds = (seed,) if isinstance(seed, (int, np.integer)) else tuple(seed)
    seed_text = ",".join(str(s) for s in seeds)
    log(f"dualdiff {dd.__version__} from {os.path.dirname(dd.__file__)}, numba "
        f"{_numba_version()}, seed {seed_text}, {count} comparisons")
    res = FuzzResult()
    t_start = time.perf_counter()
    b = 0
    per_point = None
    batches = 0
    while res.comparisons < count or replay is not None:
        if max_batches is not None and batches >= max_batches:
            break
        if replay is not None:
            b = replay[0]
        kind, n = batch_plan(seeds[0], b)
        if kind != "scalar" and not vector:
            b += 1
            continue
        allowed = SCALAR_COMPUTATIONS if kind == "scalar" else VECTOR_COMPUTATIONS
        comps = [c for c in allowed if computations is None or c in computations]
        # vjp needs u, shaped like f(x): forward first
        comps = [c for c in comps if not c.startswith("vjp")] + \
                [c for c in comps if c.startswith("vjp")]
        checks = checks_for(kind, comps)
        if not checks:
            b += 1
            continue
        if replay is not None:
            ks = [replay[1]]
        elif max_batches is not None:
            ks = list(range(batch_size))
        else:
            est = per_point or max(1, len(checks) * 0.8)
            need = math.ceil((count - res.comparisons) / (est * points))
            # a batch's compiles cost about the same for 1 program or 8: the
            # last one may overshoot the count rather than be tiny
            ks = list(range(min(batch_size, max(8, need))))
        pseeds = [program_seed(seeds[k % len(seeds)], b, k) for k in ks]
        progs = [generate_program(ps, n, kind) for ps in pseeds]
        pts = []
        for ps in pseeds:
            vv = _directions(ps, n)
            pts.append([(x, vv) for x in generate_points(ps, n, points)])
        log(f"batch {b}: {len(progs)} {kind} programs, n = {n}, {points} points each, "
            f"{len(comps)} modes, {len(checks)} checks")
        info = {"seed": seed_text, "batch": b, "kind": kind, "n": n, "points": points}
        args = (progs, pts, ks, info, comps, checks, log)
        out = _isolated(_run_batch, *args) if isolate else _run_batch(*args)
        for name, msgs in out["fallbacks"]:
            res.fallbacks.append((info, name, msgs))
        for name, dt in out["timings"].items():
            res.timings[name] = res.timings.get(name, 0.0) + dt
        res.mismatches += out["mismatches"]
        res.points += out["points"]
        res.skipped_smooth += out["skipped_smooth"]
        done_here = out["comparisons"]
        res.comparisons += done_here
        res.programs += len(progs)
        per_point = max(1.0, done_here / max(1, sum(len(p) for p in pts)))
        rss = _rss_gib()
        log(f"  comparisons so far: {res.comparisons}, mismatches: {len(res.mismatches)}, "
            f"{time.perf_counter() - t_start:.0f} s"
            + (f", memory {rss:.1f} GiB" if rss is not None else ""))
        b += 1
        batches += 1
        if replay is not None:
            break
    # one minimal program per class, each shrunk in a child process: Numba
    # never frees what it compiled, and shrinking compiles many small batches
    shrunk = {}
    for mm in res.mismatches:
        if mm.signature in shrunk or len(shrunk) >= shrink_max:
            continue
        log(f"shrinking [{mm.check}] {mm.kind} ({mm.got[0]} vs {mm.want[0]}), "
            f"program size {size(mm.prog)}")
        try:
            mm.minimal = _isolated(shrink, mm, shrink_seconds, 30, log)
        except RuntimeError as exc:
            mm.minimal = (mm.prog, False, f"shrinking failed: {exc}", None)
        shrunk[mm.signature] = mm
    res.seconds = time.perf_counter() - t_start
    return res


run.__doc__ = _run.__doc__
run.__wrapped__ = _run  # inspect.signature(run) shows _run's parameters


def _run_batch(progs, pts, ks, info, comps, checks, log):
    """Compile one batch, run it, and return what the caller keeps (picklable:
    it may come from a child process)."""
    module = load_module(batch_source(progs), f"s{info['seed']}b{info['batch']}"
                         .replace("-", "m").replace(",", "_"))
    timings = {}
    results, fallbacks = evaluate(module, progs, pts, info["kind"], comps, checks,
                                  lambda j: (j,), log=log, timings=timings)
    out = {"fallbacks": fallbacks, "timings": timings, "mismatches": [], "points": 0,
           "skipped_smooth": 0, "comparisons": 0}
    for (j, p), (R, u, done) in results.items():
        out["points"] += 1
        out["comparisons"] += len(done)
        where = {"seed": info["seed"], "batch": info["batch"], "program": ks[j], "point": p,
                 "points": info["points"]}
        x, v = pts[j][p]
        out["mismatches"] += _mismatches_of(done, progs[j], x, v, u, where)
        if "ref" in R and R["ref"].value is None and not R["ref"].error:
            out["skipped_smooth"] += 1
    return out


def _rss_gib():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 2 ** 20
    except (OSError, ValueError, IndexError):
        pass
    return None


def _isolated(fn, *args):
    """``fn(*args)`` in a forked child process, whose compiled code is freed
    when it exits (it inherits everything compiled so far, so no first-call
    costs are paid twice); in this process where fork is unavailable."""
    import multiprocessing
    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        return fn(*args)
    sys.stdout.flush()
    sys.stderr.flush()
    receive, send = context.Pipe(duplex=False)

    def child():  # with fork, the target and its arguments are not pickled
        try:
            result = ("ok", fn(*args))
        except BaseException as exc:  # noqa: B902 (reported to the parent)
            result = ("error", f"{type(exc).__name__}: {exc}")
        send.send(result)
        send.close()
        sys.stdout.flush()

    process = context.Process(target=child)
    process.start()
    send.close()
    try:
        status, value = receive.recv()
    except EOFError:
        status, value = "error", f"the child process died (exit code {process.exitcode})"
    process.join()
    if status != "ok":
        raise RuntimeError(value)
    return value


def _numba_version():
    import numba
    return numba.__version__


def summarize(res):
    """The report: classes of mismatches with their minimal programs."""
    lines = []
    classes = {}
    for mm in res.mismatches:
        classes.setdefault(mm.signature, []).append(mm)
    for sig, mms in classes.items():
        lines.append(f"=== class: [{sig[0]}] {sig[1]} ({sig[2]} vs {sig[3]}): "
                     f"{len(mms)} mismatches")
        shown = next((m for m in mms if m.minimal is not None), mms[0])
        lines.append(shown.report())
    for info, name, msgs in res.fallbacks:
        lines.append(f"=== fallback in batch {info['batch']} ({info['kind']}, n = {info['n']}), "
                     f"{name}: {msgs[0]}")
    lines.append(f"comparisons: {res.comparisons}, mismatches: {len(res.mismatches)}"
                 f" ({len(classes)} classes), fallbacks: {len(res.fallbacks)}, "
                 f"programs: {res.programs}, points: {res.points} "
                 f"(not smooth, reference skipped: {res.skipped_smooth}), "
                 f"time: {res.seconds:.1f} s")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=300,
                    help="comparisons to run: (program, point, check) triples (default 300)")
    ap.add_argument("--seed", default="0",
                    help="an integer, or several separated by commas (program k of a batch "
                         "then takes seed number k modulo their count)")
    ap.add_argument("--batch", type=int, default=30, help="programs per compiled batch")
    ap.add_argument("--points", type=int, default=2, help="points per program")
    ap.add_argument("--batches", type=int, default=None,
                    help="stop after this many full batches (whatever the count)")
    ap.add_argument("--modes", default=None,
                    help="comma-separated computations (default all): " + ", ".join(COMPUTATIONS))
    ap.add_argument("--shrink", type=int, default=4,
                    help="mismatch classes to shrink to a minimal program (default 4)")
    ap.add_argument("--shrink-seconds", type=float, default=240.0)
    ap.add_argument("--no-vector", action="store_true", help="scalar programs only")
    ap.add_argument("--isolate", action="store_true",
                    help="run each batch in a child process (bounded memory, slower)")
    ap.add_argument("--replay", default=None, help="BATCH:PROGRAM, run that program alone")
    ap.add_argument("--show", default=None, help="BATCH:PROGRAM, print its source and exit")
    ap.add_argument("-q", "--quiet", action="store_true")
    a = ap.parse_args(argv)
    seeds = tuple(int(s) for s in a.seed.split(","))
    if a.show:
        b, k = (int(s) for s in a.show.split(":"))
        kind, n = batch_plan(seeds[0], b)
        print(f"# kind {kind}, n = {n}")
        print(standalone_source(generate_program(program_seed(seeds[k % len(seeds)], b, k),
                                                 n, kind)))
        return 0
    comps = None
    if a.modes:
        comps = [c.strip() for c in a.modes.split(",") if c.strip()]
        unknown = [c for c in comps if c not in COMPUTATIONS]
        if unknown:
            ap.error(f"unknown modes {unknown}; known: {', '.join(COMPUTATIONS)}")
    replay = tuple(int(s) for s in a.replay.split(":")) if a.replay else None
    log = (lambda *x: None) if a.quiet else (lambda *x: print(*x, flush=True))
    res = run(count=a.count, seed=seeds, batch_size=a.batch, points=a.points,
              computations=comps, shrink_max=a.shrink, shrink_seconds=a.shrink_seconds,
              vector=not a.no_vector, log=log, replay=replay, max_batches=a.batches,
              isolate=a.isolate)
    print(summarize(res), flush=True)
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
