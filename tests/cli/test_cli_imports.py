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


def test_edit_and_place_run_through_generates_request_path() -> None:
    """One run-and-save path: edit and place hand their request to generate's, not a copy of it."""
    from dit360_desktop.cli import edit, generate, place

    assert edit.run_request is generate.run_request
    assert place.run_request is generate.run_request
    assert callable(generate.check_output_paths) and callable(generate.check_attention)
