"""core/, models/ and history/ never import Qt: checked in the source and in a fresh interpreter."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
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
