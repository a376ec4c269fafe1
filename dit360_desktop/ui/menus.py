"""The menu bar: which action sits in which menu.

``Menus`` keeps every menu reachable by name so that a feature added later (a dock, a dialog, a mode)
puts its own entry in place, e.g. ``context.menus.view.addAction(dock.toggleViewAction())``. Every entry
gets a keyboard mnemonic (Alt+G, then V: Queue variations) when its menu opens, so entries added later by
features have one too; a text that names its own (``Send queue to &cluster…``) keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QMenuBar

from dit360_desktop.ui.actions import Actions


@dataclass(frozen=True)
class Menus:
    file: QMenu
    generate: QMenu
    speed: QMenu
    view: QMenu
    models: QMenu
    help: QMenu


def build_menus(
    bar: QMenuBar, actions: Actions, view_actions: Iterable[QAction | None], snapshot: QAction
) -> Menus:
    """Fill ``bar``; ``view_actions`` and ``snapshot`` are the viewer's own (None marks a separator)."""
    file_menu = bar.addMenu("&File")
    generate_menu = bar.addMenu("&Generate")
    view_menu = bar.addMenu("&View")
    models_menu = bar.addMenu("&Models")
    help_menu = bar.addMenu("&Help")
    _fill(file_menu, [actions.open_image, snapshot, None, actions.settings, None, actions.quit])
    _fill(generate_menu, [actions.generate, actions.variations, actions.cancel, None])
    speed_menu = generate_menu.addMenu("&Speed")
    _fill(speed_menu, [actions.compile, actions.fuse_lora])
    _fill(view_menu, [*view_actions, None, actions.toggle_side_panel, actions.toggle_history, None])
    _fill(
        models_menu,
        [
            actions.model_manager,
            actions.model_folder,
            None,
            actions.gguf,
            actions.standard_transformer,
            None,
            actions.unload,
        ],
    )
    _fill(help_menu, [actions.help, actions.about])
    for menu in (file_menu, generate_menu, speed_menu, view_menu, models_menu, help_menu):
        menu.aboutToShow.connect(lambda m=menu: assign_mnemonics(m))
    return Menus(file_menu, generate_menu, speed_menu, view_menu, models_menu, help_menu)


def mnemonic(text: str) -> str | None:
    """The letter after a single ``&`` in ``text`` (lower case), or None."""
    index = text.replace("&&", "  ").find("&")
    return text[index + 1].lower() if 0 <= index < len(text) - 1 else None


def assign_mnemonics(menu: QMenu) -> None:
    """Give each entry of ``menu`` without a mnemonic one that no other entry uses: a word's first letter
    if one is free, else any free letter or digit."""
    entries = [a for a in menu.actions() if not a.isSeparator() and a.isVisible()]
    used = {key for a in entries if (key := mnemonic(a.text())) is not None}
    for action in entries:
        text = action.text()
        if mnemonic(text) is not None:
            continue
        starts = [i for i, c in enumerate(text) if c.isalnum() and (i == 0 or not text[i - 1].isalnum())]
        others = [i for i, c in enumerate(text) if c.isalnum()]
        for i in starts + others:
            if text[i].lower() not in used:
                used.add(text[i].lower())
                action.setText(f"{text[:i]}&{text[i:]}")
                break


def _fill(menu: QMenu, entries: Iterable[QAction | None]) -> None:
    for entry in entries:
        if entry is None:
            menu.addSeparator()
        else:
            menu.addAction(entry)
