"""What the gallery's actions do outside the library: file manager, clipboard, request fields."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication

from dit360_desktop.history.entry import Entry

log = logging.getLogger(__name__)


def reuse_fields(entry: Entry) -> dict[str, Any]:
    """Every request field of the entry, as the generation panels take them (seed kept)."""
    return dict(entry.params)


def variation_fields(entry: Entry) -> dict[str, Any]:
    """The same request with the seed left open, so each variation draws a new one."""
    fields = dict(entry.params)
    fields["seed"] = None
    return fields


def copy_prompt(entry: Entry) -> None:
    QGuiApplication.clipboard().setText(entry.prompt)


def reveal_command(path: Path, platform: str = sys.platform) -> tuple[str, list[str]] | None:
    """The program that opens the file manager with ``path`` selected, or None to open its folder."""
    if platform == "win32":
        # explorer wants "/select," and the path as one argument.
        return "explorer", [f"/select,{path}"]
    if platform == "darwin":
        return "open", ["-R", str(path)]
    return None


def reveal_in_file_manager(path: Path) -> bool:
    """Show ``path`` in the system file manager (selected where the platform allows)."""
    command = reveal_command(path)
    if command is not None:
        program, arguments = command
        started = QProcess.startDetached(program, arguments)
        ok = started[0] if isinstance(started, tuple) else bool(started)
        if ok:
            return True
        log.warning("Could not start %s to reveal %s", program, path)
    elif _reveal_with_dbus(path):
        return True
    return QDesktopServices.openUrl(QUrl.fromLocalFile(str(path.parent)))


def _reveal_with_dbus(path: Path) -> bool:
    """The freedesktop FileManager1 interface (Nautilus, Dolphin, Nemo, Thunar...) selects the file."""
    from PySide6.QtDBus import QDBusConnection, QDBusInterface, QDBusMessage

    bus = QDBusConnection.sessionBus()
    if not bus.isConnected():
        return False
    interface = QDBusInterface(
        "org.freedesktop.FileManager1", "/org/freedesktop/FileManager1", "org.freedesktop.FileManager1", bus
    )
    if not interface.isValid():
        return False
    reply = interface.call("ShowItems", [QUrl.fromLocalFile(str(path)).toString()], "")
    return reply.type() != QDBusMessage.MessageType.ErrorMessage
