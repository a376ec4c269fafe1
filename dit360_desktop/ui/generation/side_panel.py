"""The left-hand Generate panel: prompt, init image, parameters, and the Generate/Variations/Cancel bar.

The prompt stays above the scrolled column, so it is on screen in every mode (edit and placement panels
scroll into view below it), and the bar shows one primary action: Generate, or the mode's own
(``set_mode_action``: "Run edit", "Outpaint the rest").
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QAction
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


class ColumnScroll(QScrollArea):
    """A vertical scroll area never narrower than its content plus the vertical scroll bar. The column
    scrolls only up and down: a section wider than the viewport (the scroll bar's width taken) was cut
    off on the right, and scrolling a field into view shifted it sideways and cut labels on the left."""

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        content = self.widget()
        if content is None:
            return hint
        bar = self.verticalScrollBar().sizeHint().width()
        width = content.minimumSizeHint().width() + bar + 2 * self.frameWidth()
        return QSize(max(hint.width(), width), hint.height())


class GeneratePanel(QFrame):
    """The prompt, then the panels bound to ``form`` in a scroll area, with the buttons fixed below it.

    ``sections`` is the scrolled column: a feature adds its own panel with ``add_section``.
    """

    def __init__(self, form: GenerationForm, variations: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("SidePanel")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        scroll = ColumnScroll()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        content = QWidget()
        content.setObjectName("SidePanelContent")
        self.sections = QVBoxLayout(content)
        self.sections.setContentsMargins(14, 8, 14, 8)
        self.sections.setSpacing(8)
        self.prompt_panel = PromptPanel(form)
        self.prompt_panel.setObjectName("PinnedPrompt")
        self.prompt_panel.layout().setContentsMargins(14, 8, 14, 4)
        self.init_card = InitImageCard()
        self.params_panel = ParamsPanel(form)
        for widget in (self.init_card, self.params_panel):
            self.sections.addWidget(widget)
        self.sections.addStretch(1)
        scroll.setWidget(content)
        self.scroll = scroll
        self.mode_action: QAction | None = None
        outer.addWidget(self.prompt_panel)
        outer.addWidget(scroll, 1)
        outer.addWidget(self._button_bar(variations))
        # No fixed minimum: the column's (ColumnScroll) is what the widest section needs.
        self.setMaximumWidth(460)

    def add_section(self, widget: QWidget) -> None:
        """Put ``widget`` under the parameters (above the stretch that keeps the column at the top)."""
        self.sections.insertWidget(self.sections.count() - 1, widget)

    def set_mode_action(self, action: QAction | None) -> None:
        """Show ``action`` as the one primary button in place of Generate and Variations (None: back)."""
        if self.mode_action is not None:
            self.mode_action.changed.disconnect(self._show_mode_action)
        self.mode_action = action
        for widget in (self.generate_button, self.variations_button, self.variations_spin):
            widget.setVisible(action is None)
        self.mode_button.setVisible(action is not None)
        if action is not None:
            action.changed.connect(self._show_mode_action)
            self._show_mode_action()

    def _show_mode_action(self) -> None:
        action = self.mode_action
        if action is None:
            return
        self.mode_button.setText(f"  {action.text()}")
        self.mode_button.setIcon(action.icon())
        self.mode_button.setToolTip(action.toolTip())
        self.mode_button.setEnabled(action.isEnabled())

    def _trigger_mode_action(self) -> None:
        if self.mode_action is not None:
            self.mode_action.trigger()

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
        self.mode_button = QPushButton()
        self.mode_button.setObjectName("ModeActionButton")
        self.mode_button.setToolTip("The current mode's action, in place of Generate (Ctrl+Enter).")
        self.mode_button.setVisible(False)
        self.mode_button.clicked.connect(self._trigger_mode_action)
        column.addWidget(self.mode_button)
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
