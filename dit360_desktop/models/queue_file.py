"""The persistent download queue, ``<models dir>/.downloads/queue.json``: which components are queued,
which files the user paused, and the endpoint in use. Never a token.

Every change is a read-modify-write under a thread lock and a file lock, because the app and the CLI
may share one models folder.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from dit360_desktop.models.fsutil import atomic_write_json, file_lock, read_json


class QueueFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict:
        data = read_json(self.path)
        return data if isinstance(data, dict) else {}

    def endpoint(self) -> str | None:
        value = self._read().get("endpoint")
        return value if isinstance(value, str) else None

    def components(self) -> list[str]:
        items = self._read().get("components", [])
        return [c for c in items if isinstance(c, str)] if isinstance(items, list) else []

    def paused(self) -> dict[str, list[str]]:
        paused = self._read().get("paused", {})
        return {k: list(v) for k, v in paused.items()} if isinstance(paused, dict) else {}

    def edit(self, change: Callable[[dict], None], *, endpoint: str) -> None:
        with self._lock, file_lock(self.path.with_name(".queue.lock")):
            data = self._read()
            if not isinstance(data.get("paused"), dict):
                data["paused"] = {}
            if not isinstance(data.get("components"), list):
                data["components"] = []
            change(data)
            data["endpoint"] = endpoint
            atomic_write_json(self.path, data)

    def add(self, component_ids: Iterable[str], *, endpoint: str) -> None:
        ids = set(component_ids)
        self.edit(
            lambda data: data.update(components=sorted(set(data["components"]) | ids)), endpoint=endpoint
        )

    def set_paused(self, component_id: str, path: str, paused: bool, *, endpoint: str) -> None:
        def change(data: dict) -> None:
            current = set(data["paused"].get(component_id, []))
            current = current | {path} if paused else current - {path}
            data["paused"][component_id] = sorted(current)
            data["paused"] = {k: v for k, v in data["paused"].items() if v}

        self.edit(change, endpoint=endpoint)

    def clear_paused(self, component_ids: Iterable[str] | None, *, endpoint: str) -> None:
        def change(data: dict) -> None:
            for component_id in list(data["paused"]) if component_ids is None else list(component_ids):
                data["paused"].pop(component_id, None)

        self.edit(change, endpoint=endpoint)

    def remove(self, component_id: str, *, endpoint: str) -> None:
        def change(data: dict) -> None:
            data["paused"].pop(component_id, None)
            data["components"] = [c for c in data["components"] if c != component_id]

        self.edit(change, endpoint=endpoint)
