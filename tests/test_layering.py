"""The import graph of rader_queue has no cycles, between subpackages or between modules.

Every module is parsed with ``ast`` (nothing is imported), and every ``import`` statement counts:
top-level, inside functions, under ``if TYPE_CHECKING``. A subpackage is the first level below
``rader_queue`` (``rader_queue.queue``, ``rader_queue.settings``); an edge ``a -> b`` means some
module of ``a`` imports something of ``b``. A cycle is printed as ``queue -> ops -> queue``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = "rader_queue"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# Imports that may stay inside functions: heavy optional dependencies whose import at module
# level would make every CLI start or worker load them.
OPTIONAL_HEAVY = {"torch", "transformers", "faiss", "vllm", "sentence_transformers", "deepspeed",
                  "peft"}


def module_names(root: Path = ROOT) -> dict[str, Path]:
    """Dotted name -> file for every module of the package (a package is its ``__init__``)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
              known: set[str]) -> list[str]:
    """The rader_queue modules one import statement names (most specific known module)."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        # ``from pkg import sub`` names the submodule when it is one, else a name of ``pkg``.
        targets = [f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in known else prefix
                   for alias in node.names]
    found = []
    for target in targets:
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target:
            found.append(target)
    return found


def _packages_of(module: str) -> set[str]:
    """``a.b.c`` -> ``{a, a.b, a.b.c}``."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts) + 1)} if module else set()


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the rader_queue modules it imports (anywhere in its body)."""
    names = module_names(root)
    known = set(names)
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in names.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        own_packages = _packages_of(module if path.name == "__init__.py" else
                                    module.rpartition(".")[0])
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _imported(node, module, path.name == "__init__.py", known):
                    # importing a.b.c runs a/__init__ and a/b/__init__ first (those not already
                    # running because the importer is inside them)
                    for package in _packages_of(target) - own_packages:
                        if package in known and package != module:
                            graph[module].add(package)
        graph.setdefault(module, set())
    return dict(graph)


def subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph.items():
        source = subpackage(module)
        packages.setdefault(source, set())
        for target in targets:
            if subpackage(target) != source and subpackage(target) != PACKAGE:
                packages[source].add(subpackage(target))
    return dict(packages)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one node, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
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
    return sorted(components)


def shortest_cycle(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One shortest cycle through the first node of a component, as ``[a, b, ..., a]``."""
    start, members = component[0], set(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph.get(node, set()) & members):
                if nxt == start:
                    return paths[node] + [start]
                if nxt not in paths:
                    paths[nxt] = paths[node] + [nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    raise AssertionError(f"{component} is not a cycle")


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """For each strongly connected component, the shortest cycle through each of its nodes
    (each cycle once, whatever node it is written from)."""
    found: dict[frozenset, str] = {}
    for component in strongly_connected(graph):
        for start in component:
            cycle = shortest_cycle(graph, [start, *(n for n in component if n != start)])
            edges = frozenset(zip(cycle, cycle[1:]))
            found.setdefault(edges, " -> ".join(cycle))
    return sorted(found.values())


def function_level_imports(root: Path = ROOT) -> list[str]:
    """``path:line module`` of every import inside a function body (optional heavy deps aside)."""
    found = []
    for module, path in module_names(root).items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for func in ast.walk(tree):
            if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = ["." * node.level + (node.module or "")]
                else:
                    continue
                if all(name.split(".")[0] in OPTIONAL_HEAVY for name in names):
                    continue
                found.append(f"{path.relative_to(root.parent)}:{node.lineno} {', '.join(names)}")
    return sorted(set(found))


def test_the_graph_sees_relative_and_function_level_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "a").mkdir(parents=True)
    (package / "b").mkdir()
    (package / "__init__.py").write_text("")
    (package / "a" / "__init__.py").write_text("from .one import x\n")
    (package / "a" / "one.py").write_text("def f():\n    from pkg.b import two\n")
    (package / "b" / "__init__.py").write_text("")
    (package / "b" / "two.py").write_text("from ..a import one\n")
    graph = import_graph(package)
    # importing pkg.b.two runs pkg/b/__init__ first: an edge to the package too
    assert graph["pkg.a.one"] == {"pkg.b", "pkg.b.two"}
    assert graph["pkg.b.two"] == {"pkg.a", "pkg.a.one"}
    assert graph["pkg.a"] == {"pkg.a.one"}          # its own submodule, not itself
    assert cycles(graph) == ["pkg.a -> pkg.a.one -> pkg.b.two -> pkg.a",
                             "pkg.a.one -> pkg.b.two -> pkg.a.one"]
    assert cycles(package_graph(graph)) == ["a -> b -> a"]
    assert function_level_imports(package) == ["pkg/a/one.py:2 pkg.b"]

    (package / "a" / "one.py").write_text("import os\n")     # the cycle broken
    assert cycles(import_graph(package)) == cycles(package_graph(import_graph(package))) == []


def test_no_cycle_between_subpackages():
    found = cycles(package_graph(import_graph()))
    assert not found, "import cycles between rader_queue subpackages:\n" + "\n".join(found)


def test_no_cycle_between_modules():
    found = cycles(import_graph())
    assert not found, "import cycles between rader_queue modules:\n" + "\n".join(found)


if __name__ == "__main__":
    graph = import_graph()
    print("package cycles:", *cycles(package_graph(graph)) or ["none"], sep="\n  ")
    print("module cycles:", *cycles(graph) or ["none"], sep="\n  ")
    local = function_level_imports()
    print(f"function-level imports (optional heavy deps aside): {len(local)}")
