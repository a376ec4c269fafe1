"""Every shortcut the window binds is in the help list; the viewer lists the flat 1:1 and fit keys."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence

from dit360_desktop.settings import Settings
from dit360_desktop.ui.viewer.input import SHORTCUTS as VIEWER_SHORTCUTS
from dit360_desktop.ui.widgets.dialogs import SHORTCUTS, HelpDialog


def _listed_keys() -> set[str]:
    keys: set[str] = set()
    for entry, _ in SHORTCUTS:
        keys.update(part.strip() for part in entry.split("/"))
    return keys


def test_every_window_shortcut_is_in_the_help_list(qtbot) -> None:
    from dit360_desktop.ui.main_window import MainWindow

    window = MainWindow(Settings(), start_worker=False)
    qtbot.addWidget(window)
    bound = {
        # Qt names the main Enter key "Return"; the list says Enter, as the keyboard does.
        action.shortcut()
        .toString(QKeySequence.SequenceFormat.PortableText)
        .replace("Return", "Enter"): action.text()
        for action in window.findChildren(QAction)
        if not action.shortcut().isEmpty()
    }
    assert {"Ctrl+1", "Ctrl+0"} <= set(bound), "the viewer's 1:1 and fit actions are bound"
    missing = {keys: name for keys, name in bound.items() if keys not in _listed_keys()}
    assert missing == {}
    help_dialog = HelpDialog(window)
    shown = [help_dialog.table.item(row, 0).text() for row in range(help_dialog.table.rowCount())]
    assert "Ctrl+1 / Ctrl+0" in shown


def test_the_viewer_lists_flat_actual_pixels_and_fit() -> None:
    keys = {shortcut.keys: shortcut.action for shortcut in VIEWER_SHORTCUTS}
    assert "1:1" in keys["Ctrl+1"] and "fit" in keys["Ctrl+0"].lower()
