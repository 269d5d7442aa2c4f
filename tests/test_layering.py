"""The layering of ``xpgeo_core``, kept true by a test (docs/architecture.md draws the same arrows).

Why: an import circle or an upward import is how a codebase stops having layers without anyone
deciding it. Two circles appeared once (``backends/local.py`` <-> ``preview/``, and ``http.py`` ->
``urls.py`` -> ``image_lists.py`` -> ``metadata/fetch.py`` -> ``photo_client.py`` -> ``http.py``),
each hidden in a function-level import. So this test reads the source, not ``sys.modules``.

What counts as an import of module S on module T (every kind is counted; none is exempt):

* ``import T`` and ``from T import x`` (``from P import T`` when ``T`` is a submodule of ``P``),
  relative ones resolved, wherever the statement stands: at module level, inside a function or
  a method, in a class body, under ``if TYPE_CHECKING:``, in ``try``/``except ImportError``;
* ``importlib.import_module("T")`` and ``__import__("T")`` with a literal name;
* importing ``P.T`` also runs every package ``__init__`` on the way (``P``), so S depends on those
  packages too, unless S is inside them already.

Only modules of ``xpgeo_core`` are nodes; the standard library and third-party imports are not,
except ``arcpy``, which nothing in ``xpgeo_core`` may import at all.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Set, Tuple

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "xpgeo_core"

LAYERS: Tuple[Tuple[str, Tuple[str, ...]], ...] = (
    ("front ends", ("xpgeo_core.cli", "xpgeo_core.__main__", "xpgeo_core.commands", "xpgeo_core.toolbox",
                    "xpgeo_core.demo")),
    ("catalogue", ("xpgeo_core.catalogue",)),
    ("operations", ("xpgeo_core.operations",)),
    ("backends", ("xpgeo_core.backends",)),
    ("pipeline", ("xpgeo_core.pipeline", "xpgeo_core.readiness")),
    ("shared services", ("xpgeo_core",)),
)
"""Top to bottom. A module is in the layer of its longest matching prefix (a package names all its
modules), so a new module is a shared service until it is placed higher. A module may import its
own layer and any layer below it, never one above. The backends sit above the pipeline: a backend
implements the pipeline's ``Sink`` (``pipeline/sink.py``) and the loop is handed one by the
operations; the pipeline never imports a backend. The viewer-readiness check is a step of the
append run (planned window by window by the loop, its targets named by each backend)."""

FRONT_ENDS = ("xpgeo_core.cli", "xpgeo_core.__main__", "xpgeo_core.commands", "xpgeo_core.toolbox")
"""What nothing below the operations may know about (the catalogue itself sits above them)."""
FORBIDDEN_EVERYWHERE = ("arcpy", "arcgisscripting")
"""Modules no file of ``xpgeo_core`` may import: the toolbox (``XPGEO.pyt``) is the only arcpy side."""

Edge = Tuple[str, str, int]
"""(importing module, imported module, line of the import statement)."""


# -- the walker --------------------------------------------------------------------------

def module_files(root: Path, package: str) -> Dict[str, Path]:
    """Every module of *package* (under *root*) by dotted name; a package by its own name."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _imported_names(module: str, path: Path) -> Iterator[Tuple[str, List[str], int]]:
    """(dotted target, names imported from it, line) for every import anywhere in the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield target, [alias.name for alias in node.names], node.lineno
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__"):
                yield node.args[0].value, [], node.lineno


def _known(name: str, modules: Dict[str, Path]) -> Optional[str]:
    """*name*, or the nearest enclosing module of it that exists (``pkg.mod.attr`` -> ``pkg.mod``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _packages_on_the_way(target: str, source: str, modules: Dict[str, Path]) -> List[str]:
    """The packages whose ``__init__`` importing *target* runs, less those *source* is inside."""
    parts = target.split(".")
    out = []
    for n in range(1, len(parts)):
        package = ".".join(parts[:n])
        if package in modules and not (source == package or source.startswith(package + ".")):
            out.append(package)
    return out


def import_edges(root: Path = ROOT, package: str = PACKAGE) -> Tuple[List[Edge], List[Edge]]:
    """(edges between modules of *package*, imports of other top-level names), every kind counted."""
    modules = module_files(root, package)
    inside: List[Edge] = []
    outside: List[Edge] = []
    for source, path in modules.items():
        for target, names, line in _imported_names(source, path):
            if target.split(".")[0] != package:
                outside.append((source, target, line))
                continue
            wanted = [f"{target}.{n}" if f"{target}.{n}" in modules else target for n in names] or [target]
            for name in wanted:
                found = _known(name, modules)
                if found is None:
                    continue
                for module in _packages_on_the_way(found, source, modules) + [found]:
                    if module != source:
                        inside.append((source, module, line))
    return inside, outside


def circles(edges: List[Edge]) -> List[List[str]]:
    """Every import circle: the strongly connected components of more than one module (Tarjan),
    each given as one closed path through it, so the message shows the imports to cut."""
    graph: Dict[str, Set[str]] = {}
    for source, target, _ in edges:
        graph.setdefault(source, set()).add(target)
        graph.setdefault(target, set())
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    components: List[List[str]] = []

    def visit(node: str) -> None:  # recursion depth is bounded by the module count (about a hundred)
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [_closed_path(component, graph) for component in components]


def _closed_path(component: List[str], graph: Dict[str, Set[str]]) -> List[str]:
    """A shortest path from the component's first module back to itself, inside the component."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return paths[node] + [start]
            if nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                queue.append(nxt)
    return component  # pragma: no cover - a strongly connected component always closes


def layer_of(module: str, layers=LAYERS) -> int:
    """The index in *layers* (0 at the top) of *module*: the longest prefix that names it."""
    best, best_length = len(layers) - 1, -1
    for number, (_, prefixes) in enumerate(layers):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = number, len(prefix)
    return best


def upward(edges: List[Edge], layers=LAYERS) -> List[str]:
    """Every import of a module in a layer above the importer's, described."""
    out = []
    for source, target, line in edges:
        if layer_of(target, layers) < layer_of(source, layers):
            out.append(f"{source} (line {line}, {layers[layer_of(source, layers)][0]}) imports {target} "
                       f"({layers[layer_of(target, layers)][0]})")
    return sorted(set(out))


def _show(cycle: List[str]) -> str:
    return " -> ".join(cycle)


# -- the rules, on xpgeo_core -------------------------------------------------------------

EDGES, OUTSIDE = import_edges()


def test_no_import_circle_between_modules():
    found = circles(EDGES)
    assert not found, "import circles (move the code to the module it belongs in; an import hidden in a " \
                      "function is still counted):\n" + "\n".join(_show(c) for c in found)


def test_no_module_imports_a_layer_above_its_own():
    found = upward(EDGES)
    assert not found, "imports against the layers (LAYERS, top to bottom: " + \
        " > ".join(name for name, _ in LAYERS) + "):\n" + "\n".join(found)


def test_nothing_below_the_operations_knows_the_cli_the_commands_or_the_toolbox():
    operations = layer_of("xpgeo_core.operations")
    found = [f"{s} (line {n}) imports {t}" for s, t, n in EDGES
             if layer_of(s) >= operations and any(t == f or t.startswith(f + ".") for f in FRONT_ENDS)]
    assert not found, "\n".join(found)


def test_nothing_in_xpgeo_core_imports_arcpy():
    found = [f"{s} (line {n}) imports {t}" for s, t, n in OUTSIDE if t.split(".")[0] in FORBIDDEN_EVERYWHERE]
    assert not found, "xpgeo_core must run without ArcGIS Pro; only XPGEO.pyt touches arcpy:\n" + "\n".join(found)


def test_every_layer_of_the_table_holds_a_module():
    """A prefix that names no module is a stale row (a renamed package would silently drop its rule)."""
    modules = module_files(ROOT, PACKAGE)
    for name, prefixes in LAYERS:
        for prefix in prefixes:
            assert any(m == prefix or m.startswith(prefix + ".") for m in modules), (name, prefix)


def test_the_walker_sees_imports_inside_functions_and_under_type_checking():
    """The kinds of import the rules rely on are really read (a walker that missed one would pass
    every rule above while the code has circles)."""
    pairs = {(s, t) for s, t, _ in EDGES}
    assert ("xpgeo_core.backends.base", "xpgeo_core.pipeline") in pairs  # inside Backend.append_images
    assert ("xpgeo_core.backends.base", "xpgeo_core.pipeline.sink") in pairs  # under TYPE_CHECKING


# -- the walker itself, on made-up packages -------------------------------------------------

def _package(tmp_path: Path, files: Dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


def test_a_circle_through_a_function_level_and_a_relative_import_is_found(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "def f():\n    from .sub import c\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "import importlib\nX = importlib.import_module('pkg.a')\n",
        "pkg/d.py": "from pkg.a import something\n",
    })
    edges, _ = import_edges(root, "pkg")
    assert circles(edges) == [["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]]
    assert ("pkg.b", "pkg.sub", 2) in edges  # the package __init__ on the way is a dependency too


def test_a_package_importing_its_own_submodules_is_no_circle(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "from pkg.one import x\n",
        "pkg/one.py": "from pkg.two import y\nx = y\n",
        "pkg/two.py": "y = 1\n",
    })
    edges, _ = import_edges(root, "pkg")
    assert circles(edges) == []


def test_an_upward_import_is_named_with_its_layers(tmp_path):
    root = _package(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/top.py": "from pkg import low\n",
        "pkg/low.py": "if False:\n    from pkg.top import thing\n",
    })
    edges, outside = import_edges(root, "pkg")
    layers = (("top", ("pkg.top",)), ("bottom", ("pkg",)))
    assert upward(edges, layers) == ["pkg.low (line 2, bottom) imports pkg.top (top)"]
    assert outside == []
