"""Prompt, panorama-prefix option and negative prompt."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QPlainTextEdit, QVBoxLayout, QWidget

from dit360_desktop.panorama.request import PANORAMA_PREFIX
from dit360_desktop.ui.common.form import GenerationForm, join_prefix
from dit360_desktop.ui.widgets.form_widgets import section_title


class PromptPanel(QWidget):
    """The prompt as typed, the panorama-sentence option and the negative prompt of ``form``."""

    def __init__(self, form: GenerationForm, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = form
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

        self.prompt_edit.textChanged.connect(
            lambda: form.set("prompt", self.prompt_edit.toPlainText().strip())
        )
        form.subscribe("prompt", lambda text: _show_text(self.prompt_edit, text))
        self.prefix_check.toggled.connect(lambda on: form.set("prepend_prefix", on))
        form.subscribe("prepend_prefix", self.prefix_check.setChecked)
        self.negative_edit.textChanged.connect(
            lambda: form.set("negative_prompt", self.negative_edit.toPlainText().strip())
        )
        form.subscribe("negative_prompt", lambda text: _show_text(self.negative_edit, text))

    def user_prompt(self) -> str:
        return self.form["prompt"]

    def full_prompt(self) -> str:
        """The prompt sent to the engine: the panorama sentence first when the option is on."""
        return join_prefix(self.form["prepend_prefix"], self.form["prompt"])

    def negative_prompt(self) -> str:
        return self.form["negative_prompt"]


def _show_text(edit: QPlainTextEdit, text: str) -> None:
    # The form keeps the stripped text; rewriting the edit for a trailing space would move the cursor.
    if edit.toPlainText().strip() != text:
        edit.setPlainText(text)
