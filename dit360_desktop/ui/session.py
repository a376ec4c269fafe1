"""What the window keeps between sessions (the form, the viewer mode, the init image, the window's
geometry and dock layout, the theme) and what the Settings dialog changes. ``Settings`` (Qt-free) holds it;
this module moves it in and out of the window's parts, named one by one in ``SessionParts``.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PySide6.QtCore import QByteArray
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QMainWindow, QSpinBox

from dit360_desktop.settings import Settings, save_settings
from dit360_desktop.ui.common.form import GenerationForm

log = logging.getLogger(__name__)


class ViewState(Protocol):
    """The viewer's mode and grid as the toolbar keeps them (``ui.viewer.controls.ViewControls``)."""

    def restore(self, mode: str, grid: bool) -> None: ...
    def current(self) -> tuple[str, bool]: ...


@dataclass(frozen=True)
class SessionParts:
    window: QMainWindow  # its geometry and dock layout
    settings: Settings
    form: GenerationForm
    view: ViewState
    variations: QSpinBox
    init_image: Callable[[], Any]  # the InitImage in use (path, fit) or None
    # Checkable actions that show or hide a group of docks (F9, F10): checked if any dock shows.
    panel_toggles: tuple[tuple[QAction, tuple[QDockWidget, ...]], ...]


def restore_session(parts: SessionParts) -> None:
    """Before the first frame: every dock exists already, so the saved layout applies without a jump."""
    s = parts.settings
    parts.form.restore_settings(s)
    parts.view.restore(s.viewer_mode, s.show_grid)
    if s.window_geometry:
        parts.window.restoreGeometry(QByteArray(base64.b64decode(s.window_geometry)))
    if s.window_state:
        parts.window.restoreState(QByteArray(base64.b64decode(s.window_state)))
    for action, docks in parts.panel_toggles:
        action.setChecked(any(not d.isHidden() for d in docks))
    if s.theme != "dark":
        from dit360_desktop.ui.theme import apply_theme_choice

        apply_theme_choice(s.theme)


def remember_session(parts: SessionParts) -> None:
    """The parts that change as the user works (no file written)."""
    s = parts.settings
    parts.form.save_settings(s)
    s.variations_count = parts.variations.value()
    s.viewer_mode, s.show_grid = parts.view.current()
    init = parts.init_image()
    s.init_image, s.init_fit = (init.path, init.fit) if init is not None else (None, "crop")


def gather_session(parts: SessionParts) -> Settings:
    """Everything a quit would save, into ``parts.settings`` (no file written)."""
    remember_session(parts)
    s = parts.settings
    s.window_geometry = base64.b64encode(bytes(parts.window.saveGeometry().data())).decode("ascii")
    s.window_state = base64.b64encode(bytes(parts.window.saveState().data())).decode("ascii")
    return s


def save_session(parts: SessionParts, settings_file: Path | None) -> None:
    s = gather_session(parts)
    try:
        save_settings(s, settings_file)
    except OSError as e:
        log.error("Could not save the settings: %s", e)


@dataclass(frozen=True)
class SettingsEffects:
    """What a change made in the Settings dialog sets off in the window."""

    library_count: Callable[[], int]
    library_dir: Path
    engine_changed: Callable[[str], None]  # the speed options: a new engine for the next job
    save: Callable[[], None]
    message: Callable[[str, int], None]
    models_may_have_changed: Callable[[], None]  # the first-run banner looks again


def open_settings_dialog(parts: SessionParts, effects: SettingsEffects) -> None:
    """The Settings dialog; what it changed reaches the form, the engine options and the theme at once."""
    from dit360_desktop.ui.settings_dialog import SettingsDialog
    from dit360_desktop.ui.theme import apply_theme_choice

    dialog = SettingsDialog(
        parts.settings,
        parts.window,
        library_dir=effects.library_dir,
        tier=parts.form["tier"],
        library_count=effects.library_count(),
    )
    if dialog.exec() != SettingsDialog.DialogCode.Accepted:
        return
    changes = dialog.apply_to(parts.settings)
    if changes.tier is not None:
        parts.form.set("tier", changes.tier)
    if changes.theme is not None:
        apply_theme_choice(changes.theme)
    if changes.engine:
        effects.engine_changed("Speed options changed")
    effects.save()
    if changes.library_dir is not None:
        when = "moves there" if changes.move_library else "opens there"
        effects.message(f"The library {when} when DiT360 Desktop next starts.", 10000)
    effects.models_may_have_changed()
