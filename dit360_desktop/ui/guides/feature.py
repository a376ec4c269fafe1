"""Guides in the main window: the Guides panel under the parameters (``ui/guides/panel.py``)."""

from __future__ import annotations

from PySide6.QtCore import QObject

from dit360_desktop.ui.common.context import AppContext
from dit360_desktop.ui.guides.panel import GuidesPanel


class GuidesFeature(QObject):
    def __init__(self, context: AppContext) -> None:
        super().__init__(context.parent)
        self.panel = GuidesPanel(context.form)
        context.side_panel.add_section(self.panel)
