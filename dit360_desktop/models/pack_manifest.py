"""The manifest of an offline model pack (``dit360-pack.json``): what it holds and how to check it.

A pack is a folder: the manifest plus one folder per component (``<component id>/<repo path>``). The
manifest names each component's repository, revision and licence, and every file's size and SHA-256,
so an offline machine can verify the copy without asking the hub.

Forward compatibility follows the "critical extensions" rule of JOSE (RFC 7515 §4.1.11): a newer app
may add fields, which an older one imports past with a notice naming them; a field that changes what the
files mean is also listed in ``critical``, and an app that does not know it refuses the pack naming it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dit360_desktop.models.errors import VerificationError
from dit360_desktop.panorama.errors import DiT360Error

MANIFEST_NAME = "dit360-pack.json"
FORMAT_NAME = "dit360-model-pack"
FORMAT_VERSION = 1
ENTRY_FOLDER, ENTRY_FILE = "folder", "file"

_TOP_FIELDS = frozenset({"format", "format_version", "critical", "app_version", "created", "components"})
_COMPONENT_FIELDS = frozenset(
    {"name", "role", "layout", "repo_id", "revision", "licence", "licence_url", "source", "entry", "files"}
)
_FILE_FIELDS = frozenset({"size", "sha256", "git_sha1"})
_SHA256 = re.compile(r"[0-9a-f]{64}")


class PackFormatError(DiT360Error):
    """The pack needs something this app version does not understand; ``field`` names it."""

    exit_code = 2

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class PackDamagedError(VerificationError):
    """The pack's manifest or files do not match: ``files`` names each one (``component/path``)."""

    def __init__(self, message: str, *, files: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.files = files


@dataclass(frozen=True)
class PackFile:
    size: int
    sha256: str
    git_sha1: str | None = None


@dataclass(frozen=True)
class PackComponent:
    id: str
    name: str
    role: str
    layout: str
    repo_id: str | None
    revision: str | None  # the commit the files were downloaded at, when known
    licence: str
    licence_url: str
    source: str  # how the making machine got it: download, copy or in-place
    entry: str  # ENTRY_FOLDER, or ENTRY_FILE for a single-file LoRA
    files: dict[str, PackFile]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "layout": self.layout,
            "repo_id": self.repo_id,
            "revision": self.revision,
            "licence": self.licence,
            "licence_url": self.licence_url,
            "source": self.source,
            "entry": self.entry,
            "files": {
                rel: {"size": f.size, "sha256": f.sha256, "git_sha1": f.git_sha1}
                for rel, f in sorted(self.files.items())
            },
        }


@dataclass(frozen=True)
class PackManifest:
    format_version: int
    app_version: str
    created: str
    components: tuple[PackComponent, ...]
    # Fields this app does not know, as paths (``components["x"].files["y"].blake3``): ignored.
    unknown_fields: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "critical": [],
            "app_version": self.app_version,
            "created": self.created,
            "components": {c.id: c.to_json() for c in self.components},
        }


def is_pack(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / MANIFEST_NAME).is_file()


def safe_relative(rel: str) -> bool:
    """A manifest path that stays inside its component folder (no ``..``, no absolute path)."""
    parts = rel.split("/")
    return (
        bool(rel)
        and "\\" not in rel
        and not rel.startswith("/")
        and ":" not in parts[0]
        and all(part not in ("", ".", "..") for part in parts)
    )


def read_manifest(pack_dir: Path) -> PackManifest:
    """Parse and check ``<pack_dir>/dit360-pack.json``; PackDamagedError or PackFormatError otherwise."""
    path = Path(pack_dir) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise PackDamagedError(f"{pack_dir} is not a model pack: it has no {MANIFEST_NAME}.") from e
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise PackDamagedError(
            f"The pack manifest {path} cannot be read ({e}); copy the pack again.", files=(MANIFEST_NAME,)
        ) from e
    try:
        return _parse(data)
    except _FieldError as e:
        raise PackDamagedError(
            f"The pack manifest {path} is damaged: {e}. Copy the pack again.", files=(MANIFEST_NAME,)
        ) from e


class _FieldError(ValueError):
    pass


def _parse(data: Any) -> PackManifest:
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise _FieldError(f'"format" is not "{FORMAT_NAME}"')
    version = _get(data, "format_version", int, "format_version")
    critical = _get(data, "critical", list, "critical")
    # Checked before anything else: a critical field may change how every other field is to be read.
    for name in critical:
        if not isinstance(name, str) or name not in _TOP_FIELDS | _COMPONENT_FIELDS | _FILE_FIELDS:
            raise PackFormatError(
                f"The pack was made by a newer DiT360 Desktop (pack format {version}, app "
                f"{data.get('app_version', '?')}) and needs the field {name!r}, which this version "
                f"(pack format {FORMAT_VERSION}) does not understand. Update DiT360 Desktop to import it.",
                field=str(name),
            )
    unknown = [name for name in data if name not in _TOP_FIELDS]
    components_data = _get(data, "components", dict, "components")
    components = []
    for component_id, item in components_data.items():
        label = f"components[{json.dumps(component_id)}]"
        if not isinstance(item, dict):
            raise _FieldError(f"{label} is not an object")
        unknown += [f"{label}.{name}" for name in item if name not in _COMPONENT_FIELDS]
        files = {}
        for rel, record in _get(item, "files", dict, f"{label}.files").items():
            file_label = f"{label}.files[{json.dumps(rel)}]"
            if not safe_relative(rel):
                raise _FieldError(f"{file_label} is not a path inside the pack")
            if not isinstance(record, dict):
                raise _FieldError(f"{file_label} is not an object")
            unknown += [f"{file_label}.{name}" for name in record if name not in _FILE_FIELDS]
            size = _get(record, "size", int, f"{file_label}.size")
            sha256 = _get(record, "sha256", str, f"{file_label}.sha256")
            if size < 0 or not _SHA256.fullmatch(sha256):
                raise _FieldError(f"{file_label} has an invalid size or sha256")
            files[rel] = PackFile(
                size, sha256, _get(record, "git_sha1", str | None, f"{file_label}.git_sha1")
            )
        entry = _get(item, "entry", str, f"{label}.entry")
        if entry not in (ENTRY_FOLDER, ENTRY_FILE) or (entry == ENTRY_FILE and len(files) != 1):
            raise _FieldError(f'{label}.entry is "{entry}" for {len(files)} file(s)')
        if not files:
            raise _FieldError(f"{label} lists no files")
        components.append(
            PackComponent(
                id=component_id,
                name=_get(item, "name", str, f"{label}.name"),
                role=_get(item, "role", str, f"{label}.role"),
                layout=_get(item, "layout", str, f"{label}.layout"),
                repo_id=_get(item, "repo_id", str | None, f"{label}.repo_id"),
                revision=_get(item, "revision", str | None, f"{label}.revision"),
                licence=_get(item, "licence", str, f"{label}.licence"),
                licence_url=_get(item, "licence_url", str, f"{label}.licence_url"),
                source=_get(item, "source", str, f"{label}.source"),
                entry=entry,
                files=files,
            )
        )
    return PackManifest(
        format_version=version,
        app_version=_get(data, "app_version", str, "app_version"),
        created=_get(data, "created", str, "created"),
        components=tuple(components),
        unknown_fields=tuple(unknown),
    )


def _get(data: dict[str, Any], key: str, kind: Any, label: str) -> Any:
    if key not in data:
        if isinstance(None, kind):
            return None
        raise _FieldError(f'"{label}" is missing')
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise _FieldError(f'"{label}" has the wrong type ({json.dumps(value)[:40]})')
    return value
