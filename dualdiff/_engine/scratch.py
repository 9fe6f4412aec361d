"""Scratch arrays: ``h = np.empty(n); h[j] = tanh(...)`` in a function to differentiate.

Numba types ``np.empty(n)`` as an array of float64, so storing a dual number
(or a reverse-mode variable) into it cannot compile.  When a function does
not compile for dual numbers, dualdiff tries it once more with each
allocation that names no dtype (``np.empty``, ``np.zeros``, ``np.ones``,
``np.full`` and their ``_like`` forms) rewritten, in the function's source,
as :func:`~dualdiff.arrays.scratch_array` (or ``scratch_like``) with the
tuple of the function's own parameters as the last argument.  The array then
holds the widest kind of number among those parameters: the duals (or tape
variables) dualdiff passed in, or floats when none is, so a helper called
with floats still allocates floats.  An explicit ``dtype=`` is left alone
(storing a dual there keeps its clear error).

Only functions whose source Python can find are rewritten (not lambdas, nor
code typed at a bare interpreter prompt), and only when compiling the
original failed, so code that compiles today compiles as it did.
"""

import ast
import inspect
import sys
import textwrap
import types as pytypes

import numpy as np

from ..arrays import scratch_array, scratch_like

__all__ = ["with_scratch_arrays", "ALLOCATORS"]

# name -> (positional arguments before a dtype, fill: None for uninitialised,
# a number, or "arg" for the next positional argument), and whether _like
ALLOCATORS = {
    "empty": (1, None, False), "zeros": (1, 0.0, False), "ones": (1, 1.0, False),
    "full": (2, "arg", False),
    "empty_like": (1, None, True), "zeros_like": (1, 0.0, True), "ones_like": (1, 1.0, True),
    "full_like": (2, "arg", True),
}
_ARRAY = "__dualdiff_scratch_array"
_LIKE = "__dualdiff_scratch_like"


def _allocator_name(node, namespace):
    """The NumPy allocator ``node`` (a call's function) names, or None."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        if namespace.get(node.value.id) is np and node.attr in ALLOCATORS:
            return node.attr
    if isinstance(node, ast.Name):
        value = namespace.get(node.id)
        for name in ALLOCATORS:
            if value is getattr(np, name):
                return name
    return None


class _Rewrite(ast.NodeTransformer):
    def __init__(self, namespace, anchors):
        self.namespace = namespace
        self.anchors = anchors
        self.count = 0

    def visit_Call(self, node):
        self.generic_visit(node)
        name = _allocator_name(node.func, self.namespace)
        if name is None or node.keywords:  # dtype=, order=, like=: leave it alone
            return node
        positional, fill, like = ALLOCATORS[name]
        if len(node.args) != positional or any(isinstance(a, ast.Starred) for a in node.args):
            return node
        fill_node = node.args[1] if fill == "arg" else ast.Constant(fill)
        anchors = ast.Tuple([ast.Name(a, ast.Load()) for a in self.anchors], ast.Load())
        self.count += 1
        return ast.copy_location(
            ast.Call(ast.Name(_LIKE if like else _ARRAY, ast.Load()),
                     [node.args[0], fill_node, anchors], []), node)

    # a function or lambda defined inside has parameters of its own: leave it
    def visit_FunctionDef(self, node):
        return node

    visit_AsyncFunctionDef = visit_Lambda = visit_FunctionDef


def _parameters(args):
    names = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    if args.vararg is not None:
        names.append(args.vararg.arg)
    return names


def _mentions_allocator(code):
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, pytypes.CodeType):
            names |= set(const.co_names)
    return bool(names & set(ALLOCATORS))


def with_scratch_arrays(fn):
    """``fn`` with its dtype-less NumPy allocations rewritten as scratch arrays
    (see the module docstring), or None when there is nothing to rewrite or
    its source cannot be had."""
    if not isinstance(fn, pytypes.FunctionType) or not _mentions_allocator(fn.__code__):
        return None
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.FunctionDef) \
            or tree.body[0].name != fn.__name__:
        return None  # a lambda, or a source Python mislocated
    func = tree.body[0]
    namespace = dict(fn.__globals__)
    rewrite = _Rewrite(namespace, _parameters(func.args))
    func.body = [rewrite.visit(statement) for statement in func.body]
    if rewrite.count == 0 or not rewrite.anchors:
        return None
    func.decorator_list = []
    freevars = fn.__code__.co_freevars
    if freevars:  # compile it inside a function that provides the closure's names
        fields = {"type_params": []} if sys.version_info >= (3, 12) else {}
        outer = ast.FunctionDef(
            name="__dualdiff_outer",
            args=ast.arguments(posonlyargs=[], args=[ast.arg(v) for v in freevars],
                               kwonlyargs=[], kw_defaults=[], defaults=[]),
            body=[func, ast.Return(ast.Name(func.name, ast.Load()))],
            decorator_list=[], returns=None, **fields)
        tree.body = [outer]
    ast.fix_missing_locations(tree)
    ast.increment_lineno(tree, fn.__code__.co_firstlineno - 1)
    try:
        module = compile(tree, fn.__code__.co_filename, "exec")
    except (SyntaxError, ValueError, TypeError):
        return None
    code = _function_code(module, fn.__name__, freevars)
    if code is None:
        return None
    cells = dict(zip(freevars, fn.__closure__ or ()))
    if set(code.co_freevars) - set(cells):
        return None
    new_globals = dict(fn.__globals__)
    new_globals[_ARRAY] = scratch_array
    new_globals[_LIKE] = scratch_like
    clone = pytypes.FunctionType(code, new_globals, fn.__name__, fn.__defaults__,
                                 tuple(cells[v] for v in code.co_freevars) or None)
    clone.__kwdefaults__ = fn.__kwdefaults__
    clone.__qualname__ = fn.__qualname__
    return clone


def _function_code(module, name, nested):
    for const in module.co_consts:
        if isinstance(const, pytypes.CodeType):
            if not nested and const.co_name == name:
                return const
            if nested and const.co_name == "__dualdiff_outer":
                return _function_code(const, name, False)
    return None
