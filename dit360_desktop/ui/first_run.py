"""The first-run banner above the viewer: no usable model yet, and the one button that fixes it.

The check (``models.folder_check.model_readiness``) reads a registry and a few folder listings, so it
runs after the first paint, never before it; it runs again whenever the model manager or the model
folder changes what is installed, so the banner goes away the moment the models are ready.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QToolButton, QWidget

from dit360_desktop.ui.common.jobs import ModelState
from dit360_desktop.ui.widgets.icons import icon

log = logging.getLogger(__name__)


class ModelBanner(QFrame):
    """Hidden while a model is ready; otherwise one sentence and "Set up models…"."""

    setup_requested = Signal(str)  # catalog id of the component to open the model manager on

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ModelBanner")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.setSpacing(10)
        badge = QLabel()
        badge.setPixmap(icon("model").pixmap(24, 24))
        layout.addWidget(badge)
        self.message = QLabel()
        self.message.setObjectName("ModelBannerText")
        self.message.setWordWrap(True)
        layout.addWidget(self.message, 1)
        self.setup_button = QPushButton("Set up models…")
        self.setup_button.setObjectName("SetUpModels")
        self.setup_button.setIcon(icon("model"))
        self.setup_button.setToolTip(
            "Open the model manager: download FLUX.1-dev and the LoRA, or import them."
        )
        self.setup_button.clicked.connect(lambda: self.setup_requested.emit(self.component_id or ""))
        layout.addWidget(self.setup_button)
        self.dismiss_button = QToolButton()
        self.dismiss_button.setObjectName("DismissBanner")
        self.dismiss_button.setIcon(icon("remove"))
        self.dismiss_button.setAutoRaise(True)
        self.dismiss_button.setToolTip("Hide this message until the next start.")
        self.dismiss_button.clicked.connect(self._dismiss)
        layout.addWidget(self.dismiss_button)
        self.component_id: str | None = None
        self._dismissed = False
        self.hide()

    def show_readiness(self, readiness: object) -> None:
        """Show or hide for a ``models.folder_check.ModelReadiness``."""
        self.component_id = getattr(readiness, "setup_component", None)
        if self.component_id is None:
            self.hide()
            return
        self.message.setText(getattr(readiness, "message", ""))
        self.setVisible(not self._dismissed)

    def check(self, model_dir: Path | None, models_dir: Path | None) -> object | None:
        """Run the readiness check and show its answer; None (banner hidden) if the check itself failed."""
        from dit360_desktop.models.folder_check import model_readiness

        try:
            readiness = model_readiness(model_dir, models_dir)
        except Exception:
            # A damaged registry must not stop the window; the model manager reports it when opened.
            log.exception("The installed models could not be checked")
            self.hide()
            return None
        self.show_readiness(readiness)
        return readiness

    def _dismiss(self) -> None:
        self._dismissed = True
        self.hide()


class FirstRun(QObject):
    """Keeps the banner, the status bar's model state and the progress line true to what is installed.

    ``engine_setup`` is the window's EngineSetup (model folder, model manager); ``status`` and ``progress``
    are the status-bar read-outs and the line under the viewer.
    """

    def __init__(self, banner: ModelBanner, engine_setup: Any, status: Any, progress: Any) -> None:
        super().__init__(banner)
        self.banner = banner
        self.engine_setup = engine_setup
        self.status = status
        self.progress = progress
        self.readiness: object | None = None
        banner.setup_requested.connect(engine_setup.open_model_manager)
        engine_setup.models_changed.connect(self._models_changed)

    def check(self) -> object | None:
        self.readiness = self.banner.check(self.engine_setup.model_dir(), self.engine_setup.models_dir())
        return self.readiness

    def _models_changed(self) -> None:
        was_ready = getattr(self.readiness, "ready", False)
        readiness = self.check()
        if readiness is None:
            return
        if getattr(readiness, "base", None) is not None and not was_ready:
            # Installed but not loaded: no stale "not installed" or "Failed" from a run before the import.
            self.status.set_model_state(ModelState.NOT_LOADED)
            self.progress.show_idle("Models installed: ready to generate")
