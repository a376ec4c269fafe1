"""The left-hand Generate panel: prompt, init image, parameters, and the Generate/Variations/Cancel bar."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.generation.drop import InitImageCard
from dit360_desktop.ui.generation.params_panel import ParamsPanel
from dit360_desktop.ui.generation.prompt_panel import PromptPanel
from dit360_desktop.ui.widgets.icons import icon

MAX_VARIATIONS = 32


class GeneratePanel(QFrame):
    """The panels bound to ``form`` in a scroll area, with the buttons fixed below it.

    ``sections`` is the scrolled column: a feature adds its own panel with ``add_section``.
    """

    def __init__(self, form: GenerationForm, variations: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SidePanel")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content = QWidget()
        content.setObjectName("SidePanelContent")
        self.sections = QVBoxLayout(content)
        self.sections.setContentsMargins(14, 8, 14, 8)
        self.sections.setSpacing(8)
        self.prompt_panel = PromptPanel(form)
        self.init_card = InitImageCard()
        self.params_panel = ParamsPanel(form)
        for widget in (self.prompt_panel, self.init_card, self.params_panel):
            self.sections.addWidget(widget)
        self.sections.addStretch(1)
        scroll.setWidget(content)
        outer.addWidget(scroll, 1)
        outer.addWidget(self._button_bar(variations))
        self.setMinimumWidth(360)
        self.setMaximumWidth(460)

    def add_section(self, widget: QWidget) -> None:
        """Put ``widget`` under the parameters (above the stretch that keeps the column at the top)."""
        self.sections.insertWidget(self.sections.count() - 1, widget)

    def _button_bar(self, variations: int) -> QWidget:
        bar = QWidget()
        bar.setObjectName("GenerateBar")
        column = QVBoxLayout(bar)
        column.setContentsMargins(14, 10, 14, 12)
        column.setSpacing(6)
        self.generate_button = QPushButton("  Generate")
        self.generate_button.setObjectName("GenerateButton")
        self.generate_button.setIcon(icon("generate"))
        self.generate_button.setToolTip(
            "Generate a panorama from the prompt (Ctrl+Enter). While one runs, this queues another."
        )
        column.addWidget(self.generate_button)
        row = QHBoxLayout()
        self.variations_button = QPushButton(" Variations")
        self.variations_button.setObjectName("VariationsButton")
        self.variations_button.setIcon(icon("variations"))
        self.variations_button.setToolTip(
            "Queue several panoramas of the same prompt with consecutive seeds (Ctrl+Shift+Enter)."
        )
        self.variations_spin = QSpinBox()
        self.variations_spin.setObjectName("VariationsCount")
        self.variations_spin.setRange(2, MAX_VARIATIONS)
        self.variations_spin.setValue(max(2, min(MAX_VARIATIONS, variations)))
        self.variations_spin.setPrefix("× ")
        self.variations_spin.setToolTip("How many seeds the Variations button queues.")
        self.cancel_button = QPushButton(" Cancel")
        self.cancel_button.setObjectName("CancelButton")
        self.cancel_button.setIcon(icon("cancel"))
        self.cancel_button.setToolTip("Stop the running generation within one step (Esc).")
        self.cancel_button.setEnabled(False)
        row.addWidget(self.variations_button, 1)
        row.addWidget(self.variations_spin)
        row.addWidget(self.cancel_button, 1)
        column.addLayout(row)
        return bar
