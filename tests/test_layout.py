"""The package's layers, read from the source (issue 15).

Every module of ``dualdiff/`` has a rank in the layer order that the README's
Layout section draws; an import (at module level or inside a function) may
only go to a lower rank, or to a module of the same subpackage.  The import
graph has no cycle, and no module takes a private name (``_x``) from a
module of another layer.
"""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "dualdiff"

# (module or subpackage prefix, rank): the README's Layout section, bottom up
LAYERS = [
    ("dualdiff.examples", 0),
    ("dualdiff.rules", 1),
    ("dualdiff.numbers", 2),
    ("dualdiff._compiled", 3),
    ("dualdiff.arrays", 3.5),    # user-facing helpers for compiled dual arrays
    ("dualdiff._engine", 4),
    ("dualdiff.cache", 4.5),       # dd.cache: info and clear of the engine's disk cache
    ("dualdiff.forward", 5),
    ("dualdiff.reverse", 5),
    ("dualdiff._tape_hessian", 6),
    ("dualdiff.jit", 6),
    ("dualdiff.second", 7),
    ("dualdiff.operators", 8),
    ("dualdiff.fd", 9),           # finite differences (study.py calls operators)
    ("dualdiff.check_report", 9.5),  # CheckReport, compare: below the checks
    ("dualdiff.check", 10),
    ("dualdiff._differentiable", 11),
    ("dualdiff", 12),            # the package: the public API
    ("dualdiff.cli", 13),        # uses the public API
    ("dualdiff.__main__", 14),
]
SUBPACKAGES = ("dualdiff.rules", "dualdiff.numbers", "dualdiff._compiled", "dualdiff._engine",
               "dualdiff.fd", "dualdiff.cli")


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules():
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


MODULES = _modules()


def rank(module):
    """The layer of the longest prefix of ``module`` in LAYERS."""
    found = [(len(prefix), value) for prefix, value in LAYERS
             if module == prefix or module.startswith(prefix + ".")]
    if not found:
        raise AssertionError(f"{module} has no layer: add it to LAYERS and the README")
    return max(found)[1]


def subpackage(module):
    for prefix in SUBPACKAGES:
        if module == prefix or module.startswith(prefix + "."):
            return prefix
    return None


def _resolve(name):
    """The module an imported dotted name lives in (a name may be an attribute)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports(module):
    """``(imported module, names taken from it)`` for every relative import."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            base = package.split(".")
            base = base[:len(base) - (node.level - 1)]
            if node.module:
                target = ".".join(base + [node.module])
                out.append((_resolve(target), [a.name for a in node.names]))
            else:
                for alias in node.names:
                    out.append((_resolve(".".join(base + [alias.name])), []))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) \
                else [node.module or ""]
            for name in names:
                if name == "dualdiff" or name.startswith("dualdiff."):
                    out.append((_resolve(name), []))
    return [(target, names) for target, names in out if target != module]


def test_every_module_has_a_layer():
    for module in MODULES:
        rank(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_down_the_layers(module):
    for target, names in imports(module):
        same_package = subpackage(module) is not None and subpackage(module) == subpackage(target)
        if module == "dualdiff" or same_package:
            continue
        assert rank(target) < rank(module), \
            f"{module} (layer {rank(module)}) imports {target} (layer {rank(target)})"
        private = [n for n in names if n.startswith("_")]
        assert not private or rank(target) == rank(module), \
            f"{module} takes private names {private} from {target}, another layer"


def test_the_import_graph_has_no_cycle():
    graph = {m: {t for t, _ in imports(m)} for m in MODULES}
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_checker_finds_a_cycle_and_an_upward_import(monkeypatch):
    """The tests above can fail: a planted upward import is caught."""
    original = imports

    def planted(module):
        found = original(module)
        if module == "dualdiff.rules":
            found = found + [("dualdiff.operators", ["gradient"])]
        return found

    monkeypatch.setitem(globals(), "imports", planted)
    with pytest.raises(AssertionError, match="imports dualdiff.operators"):
        test_imports_run_down_the_layers("dualdiff.rules")
    with pytest.raises(AssertionError, match="import cycle"):
        test_the_import_graph_has_no_cycle()
