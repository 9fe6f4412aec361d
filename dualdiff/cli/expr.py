"""Whitelist parser for expressions typed on the command line.

``parse_expression("sin(x)*exp(y)")`` turns text into a Python function
``f(v)`` of a 1-D array ``v`` of the variables (sorted, or in a given order).
The text is parsed with :func:`ast.parse` and every node is checked against a
whitelist: numbers, variable names, the constants ``pi`` and ``e``, the
operators ``+ - * / **`` (and unary ``-``/``+``), and calls by name of the
functions in :data:`FUNCTIONS` with positional arguments.  Anything else
(attributes, indexing, lambdas, comprehensions, strings, keywords, ...) raises
:class:`ExpressionError`.  The checked tree is rewritten (variables become
``v[i]``, numbers become floats) and compiled with a namespace holding only
the whitelisted functions and no builtins; the raw text is never evaluated.
"""

import ast
import contextlib
from dataclasses import dataclass
import math
import sys
import re

import numpy as np

from .. import rules

__all__ = ["ExpressionError", "Expression", "FUNCTIONS", "CONSTANTS",
           "parse_expression", "parse_assignments", "parse_values"]

MAX_LENGTH = 2000  # characters
MAX_DEPTH = 100    # nesting of parentheses, operands and calls (a + b + c is depth 1)


class ExpressionError(ValueError):
    """An expression, or a value list, is not allowed or cannot be parsed."""


# ---------------------------------------------------------------------------
# The whitelist
# ---------------------------------------------------------------------------

def _functions():
    """name -> (implementation, number of arguments): every spelling of every
    rule of the table (``sin``, ``arcsin`` and ``asin``, ``expit`` ...), so
    whatever the table has is accepted and nothing else.  The implementation
    is the NumPy ufunc where there is one (IEEE results, complex arguments for
    the complex step), else the rule's generic function."""
    out = {"abs": (np.abs, 1)}
    for table, arity in ((rules.UNARY, 1), (rules.BINARY, 2)):
        for rule in table:
            function = getattr(np, rule.numpy_name) if rule.numpy_name else rule.generic
            for name in [rule.name] + rules.spelling_names(rule):
                out.setdefault(name.rpartition(".")[2], (function, arity))
    return out


#: name -> (implementation, number of arguments), generated from the table
FUNCTIONS = _functions()

CONSTANTS = {"pi": math.pi, "e": math.e}

_BINARY = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
_UNARY = (ast.UAdd, ast.USub)

# Friendly names for the refusals people will actually hit.
_REFUSED = {
    ast.Attribute: "attribute access", ast.Subscript: "indexing",
    ast.Lambda: "lambda", ast.ListComp: "comprehensions",
    ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions", ast.Compare: "comparisons",
    ast.BoolOp: "and/or", ast.IfExp: "conditional expressions",
    ast.Tuple: "tuples", ast.List: "lists", ast.Dict: "dicts", ast.Set: "sets",
    ast.Starred: "* unpacking", ast.NamedExpr: ":= assignment",
    ast.JoinedStr: "strings", ast.Await: "await", ast.Yield: "yield",
}


# ---------------------------------------------------------------------------
# Checking the tree
# ---------------------------------------------------------------------------

def _snippet(node, text):
    seg = ast.get_source_segment(text, node) or ""
    seg = " ".join(seg.split())
    return f" in '{seg[:40]}{'...' if len(seg) > 40 else ''}'" if seg else ""


def _refuse(node, text, what=None):
    what = what or _REFUSED.get(type(node), type(node).__name__)
    raise ExpressionError(f"not allowed: {what}{_snippet(node, text)}")


def _check(node, text, names, depth=0):
    """Walk the tree; collect variable names into ``names`` (a dict used as
    an ordered set); raise ExpressionError on anything not whitelisted."""
    if depth > MAX_DEPTH:
        raise ExpressionError(f"expression nested more than {MAX_DEPTH} deep")
    depth += 1
    if isinstance(node, ast.Expression):
        return _check(node.body, text, names, depth)
    if isinstance(node, ast.Constant):
        if type(node.value) not in (int, float):
            kind = "strings" if isinstance(node.value, (str, bytes)) else \
                f"the constant {node.value!r}"
            _refuse(node, text, kind)
        return
    if isinstance(node, ast.Name):
        _check_name(node, text)
        if node.id not in CONSTANTS:
            names[node.id] = None
        return
    if isinstance(node, ast.BinOp):
        # a chain a + b - c * d ... is a left-leaning spine: walked in a loop,
        # at one depth, so a sum of a thousand terms is not "deep"
        rights = []
        while isinstance(node, ast.BinOp):
            if not isinstance(node.op, _BINARY):
                _refuse(node, text, f"the operator {type(node.op).__name__}")
            rights.append(node.right)
            node = node.left
        _check(node, text, names, depth)
        for right in reversed(rights):
            _check(right, text, names, depth)
        return None
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, _UNARY):
            _refuse(node, text, f"the operator {type(node.op).__name__}")
        return _check(node.operand, text, names, depth)
    if isinstance(node, ast.Call):
        return _check_call(node, text, names, depth)
    _refuse(node, text)


