"""The menu bar: which action sits in which menu.

``Menus`` keeps every menu reachable by name so that a feature added later (a dock, a dialog, a mode)
puts its own entry in place, e.g. ``window.menus.view.addAction(dock.toggleViewAction())``.
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
    speed_menu = generate_menu.addMenu("Speed")
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
    return Menus(file_menu, generate_menu, speed_menu, view_menu, models_menu, help_menu)


def _fill(menu: QMenu, entries: Iterable[QAction | None]) -> None:
    for entry in entries:
        if entry is None:
            menu.addSeparator()
        else:
            menu.addAction(entry)
