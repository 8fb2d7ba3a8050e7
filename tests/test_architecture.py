"""The package's shape, as docs/design.md ("Shape") describes it, checked from the import graph.

Every ``import`` counts, except those under ``if TYPE_CHECKING:`` (they never run). For cycles,
imports inside functions count too; for the pure core, only what importing it runs (a provider
spec may import its client inside the factory that builds one, which the core never calls),
and a subprocess confirms that importing the core loads no edge module.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "seedflow"
PURE_CORE = ("seedflow.pipeline", "seedflow.plan")
EDGES = ("seedflow.apply", "seedflow.store", "seedflow.sim", "seedflow.commands",
         "seedflow.gallery", "seedflow.ci", "seedflow.cli", "seedflow.providers.callback",
         "seedflow.providers.apikley.client", "seedflow.providers.modellix.client")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _runtime_nodes(tree: ast.AST, functions: bool) -> Iterator[ast.AST]:
    """Every node, skipping the bodies of ``if TYPE_CHECKING:`` (and of functions, unless
    ``functions``)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                yield child
                yield from _runtime_nodes(child, functions)
            continue
        if not functions and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        yield node
        yield from _runtime_nodes(node, functions)


@cache
def imports(name: str, functions: bool = True) -> frozenset[str]:
    """The seedflow modules ``name`` imports (``from X import y`` counts X.y when it is one)."""
    path = modules()[name]
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in _runtime_nodes(tree, functions):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(m for m in found if m in modules())


def unit(name: str) -> str:
    """The part of the package a module belongs to: ``seedflow.plan.diff`` → ``plan``; a loose
    module is a part of its own (``seedflow.outputs`` → ``outputs``)."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "seedflow"  # seedflow/__init__: only __version__


def reachable(start: str, functions: bool = True) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for found in imports(todo.pop(), functions):
            if found not in seen:
                seen.add(found)
                todo.append(found)
    return seen


def test_at_most_eight_loose_modules() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= 8, loose


def test_no_import_cycle_between_the_parts_of_the_package() -> None:
    graph: dict[str, set[str]] = {}
    for name in modules():
        if unit(name) == "seedflow":
            continue
        graph.setdefault(unit(name), set()).update(
            unit(m) for m in imports(name) if unit(m) not in (unit(name), "seedflow"))
    cycles = [(a, b) for a, targets in graph.items() for b in targets
              if a in _closure(graph, b)]
    assert not cycles, f"parts that import each other (directly or not): {sorted(cycles)}"


def _closure(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for found in graph.get(todo.pop(), ()):
            if found not in seen:
                seen.add(found)
                todo.append(found)
    return seen


def test_the_pure_core_reaches_no_io_edge() -> None:
    leaks = {name: sorted(m for m in reachable(name, functions=False) if m.startswith(EDGES))
             for name in modules() if name.startswith(PURE_CORE)}
    assert not {name: found for name, found in leaks.items() if found}


def test_importing_the_pure_core_loads_no_io_edge() -> None:
    core = sorted(name for name in modules() if name.startswith(PURE_CORE))
    script = (f"import sys\nfor m in {core!r}: __import__(m)\n"
              f"print('\\n'.join(m for m in sys.modules if m.startswith({EDGES!r})))")
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            check=True).stdout.split()
    assert loaded == []


def test_the_graph_sees_real_imports() -> None:
    """The checks above are only as good as the import parser: it must see these."""
    assert "seedflow.plan.diff" in imports("seedflow.apply.executor")
    assert "seedflow.lock.model" in reachable("seedflow.plan.diff")
    assert unit("seedflow.plan.diff") == "plan" and unit("seedflow.cli") == "cli"