def _check_name(node, text):
    if node.id.startswith("_"):
        _refuse(node, text, f"the name '{node.id}'")
    if node.id in FUNCTIONS:
        _refuse(node, text, f"using the function '{node.id}' as a value")


def _check_call(node, text, names, depth):
    if not isinstance(node.func, ast.Name):
        _refuse(node, text, "calling anything but a function by name")
    name = node.func.id
    if name not in FUNCTIONS:
        raise ExpressionError(
            f"unknown function '{name}'; allowed: {', '.join(sorted(FUNCTIONS))}")
    if node.keywords:
        _refuse(node, text, "keyword arguments")
    arity = FUNCTIONS[name][1]
    if len(node.args) != arity:
        raise ExpressionError(f"{name}() takes {arity} argument"
                              f"{'s' if arity > 1 else ''}, got {len(node.args)}")
    for arg in node.args:
        _check(arg, text, names, depth)


# ---------------------------------------------------------------------------
# Rewriting and compiling the checked tree
# ---------------------------------------------------------------------------

class _Rewrite(ast.NodeTransformer):
    """Variables -> v[i], constants and numbers -> float literals."""

    def __init__(self, index):
        self.index = index

    def visit_Name(self, node):
        if node.id in CONSTANTS:
            return ast.copy_location(ast.Constant(CONSTANTS[node.id]), node)
        sub = ast.Subscript(value=ast.Name("_v", ast.Load()),
                            slice=ast.Constant(self.index[node.id]),
                            ctx=ast.Load())
        return ast.copy_location(sub, node)

    def visit_Constant(self, node):
        # floats, so that 10**10**10 overflows instead of running forever
        return ast.copy_location(ast.Constant(float(node.value)), node)

    def visit_Call(self, node):
        node.args = [self.visit(a) for a in node.args]
        return node  # the function name stays a plain Name


def _compile(tree, index):
    with _deep_recursion():
        return _compile_tree(tree, index)


