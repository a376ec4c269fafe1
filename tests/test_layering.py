"""The layers hold: core/, models/ and history/ never import Qt (checked in the source and in a fresh
interpreter), the import-linter contracts of pyproject.toml keep, and no module of the package takes part in
an import cycle, counting the imports inside functions (lazy) and under TYPE_CHECKING."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from collections import deque
from pathlib import Path

import dit360_desktop

PACKAGE_ROOT = Path(dit360_desktop.__file__).parent
QT_FREE = ("panorama", "core", "models", "history")
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "PySide2", "shiboken6")


def _modules(layer: str) -> list[tuple[str, Path]]:
    out = []
    for path in sorted((PACKAGE_ROOT / layer).rglob("*.py")):
        relative = path.relative_to(PACKAGE_ROOT.parent).with_suffix("")
        parts = list(relative.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append((".".join(parts), path))
    return out


def _imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            names.update(arg.value for arg in node.args if isinstance(arg, ast.Constant))
    return names


def test_every_layer_has_modules() -> None:
    for layer in QT_FREE:
        assert _modules(layer), f"no modules found in {layer}/"


def test_source_of_qt_free_layers_names_no_qt_module() -> None:
    offenders = []
    for layer in QT_FREE:
        for module, path in _modules(layer):
            for name in _imported_names(path):
                if name.split(".")[0] in QT_MODULES:
                    offenders.append(f"{module} imports {name}")
    assert offenders == []


def test_source_scan_would_catch_a_qt_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom PySide6.QtCore import QObject\nimportlib.import_module('PyQt6')\n")
    assert {"PySide6.QtCore", "PyQt6"} <= _imported_names(sample)


def test_importing_qt_free_layers_loads_no_qt() -> None:
    modules = [module for layer in QT_FREE for module, _ in _modules(layer)]
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r})))\n"
        f"print(json.dumps([m for m in {modules!r} if m not in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    lines = out.stdout.strip().splitlines()
    assert json.loads(lines[-2]) == []
    assert json.loads(lines[-1]) == [], "some modules were not imported, so the check proved nothing"


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    # PYTHONPATH points grimp at the tree under test (the installed package is the checkout itself).
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports"))],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd)},
    )


def test_import_contracts_hold() -> None:
    """The layer contracts in pyproject.toml (docs/architecture.md): lint-imports must keep every one."""
    result = _lint_imports(PACKAGE_ROOT.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_import_contracts_catch_an_upward_import(tmp_path: Path) -> None:
    """The same contracts on a copy of the package where core imports models must fail."""
    shutil.copytree(PACKAGE_ROOT, tmp_path / "dit360_desktop", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PACKAGE_ROOT.parent / "pyproject.toml", tmp_path / "pyproject.toml")
    padding = tmp_path / "dit360_desktop" / "core" / "padding.py"
    padding.write_text(padding.read_text() + "\nfrom dit360_desktop.models import registry  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "dit360_desktop.core is not allowed to import dit360_desktop.models" in result.stdout


def test_import_contracts_keep_torch_out_of_panorama_and_history(tmp_path: Path) -> None:
    """A lazy torch import in panorama/ (the torch-free data layer) breaks a contract."""
    shutil.copytree(PACKAGE_ROOT, tmp_path / "dit360_desktop", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PACKAGE_ROOT.parent / "pyproject.toml", tmp_path / "pyproject.toml")
    result_module = tmp_path / "dit360_desktop" / "panorama" / "result.py"
    result_module.write_text(result_module.read_text() + "\n\ndef _tensor():\n    import torch  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "dit360_desktop.panorama.result -> torch" in result.stdout


# --- import cycles, lazy imports included -------------------------------------------------------------


def package_modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package) for every module under the package folder ``root``."""
    out: dict[str, tuple[Path, bool]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        out[".".join(parts)] = (path, is_package)
    return out


def import_graph(modules: dict[str, tuple[Path, bool]]) -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its source: at module level, inside functions,
    under ``if TYPE_CHECKING``. ``from a import b`` counts as ``a.b`` when that is a module, else ``a``;
    importing ``a.b.c`` also runs the packages ``a`` and ``a.b``, except those the importer is inside
    (they ran before it)."""
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        imported: list[str] = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                imported.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(
                        parts[: len(parts) - node.level + 1] + ([node.module] if node.module else [])
                    )
                imported.extend(
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                )
        targets: set[str] = set()
        for target in imported:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if not target:
                continue  # not ours
            targets.add(target)
            parts = target.split(".")
            targets.update(
                ancestor
                for ancestor in (".".join(parts[:i]) for i in range(1, len(parts)))
                if not name.startswith(ancestor + ".")
            )
        targets.discard(name)
        graph[name] = targets
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``a -> b -> … -> a``) for each strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(start: str) -> None:
        # Iterative, so a deep import chain cannot hit the recursion limit.
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
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
                        groups.append(group)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return [_one_cycle(graph, group) for group in groups]


def _one_cycle(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """The shortest way from the group's first module back to itself, inside the group."""
    start = min(group)
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in sorted(graph[node] & group):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, node, start]
            if child not in came_from:
                came_from[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle found in the strongly connected group {sorted(group)}")


def test_no_import_cycle_anywhere_in_the_package() -> None:
    graph = import_graph(package_modules(PACKAGE_ROOT))
    assert len(graph) > 100, "the package was not found, so the check proved nothing"
    cycles = import_cycles(graph)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / "pkg" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_the_cycle_check_sees_lazy_type_checking_and_relative_imports(tmp_path: Path) -> None:
    package = _write_package(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "def f():\n    from pkg.sub import b  # lazy\n",
            "sub/__init__.py": "",
            "sub/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..c import C\n",
            "c.py": "import pkg.a\nclass C: ...\n",
            "d.py": "from pkg import a, c\n",  # imports into the cycle, is not part of it
        },
    )
    graph = import_graph(package_modules(package))
    assert graph["pkg.d"] == {"pkg.a", "pkg.c"}
    assert import_cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.c", "pkg.a"]]


def test_the_cycle_check_sees_a_package_init_that_imports_back(tmp_path: Path) -> None:
    package = _write_package(
        tmp_path,
        {
            "__init__.py": "",
            "viewer/__init__.py": "def make():\n    from pkg.viewer.widget import W\n",
            "viewer/widget.py": "from pkg.viewer import make\n",  # its own package: a real circle
            "viewer/other.py": "from pkg.viewer import widget\n",  # a sibling: no circle
        },
    )
    graph = import_graph(package_modules(package))
    assert import_cycles(graph) == [["pkg.viewer", "pkg.viewer.widget", "pkg.viewer"]]


def test_import_contracts_keep_the_ui_features_apart(tmp_path: Path) -> None:
    """A feature folder importing another (the gallery from the generation feature) breaks a contract."""
    shutil.copytree(PACKAGE_ROOT, tmp_path / "dit360_desktop", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PACKAGE_ROOT.parent / "pyproject.toml", tmp_path / "pyproject.toml")
    controller = tmp_path / "dit360_desktop" / "ui" / "generation" / "controller.py"
    controller.write_text(controller.read_text() + "\nfrom dit360_desktop.ui.gallery import panel  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert "The app's features do not import each other BROKEN" in result.stdout
    assert "dit360_desktop.ui.generation.controller -> dit360_desktop.ui.gallery.panel" in result.stdout
