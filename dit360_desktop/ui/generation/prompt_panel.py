"""Prompt, panorama-prefix option and negative prompt."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from dit360_desktop.panorama.request import PANORAMA_PREFIX


def section_title(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("SectionTitle")
    return label


class PromptPanel(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)

        layout.addWidget(section_title("Prompt"))
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setObjectName("PromptEdit")
        self.prompt_edit.setPlaceholderText(
            "Describe the whole 360° scene: a misty mountain lake at sunrise…"
        )
        self.prompt_edit.setToolTip(
            "What the panorama shows. Describe the whole surrounding scene, not one object.\n"
            "Ctrl+Enter generates."
        )
        self.prompt_edit.setTabChangesFocus(True)
        self.prompt_edit.setMinimumHeight(84)
        self.prompt_edit.setMaximumHeight(140)
        layout.addWidget(self.prompt_edit)

        self.prefix_check = QCheckBox(f'Begin with "{PANORAMA_PREFIX}"')
        self.prefix_check.setChecked(True)
        self.prefix_check.setToolTip(
            "DiT360 was trained on captions that start with this sentence; keeping it on\n"
            "gives the most reliable 360° results."
        )
        layout.addWidget(self.prefix_check)

        layout.addWidget(section_title("Negative prompt"))
        self.negative_edit = QPlainTextEdit()
        self.negative_edit.setObjectName("NegativeEdit")
        self.negative_edit.setPlaceholderText("What to avoid (used only with true CFG above 1)")
        self.negative_edit.setToolTip(
            "Things the panorama should not contain. It takes effect only when the true-CFG scale\n"
            "is above 1, and then each step runs the model twice."
        )
        self.negative_edit.setTabChangesFocus(True)
        self.negative_edit.setFixedHeight(52)
        layout.addWidget(self.negative_edit)

        self.prompt_edit.textChanged.connect(self.changed)
        self.negative_edit.textChanged.connect(self.changed)
        self.prefix_check.toggled.connect(self.changed)

    def user_prompt(self) -> str:
        return self.prompt_edit.toPlainText().strip()

    def full_prompt(self) -> str:
        """The prompt sent to the engine: the panorama sentence first when the option is on."""
        text = self.user_prompt()
        if not self.prefix_check.isChecked() or not text or text.startswith(PANORAMA_PREFIX):
            return text
        return f"{PANORAMA_PREFIX} {text}"

    def negative_prompt(self) -> str:
        return self.negative_edit.toPlainText().strip()

    def set_full_prompt(self, prompt: str) -> None:
        """Show a stored prompt, turning the stored prefix back into the checkbox."""
        text = prompt.strip()
        has_prefix = text.startswith(PANORAMA_PREFIX)
        if has_prefix:
            text = text[len(PANORAMA_PREFIX) :].lstrip()
        self.prefix_check.setChecked(has_prefix)
        self.prompt_edit.setPlainText(text)

    def set_negative_prompt(self, text: str) -> None:
        self.negative_edit.setPlainText(text)
