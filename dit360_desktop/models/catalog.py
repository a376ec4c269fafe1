"""The catalog of downloadable components and tiers (``resources/catalog.json``).

Components name a repository and allow/ignore patterns, never file names: the files come from the hub's
listing at the resolved commit, so a repository that re-shards its weights keeps working.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from fnmatch import fnmatch
from functools import lru_cache
from pathlib import Path

from dit360_desktop import paths
from dit360_desktop.panorama.errors import DiT360Error

ROLES = frozenset({"base", "lora", "transformer", "text_encoder_2", "upscaler", "depth", "redux"})
LAYOUTS = frozenset({"diffusers", "lora", "single-file"})


@dataclass(frozen=True)
class Component:
    id: str
    role: str
    name: str
    purpose: str
    repo_id: str
    alt_repo_ids: tuple[str, ...]
    revision: str
    layout: str
    allow_patterns: tuple[str, ...]
    ignore_patterns: tuple[str, ...]
    gated: bool
    licence: str
    licence_url: str
    approx_size_bytes: int
    tiers: tuple[str, ...]
    status: str
    # Optional components (the upscaler) download only when asked for, never with the default set.
    optional: bool = False

    @property
    def supported(self) -> bool:
        return self.status == "supported"

    @property
    def repo_ids(self) -> tuple[str, ...]:
        return (self.repo_id, *self.alt_repo_ids)

    def wants(self, repo_path: str) -> bool:
        return matches_patterns(repo_path, self.allow_patterns, self.ignore_patterns)


@dataclass(frozen=True)
class Tier:
    id: str
    name: str
    purpose: str
    components: tuple[str, ...]
    status: str


@dataclass(frozen=True)
class Catalog:
    components: tuple[Component, ...]
    tiers: tuple[Tier, ...]

    def component(self, component_id: str) -> Component:
        for component in self.components:
            if component.id == component_id:
                return component
        known = ", ".join(c.id for c in self.components)
        raise KeyError(f"Unknown component {component_id!r}. Known components: {known}.")

    def for_role(self, role: str) -> Component:
        """The supported component that fills ``role`` (``base`` or ``lora``)."""
        for component in self.components:
            if component.role == role and component.supported:
                return component
        raise KeyError(f"The catalog has no supported component for {role!r}.")

    @property
    def default_components(self) -> tuple[Component, ...]:
        return tuple(c for c in self.components if c.supported and not c.optional)


class CatalogError(DiT360Error):
    """The bundled catalog is unreadable: the installation is damaged."""


def matches_patterns(repo_path: str, allow: tuple[str, ...], ignore: tuple[str, ...]) -> bool:
    """fnmatch filtering as huggingface_hub's snapshot_download does it (a trailing '/' means a folder)."""

    def expand(pattern: str) -> str:
        return pattern + "*" if pattern.endswith("/") else pattern

    if allow and not any(fnmatch(repo_path, expand(p)) for p in allow):
        return False
    return not any(fnmatch(repo_path, expand(p)) for p in ignore)


def load_catalog(path: Path | None = None) -> Catalog:
    path = path or paths.resource("catalog.json")
    return _load_catalog(Path(path))


@lru_cache(maxsize=4)
def _load_catalog(path: Path) -> Catalog:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        components = tuple(_component(item) for item in data["components"])
        tiers = tuple(
            Tier(
                id=item["id"],
                name=item["name"],
                purpose=item["purpose"],
                components=tuple(item["components"]),
                status=item["status"],
            )
            for item in data["tiers"]
        )
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CatalogError(f"The model catalog {path} is missing or damaged ({e}). Reinstall the app.") from e
    ids = {c.id for c in components}
    for tier in tiers:
        unknown = set(tier.components) - ids
        if unknown:
            raise CatalogError(f"Tier {tier.id!r} in {path} names unknown components {sorted(unknown)}.")
    return Catalog(components=components, tiers=tiers)


def _component(item: dict) -> Component:
    component = Component(
        id=item["id"],
        role=item["role"],
        name=item["name"],
        purpose=item["purpose"],
        repo_id=item["repo_id"],
        alt_repo_ids=tuple(item.get("alt_repo_ids", ())),
        revision=item.get("revision", "main"),
        layout=item["layout"],
        allow_patterns=tuple(item.get("allow_patterns", ())),
        ignore_patterns=tuple(item.get("ignore_patterns", ())),
        gated=bool(item["gated"]),
        licence=item["licence"],
        licence_url=item["licence_url"],
        approx_size_bytes=int(item["approx_size_bytes"]),
        tiers=tuple(item.get("tiers", ())),
        status=item["status"],
        optional=bool(item.get("optional", False)),
    )
    if component.role not in ROLES or component.layout not in LAYOUTS:
        raise ValueError(
            f"component {component.id!r} has role {component.role!r} / layout {component.layout!r}"
        )
    return component
