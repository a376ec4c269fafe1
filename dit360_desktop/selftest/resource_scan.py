"""Find every bundled resource the code loads, by reading the source, and check a resources folder for them.

The scan is what keeps the PyInstaller spec honest: the spec writes its result into the bundle as a
manifest, the frozen ``--selftest`` checks the manifest against the bundled folder, and the packaging tests
compare it with the spec's data list. Recognised forms (all under ``resources/``):

- ``resource("shaders", "panorama.frag")`` (also ``paths.resource``), partly literal calls count as a
  reference to the literal prefix folder;
- ``resources_dir() / "catalog.json"`` and ``resources_dir().joinpath(...)``;
- string literals that are a path containing ``resources/`` (``"resources/style/app.qss"``).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

MANIFEST_NAME = "dit360_resources_manifest.json"
_RESOURCE_LITERAL = re.compile(r"^(?:[\w.\-]+/)*resources/([\w.\-]+(?:/[\w.\-]+)*)/?$")


@dataclass(frozen=True)
class ResourceRef:
    """One place in the code that loads a resource. ``dynamic`` refs name only the folder they read from."""

    path: str
    dynamic: bool
    source: str


def scan_package(package_dir: Path) -> list[ResourceRef]:
    """All resource references in the ``.py`` files under ``package_dir``, sorted, one per code location."""
    package_dir = Path(package_dir)
    refs: set[ResourceRef] = set()
    for file in sorted(package_dir.rglob("*.py")):
        label = file.relative_to(package_dir.parent).as_posix()
        tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
        refs.update(_refs_in_tree(tree, label))
    return sorted(refs, key=lambda ref: (ref.path, ref.source))


def _refs_in_tree(tree: ast.AST, label: str) -> set[ResourceRef]:
    refs: set[ResourceRef] = set()
    docstrings = _docstring_nodes(tree)
    consumed: set[int] = set()
    for node in ast.walk(tree):
        where = f"{label}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call) and _callee_name(node.func) == "resource":
            refs.add(_ref_from_parts(node.args, where))
        elif isinstance(node, ast.BinOp | ast.Call) and id(node) not in consumed:
            parts = _resources_dir_chain(node, consumed)
            if parts is not None:
                refs.add(_ref_from_parts(parts, where))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            match = _RESOURCE_LITERAL.match(node.value.replace("\\", "/"))
            if match:
                refs.add(ResourceRef(match.group(1), dynamic=False, source=where))
    return refs


def _docstring_nodes(tree: ast.AST) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _callee_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _resources_dir_chain(node: ast.expr, consumed: set[int]) -> list[ast.expr] | None:
    """The path parts after ``resources_dir()`` in ``resources_dir() / a / b`` or ``.joinpath(a, b)``."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        left = _resources_dir_chain(node.left, consumed)
        if left is None:
            return None
        consumed.add(id(node.left))
        return [*left, node.right]
    if isinstance(node, ast.Call):
        if _callee_name(node.func) == "resources_dir" and not node.args:
            return []
        if isinstance(node.func, ast.Attribute) and node.func.attr == "joinpath":
            base = _resources_dir_chain(node.func.value, consumed)
            if base is None:
                return None
            consumed.add(id(node.func.value))
            return [*base, *node.args]
    return None


def _ref_from_parts(parts: list[ast.expr], where: str) -> ResourceRef:
    literal: list[str] = []
    for part in parts:
        if isinstance(part, ast.Constant) and isinstance(part.value, str):
            literal.extend(piece for piece in part.value.split("/") if piece)
        else:
            return ResourceRef("/".join(literal), dynamic=True, source=where)
    return ResourceRef("/".join(literal), dynamic=False, source=where)


def list_files(resources_dir: Path) -> dict[str, str]:
    """Every file under ``resources_dir`` with its SHA-256, keyed by the POSIX relative path."""
    resources_dir = Path(resources_dir)
    files: dict[str, str] = {}
    if not resources_dir.is_dir():
        return files
    for file in sorted(resources_dir.rglob("*")):
        if file.is_file() and "__pycache__" not in file.parts:
            files[file.relative_to(resources_dir).as_posix()] = hashlib.sha256(file.read_bytes()).hexdigest()
    return files


def build_manifest(package_dir: Path, resources_dir: Path) -> dict:
    """What a correct bundle must contain: the code's references and the exact resource files."""
    return {
        "referenced": [asdict(ref) for ref in scan_package(package_dir)],
        "files": list_files(resources_dir),
    }


def write_manifest(manifest: dict, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=1, sort_keys=True), encoding="utf-8")
    return path


def find_problems(manifest: dict, resources_dir: Path) -> list[str]:
    """Sentences naming each missing or altered resource; empty when ``resources_dir`` satisfies the manifest."""
    resources_dir = Path(resources_dir)
    problems: list[str] = []
    if not resources_dir.is_dir():
        return [f"the resources folder {resources_dir} does not exist"]
    for ref in manifest["referenced"]:
        target = resources_dir / ref["path"]
        if ref["dynamic"]:
            if not target.is_dir() or not any(target.iterdir()):
                problems.append(f"missing resource folder {ref['path'] or '.'}/ (read by {ref['source']})")
        elif not target.exists():
            problems.append(f"missing resource {ref['path']} (loaded by {ref['source']})")
    actual = list_files(resources_dir)
    for name, digest in manifest["files"].items():
        if name not in actual:
            problems.append(f"missing bundled file resources/{name}")
        elif actual[name] != digest:
            problems.append(f"bundled file resources/{name} differs from the build's copy")
    return sorted(set(problems))
