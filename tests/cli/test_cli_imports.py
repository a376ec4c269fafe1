"""Sub-commands share helpers through public names only: no module imports another's private ``_name``."""

from __future__ import annotations

import ast
from pathlib import Path

import dit360_desktop

PACKAGE = Path(dit360_desktop.__file__).parent


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dit360_desktop"):
            found += [
                f"{node.module}.{a.name}"
                for a in node.names
                if a.name.startswith("_") and not a.name.endswith("__")
            ]
    return found


def test_cli_modules_import_no_private_names() -> None:
    offenders = {
        path.name: names
        for path in sorted((PACKAGE / "cli").glob("*.py"))
        if (names := _private_imports(path))
    }
    assert offenders == {}


def test_generate_shares_its_checks_publicly() -> None:
    from dit360_desktop.cli import edit, generate

    assert edit.check_output_paths is generate.check_output_paths
    assert edit.open_library is generate.open_library
    assert callable(generate.check_attention)
