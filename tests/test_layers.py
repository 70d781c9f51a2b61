"""The package's layers: every import, at module level or inside a function, points down.

Read from the source with ``ast`` (nothing is imported), so a lazy import that climbs a layer
fails here as surely as a top-level one. docs/architecture.md draws the same table.
"""

from __future__ import annotations

import ast
import importlib
import sys
from pathlib import Path

import pytest

import softreg
from softreg import _moved

SRC = Path(softreg.__file__).resolve().parent

# lowest first; a package may import its own layer and the ones before it
LAYERS = [
    {"core"},
    {"safety"},
    {"data"},
    {"epochs"},
    {"backends"},
    {"fitting"},
    {"runfiles"},
    {"explain"},
    {"plots"},
    {"export", "estimator"},
    {"jobs"},
    {"sweeps"},
    {"cli", "d2l", "torch", "tensorflow", "mxnet", "__main__", "__init__", "_moved"},
]
RANK = {pkg: rank for rank, layer in enumerate(LAYERS) for pkg in layer}

# (importing module, imported module): why the edge climbs
ALLOWED_UP = {
    ("softreg.core.config", "softreg.data.spec"):
        "the --data setting is checked by the data layer's spec parser (data imports no config)",
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """The softreg modules that ``path`` imports, anywhere in it."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                node.module.split(".")[0] == "softreg":
            names = [f"{node.module}.{a.name}" for a in node.names]
            names = [n if n in MODULES else node.module for n in names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.split(".")[0] == "softreg"]
        for name in names:
            while name not in MODULES and "." in name:
                name = name.rsplit(".", 1)[0]
            out.add(name)
    return out


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _counts(mod: str, dep: str) -> bool:
    # ``softreg`` itself (the version, the lazy names) and a module's own packages (a package's
    # __init__ gathering its modules) are not edges between layers or modules
    return dep != mod and dep != "softreg" and not mod.startswith(dep + ".")


EDGES = {mod: {m for m in _imports(path) if _counts(mod, m)} for mod, path in MODULES.items()}


def test_softreg_itself_imports_no_old_path():
    # an old path works for users (with a warning) but would hide an edge from these tests
    old = []
    for mod, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            old += [f"{mod}: {n}" for n in names
                    if n.startswith("softreg.") and n not in MODULES and n[8:] in _moved.MOVED]
    assert old == []


def test_every_package_has_a_layer():
    assert {_layer(m) for m in MODULES} <= set(RANK), "a new package: give it a row in LAYERS"


def test_no_import_climbs_a_layer():
    climbing = [
        f"{mod} imports {dep}"
        for mod, deps in EDGES.items() for dep in deps
        if RANK[_layer(dep)] > RANK[_layer(mod)] and (mod, dep) not in ALLOWED_UP
    ]
    assert climbing == []


def test_the_allowed_exceptions_still_exist():
    # an exception that no longer happens is removed from the list, not kept "just in case"
    for mod, dep in ALLOWED_UP:
        assert dep in EDGES[mod], f"{mod} no longer imports {dep}: drop it from ALLOWED_UP"


def _cycles() -> list[frozenset[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in EDGES:
        if root in index:
            continue
        work = [(root, iter(sorted(EDGES[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(EDGES[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(frozenset(group))
    return found


def test_no_import_cycles():
    assert [sorted(c) for c in _cycles()] == []


def test_the_cycle_finder_finds_a_cycle(monkeypatch):
    monkeypatch.setitem(EDGES, "softreg.core.errors", EDGES["softreg.core.errors"] |
                        {"softreg.safety.writegate"})
    assert any({"softreg.core.errors", "softreg.safety.writegate"} <= c for c in _cycles())


@pytest.mark.parametrize("old", sorted(_moved.MOVED))
def test_an_old_module_path_still_imports_the_same_module(old, monkeypatch):
    monkeypatch.delitem(sys.modules, f"softreg.{old}", raising=False)  # import it afresh
    new = f"softreg.{_moved.MOVED[old]}"
    with pytest.warns(DeprecationWarning, match=f"moved to {new} after"):
        module = importlib.import_module(f"softreg.{old}")
    assert module is importlib.import_module(new)


def test_a_module_of_a_moved_package_loads_once():
    old = importlib.import_module("softreg.engines.local")
    assert old is importlib.import_module("softreg.sweeps.engines.local")
