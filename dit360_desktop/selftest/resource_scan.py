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
    modules = {}
    for file in sorted(package_dir.rglob("*.py")):
        relative = file.relative_to(package_dir.parent)
        dotted = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
        source = file.read_text(encoding="utf-8")
        # Walking every syntax tree several times is slow; only modules that mention a resource can hold one.
        tree = ast.parse(source, filename=str(file)) if "resource" in source else None
        modules[dotted] = (relative.as_posix(), source, tree, file.name == "__init__.py")
    helpers = {
        (dotted, helper.name): helper
        for dotted, (_, _, tree, _) in modules.items()
        if tree is not None
        for helper in _helpers_in(tree)
    }
    helper_names = {name for _, name in helpers}
    refs: set[ResourceRef] = set()
    for dotted, (label, source, tree, is_package) in modules.items():
        if tree is not None:
            refs.update(_refs_in_tree(tree, label))
        if any(name in source for name in helper_names):
            tree = tree or ast.parse(source, filename=label)
            refs.update(_helper_call_refs(tree, label, dotted, is_package, helpers))
    # A bare resources_dir() (and resource()'s own definition) names the folder itself, not a resource in it.
    return sorted((ref for ref in refs if ref.path), key=lambda ref: (ref.path, ref.source))


@dataclass(frozen=True)
class _Helper:
    """A function that loads ``resource(*prefix, before + <param> + after)``, e.g. ``icon(name)``."""

    name: str
    param: str
    position: int
    prefix: tuple[str, ...]
    before: str
    after: str


def _helpers_in(tree: ast.AST) -> list[_Helper]:
    helpers = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        params = [arg.arg for arg in function.args.posonlyargs + function.args.args]
        for node in ast.walk(function):
            parts = _resource_parts(node)
            if not parts:
                continue
            *head, last = parts
            if not all(isinstance(p, ast.Constant) and isinstance(p.value, str) for p in head):
                continue
            template = _param_template(last, params)
            if template:
                param, before, after = template
                prefix = tuple(piece for p in head for piece in p.value.split("/") if piece)
                helpers.append(_Helper(function.name, param, params.index(param), prefix, before, after))
    return helpers


def _resource_parts(node: ast.AST) -> list[ast.expr] | None:
    if isinstance(node, ast.Call) and _callee_name(node.func) == "resource":
        return list(node.args)
    if isinstance(node, ast.BinOp | ast.Call):
        return _resources_dir_chain(node, set())
    return None


def _param_template(node: ast.expr, params: list[str]) -> tuple[str, str, str] | None:
    """``name`` -> (name, "", ""); ``f"{name}.svg"`` -> (name, "", ".svg"); anything else -> None."""
    if isinstance(node, ast.Name) and node.id in params:
        return node.id, "", ""
    if isinstance(node, ast.JoinedStr):
        fields = [v for v in node.values if isinstance(v, ast.FormattedValue)]
        if len(fields) != 1 or not isinstance(fields[0].value, ast.Name) or fields[0].value.id not in params:
            return None
        if fields[0].format_spec is not None or fields[0].conversion != -1:
            return None
        index = node.values.index(fields[0])
        text = [v.value if isinstance(v, ast.Constant) else "" for v in node.values]
        return fields[0].value.id, "".join(text[:index]), "".join(text[index + 1 :])
    return None


def _helper_call_refs(
    tree: ast.AST, label: str, dotted: str, is_package: bool, helpers: dict[tuple[str, str], _Helper]
) -> set[ResourceRef]:
    """Calls of a resource helper with literal arguments, in its own module or where it is imported."""
    names = {name: helper for (module, name), helper in helpers.items() if module == dotted}
    module_aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _absolute_module(node, dotted, is_package)
            for alias in node.names:
                local = alias.asname or alias.name
                if (source, alias.name) in helpers:
                    names[local] = helpers[(source, alias.name)]
                else:
                    module_aliases[local] = f"{source}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                module_aliases[alias.asname or alias.name] = alias.name
    refs: set[ResourceRef] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        helper = None
        if isinstance(node.func, ast.Name):
            helper = names.get(node.func.id)
        elif isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            helper = helpers.get((module_aliases.get(node.func.value.id, ""), node.func.attr))
        if helper is None:
            continue
        argument = next((k.value for k in node.keywords if k.arg == helper.param), None)
        if argument is None and helper.position < len(node.args):
            argument = node.args[helper.position]
        for value in _constant_strings(argument):
            path = "/".join([*helper.prefix, f"{helper.before}{value}{helper.after}"])
            refs.add(ResourceRef(path, dynamic=False, source=f"{label}:{node.lineno}"))
    return refs


def _absolute_module(node: ast.ImportFrom, dotted: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    # "from . import x" is relative to the module's package: itself for an __init__, else its parent.
    base = dotted.split(".") if is_package else dotted.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _constant_strings(node: ast.expr | None) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _constant_strings(node.body) + _constant_strings(node.orelse)
    return []


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
    """One sentence per missing or altered resource; empty when ``resources_dir`` matches the manifest."""
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