@contextlib.contextmanager
def _deep_recursion():
    """Room for the recursion of ast and the compiler on a long flat chain
    (a 1,000-term sum is a tree 1,000 deep); depth itself is capped above."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20 * MAX_LENGTH))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _compile_tree(tree, index):
    body = _Rewrite(index).visit(tree.body)
    func = ast.FunctionDef(
        name="expression",
        args=ast.arguments(posonlyargs=[], args=[ast.arg("_v")], vararg=None,
                           kwonlyargs=[], kw_defaults=[], kwarg=None,
                           defaults=[]),
        body=[ast.Return(body)], decorator_list=[], returns=None,
        type_params=[])
    module = ast.fix_missing_locations(ast.Module([func], type_ignores=[]))
    namespace = {"__builtins__": {}}
    namespace.update({name: fn for name, (fn, _) in FUNCTIONS.items()})
    exec(compile(module, "<dualdiff expression>", "exec"), namespace)
    return namespace["expression"]


def _parse(text):
    if not isinstance(text, str):
        raise ExpressionError(f"expected an expression string, got "
                              f"{type(text).__name__}")
    if not text.strip():
        raise ExpressionError("empty expression")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"expression longer than {MAX_LENGTH} characters")
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"invalid syntax at column {exc.offset}: "
                              f"{exc.msg}") from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"cannot parse the expression "
                              f"({type(exc).__name__})") from None


# ---------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Expression:
    """A checked, compiled expression.

    Attributes
    ----------
    text : str
        The source text.
    variables : tuple of str
        Variable names; ``function(v)`` reads ``v[i]`` for ``variables[i]``.
    function : callable
        Plain Python function of a 1-D array (suitable for Numba and AD).

    Examples
    --------
    >>> from dualdiff.cli.expr import parse_expression
    >>> expr = parse_expression("x * y + 1")
    >>> expr.variables, float(expr([2.0, 3.0]))
    (('x', 'y'), 7.0)
    """

    text: str
    variables: tuple
    function: object

    def __call__(self, v):
        return self.function(np.asarray(v, dtype=np.float64))


def parse_expression(text, variables=None):
    """Check ``text`` against the whitelist and compile it.

    Parameters
    ----------
    text : str
        E.g. ``"sin(x) * exp(y) + x**2 / 3"``.
    variables : sequence of str, optional
        Order of the variables in the argument vector (e.g. the ``--at``
        order).  Every variable of the expression must be listed; extra
        names are allowed (their partials are zero).  Default: the
        variables found, sorted.

    Returns
    -------
    Expression

    Raises
    ------
    ExpressionError
        With a one-line message, for anything outside the whitelist.

    Examples
    --------
    >>> import numpy as np
    >>> from dualdiff.cli.expr import parse_expression
    >>> f = parse_expression("sin(x) * exp(y)")
    >>> bool(np.isclose(f([1.0, 2.0]), np.sin(1.0) * np.exp(2.0)))
    True
    >>> parse_expression("x.real")
    Traceback (most recent call last):
    ...
    dualdiff.cli.expr.ExpressionError: not allowed: attribute access in 'x.real'
    """
    tree = _parse(text)
    found = {}
    _check(tree, text.strip(), found)
    if variables is None:
        order = tuple(sorted(found))
    else:
        order = tuple(variables)
        for name in order:
            _valid_variable(name)
        if len(set(order)) != len(order):
            raise ExpressionError("a variable is listed twice")
        missing = [name for name in found if name not in order]
        if missing:
            raise ExpressionError(f"no value given for variable "
                                  f"{', '.join(repr(m) for m in missing)}")
    index = {name: i for i, name in enumerate(order)}
    return Expression(text.strip(), order, _compile(tree, index))


def _valid_variable(name):
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name or ""):
        raise ExpressionError(f"invalid variable name {name!r}")
    if name in FUNCTIONS or name in CONSTANTS:
        raise ExpressionError(f"'{name}' is a function or constant, not a "
                              "variable name")


def _constant(text):
    """A finite number from a constant expression like ``-1.5`` or ``pi/4``."""
    tree = _parse(text)
    found = {}
    _check(tree, text.strip(), found)
    if found:
        raise ExpressionError(f"value '{text.strip()}' uses the variable "
                              f"'{next(iter(found))}'")
    try:
        with np.errstate(all="raise"):
            value = float(_compile(tree, {})(np.zeros(0)))
    except (ArithmeticError, ValueError, FloatingPointError) as exc:
        raise ExpressionError(f"cannot evaluate '{text.strip()}': {exc}") \
            from None
    if not math.isfinite(value):
        raise ExpressionError(f"value '{text.strip()}' is not finite")
    return value


def _split_top_level(text):
    """Split on commas that are not inside parentheses."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts]


def parse_assignments(text):
    """Parse ``"x=1,y=2"`` into ``{"x": 1.0, "y": 2.0}`` (in order).

    Values may be constant expressions (``x=pi/4``, ``y=-1e-3``).

    Examples
    --------
    >>> from dualdiff.cli.expr import parse_assignments
    >>> parse_assignments("x=1, y=-2.5, z=pi/2")["y"]
    -2.5
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("expected assignments like x=1,y=2")
    values = {}
    for item in _split_top_level(text):
        name, eq, value = item.partition("=")
        name = name.strip()
        if not eq or not value.strip():
            raise ExpressionError(f"expected name=value, got '{item}'")
        _valid_variable(name)
        if name in values:
            raise ExpressionError(f"'{name}' is given twice")
        values[name] = _constant(value)
    return values


def parse_values(text):
    """Parse ``"1,2.5,-3"`` into a float64 array (constant expressions allowed).

    Examples
    --------
    >>> from dualdiff.cli.expr import parse_values
    >>> parse_values("1, 2.5, -pi").round(3).tolist()
    [1.0, 2.5, -3.142]
    """
    if not isinstance(text, str) or not text.strip():
        raise ExpressionError("expected comma-separated values like 1,2")
    items = _split_top_level(text)
    if any(not item for item in items):
        raise ExpressionError(f"empty value in '{text}'")
    return np.array([_constant(item) for item in items], dtype=np.float64)
