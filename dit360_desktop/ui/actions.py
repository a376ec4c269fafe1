"""The window's commands as QActions: text, shortcuts, tooltip and icon, declared in one place.

The actions know nothing about what they do; ``MainWindow`` and the feature controllers connect their
``triggered`` signals. A feature that needs a new command adds one line to ``_SPECS`` (or builds its own
QAction) and puts it in a menu through ``ui.menus.Menus``.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget

from dit360_desktop.ui.widgets.icons import icon


@dataclass(frozen=True)
class ActionSpec:
    text: str
    tip: str
    shortcuts: tuple[QKeySequence | QKeySequence.StandardKey | str, ...] = ()
    icon: str | None = None
    checkable: bool = False


_SPECS: dict[str, ActionSpec] = {
    "generate": ActionSpec("Generate", "Generate a panorama", ("Ctrl+Return", "Ctrl+Enter"), "generate"),
    "variations": ActionSpec(
        "Queue variations",
        "Queue several seeds of the same prompt",
        ("Ctrl+Shift+Return", "Ctrl+Shift+Enter"),
        "variations",
    ),
    "cancel": ActionSpec("Cancel", "Stop the running generation", (), "cancel"),
    "open_image": ActionSpec(
        "Open image…", "Open a picture as the init image", (QKeySequence.StandardKey.Open,), "image"
    ),
    "quit": ActionSpec("Quit", "Quit DiT360 Desktop", (QKeySequence.StandardKey.Quit,)),
    "model_manager": ActionSpec("Model manager…", "Download or import models", (), "model"),
    "model_folder": ActionSpec(
        "Choose model folder…", "Use a diffusers-layout FLUX.1-dev folder on this computer", (), "folder"
    ),
    "gguf": ActionSpec(
        "Use a GGUF transformer…",
        "Load the transformer from a quantised GGUF file (Q8_0, Q5_K, Q4_K…) for small GPUs",
        (),
        "model",
    ),
    "standard_transformer": ActionSpec(
        "Use the standard transformer",
        "Load the transformer from the FLUX.1-dev folder again instead of the GGUF file",
    ),
    "compile": ActionSpec(
        "Compile the transformer (torch.compile)",
        "Faster steps on NVIDIA GPUs (0.30 instead of 0.41 s/step on an H100); the first run after\n"
        "loading compiles for about 15 s. Not used on Apple silicon or with the 24gb tier.",
        checkable=True,
    ),
    "fuse_lora": ActionSpec(
        "Merge the LoRA into the weights",
        "About 6 % faster steps; changing the LoRA scale then reloads the transformer.",
        checkable=True,
    ),
    "settings": ActionSpec("Settings…", "Folders, memory, speed, preview and theme", ("Ctrl+,",), "settings"),
    "toggle_side_panel": ActionSpec(
        "Generate panel", "Show or hide the prompt and parameters (F9)", ("F9",), "panel-left", True
    ),
    "toggle_history": ActionSpec(
        "History and queue", "Show or hide the gallery and the queue (F10)", ("F10",), "panel-bottom", True
    ),
    "unload": ActionSpec("Unload models", "Free the memory the models hold", ("Ctrl+Shift+U",), "unload"),
    "help": ActionSpec(
        "Keyboard shortcuts", "List every shortcut", (QKeySequence.StandardKey.HelpContents,), "help"
    ),
    "about": ActionSpec("About DiT360 Desktop", "Version and licences"),
}


def make_action(owner: QWidget, spec: ActionSpec) -> QAction:
    """A QAction added to ``owner`` so that its shortcuts work even when it is in no visible menu."""
    action = QAction(spec.text, owner)
    if spec.icon:
        action.setIcon(icon(spec.icon))
    sequences: list[QKeySequence] = []
    for shortcut in spec.shortcuts:
        if isinstance(shortcut, QKeySequence.StandardKey):
            sequences.extend(QKeySequence.keyBindings(shortcut))
        else:
            sequences.append(QKeySequence(shortcut))
    if sequences:
        action.setShortcuts(sequences)
    action.setToolTip(spec.tip)
    action.setStatusTip(spec.tip)
    action.setCheckable(spec.checkable)
    owner.addAction(action)
    return action


class Actions:
    """Every window-level command (``actions.generate``, ``actions.unload``…), unconnected."""

    generate: QAction
    variations: QAction
    cancel: QAction
    open_image: QAction
    quit: QAction
    model_manager: QAction
    model_folder: QAction
    gguf: QAction
    standard_transformer: QAction
    compile: QAction
    fuse_lora: QAction
    settings: QAction
    toggle_side_panel: QAction
    toggle_history: QAction
    unload: QAction
    help: QAction
    about: QAction

    def __init__(self, owner: QWidget) -> None:
        for name, spec in _SPECS.items():
            setattr(self, name, make_action(owner, spec))
