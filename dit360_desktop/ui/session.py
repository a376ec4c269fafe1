"""What the window keeps between sessions (the form, the viewer mode, the init image, the window's
geometry and dock layout, the theme) and what the Settings dialog changes. ``Settings`` (Qt-free) holds it;
this module moves it in and out of the window's parts.
"""

from __future__ import annotations

import base64
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray

from dit360_desktop.settings import save_settings

log = logging.getLogger(__name__)


def restore_session(window: Any) -> None:
    """Before the first frame: every dock exists already, so the saved layout applies without a jump."""
    s = window.settings
    window.form.restore_settings(s)
    window.view_controls.restore(s.viewer_mode, s.show_grid)
    if s.window_geometry:
        window.restoreGeometry(QByteArray(base64.b64decode(s.window_geometry)))
    if s.window_state:
        window.restoreState(QByteArray(base64.b64decode(s.window_state)))
    actions = window.app_actions
    for action, docks in (
        (actions.toggle_side_panel, [window.side_dock]),
        (actions.toggle_history, [window.queue_dock, window.history_dock]),
    ):
        action.setChecked(any(not d.isHidden() for d in docks))
    if s.theme != "dark":
        from dit360_desktop.ui.theme import apply_theme_choice

        apply_theme_choice(s.theme)


def remember_session(window: Any) -> None:
    """The parts that change as the user works (no file written)."""
    s = window.settings
    window.form.save_settings(s)
    s.variations_count = window.variations_spin.value()
    s.viewer_mode, s.show_grid = window.view_controls.current()
    init = window.init_image
    s.init_image, s.init_fit = (init.path, init.fit) if init is not None else (None, "crop")


def save_session(window: Any, settings_file: Path | None) -> None:
    remember_session(window)
    window.settings.window_geometry = base64.b64encode(bytes(window.saveGeometry().data())).decode("ascii")
    window.settings.window_state = base64.b64encode(bytes(window.saveState().data())).decode("ascii")
    try:
        save_settings(window.settings, settings_file)
    except OSError as e:
        log.error("Could not save the settings: %s", e)


def open_settings_dialog(window: Any) -> None:
    """The Settings dialog; what it changed reaches the form, the engine options and the theme at once."""
    from dit360_desktop.ui.settings_dialog import SettingsDialog
    from dit360_desktop.ui.theme import apply_theme_choice

    count = window.gallery.library.count() if window.gallery is not None else 0
    dialog = SettingsDialog(
        window.settings, window, library_dir=window.library_dir, tier=window.form["tier"], library_count=count
    )
    if dialog.exec() != SettingsDialog.DialogCode.Accepted:
        return
    changes = dialog.apply_to(window.settings)
    if changes.tier is not None:
        window.form.set("tier", changes.tier)
    if changes.theme is not None:
        apply_theme_choice(changes.theme)
    if changes.engine:
        window.engine_setup.reapply("Speed options changed")
    window.save_settings()
    if changes.library_dir is not None:
        when = "moves there" if changes.move_library else "opens there"
        window.statusBar().showMessage(f"The library {when} when DiT360 Desktop next starts.", 10000)
    window.first_run.check()
