"""Progress (stage, step i/N, ETA) and the status-bar read-outs (device, memory, model state)."""

from __future__ import annotations

import time

from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QStatusBar, QWidget

from dit360_desktop.panorama.events import Stage, StepEvent
from dit360_desktop.ui.common.jobs import ModelState

_STAGE_TEXT = {
    Stage.LOADING: "Loading the model",
    Stage.ENCODING: "Reading the prompt",
    Stage.PREPARING: "Preparing",
    Stage.DENOISING: "Denoising",
    Stage.DECODING: "Decoding",
}
_MODEL_STATE_STYLE = {
    ModelState.NOT_LOADED: ("#8a93a3", "Model: not loaded"),
    ModelState.LOADING: ("#ffb347", "Model: loading…"),
    ModelState.READY: ("#57d38c", "Model: ready"),
    ModelState.MISSING: ("#ff6b6b", "Model: not installed"),
}


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_bytes(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in ("B", "KB") else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


class ProgressPanel(QWidget):
    """One line under the viewer: what the engine is doing, a bar, step i/N and the time left."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ProgressPanel")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        self.stage_label = QLabel("Ready")
        self.stage_label.setObjectName("StageLabel")
        self.stage_label.setMinimumWidth(170)
        self.stage_label.setToolTip("What the generator is doing now.")
        layout.addWidget(self.stage_label)
        self.bar = QProgressBar()
        self.bar.setObjectName("ProgressBar")
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setTextVisible(True)
        self.bar.setFormat("")
        self.bar.setToolTip("Denoising progress of the running generation.")
        layout.addWidget(self.bar, 100)
        self.eta_label = QLabel("")
        self.eta_label.setObjectName("EtaLabel")
        self.eta_label.setMinimumWidth(120)
        self.eta_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.eta_label.setToolTip("Time spent and estimated time left for the running generation.")
        layout.addStretch(1)
        layout.addWidget(self.eta_label)
        self._stage_started = time.monotonic()
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)
        self.show_idle()

    def show_stage(self, stage: Stage, message: str = "") -> None:
        self.bar.setVisible(True)
        self.stage_label.setText(_STAGE_TEXT[stage])
        if message:
            self.stage_label.setToolTip(message)
        if stage is not Stage.DENOISING:
            # Deliberately not Qt's animated busy bar (range 0..0): it repaints ~60 times a second for
            # no information, on a UI thread that shares two cores with the engine. A once-a-second
            # clock says enough.
            self.bar.setRange(0, 1)
            self.bar.setValue(0)
            self.bar.setFormat(message or _STAGE_TEXT[stage])
            self._stage_started = time.monotonic()
            self.eta_label.setText("")
            self._clock.start()
        else:
            self._clock.stop()

    def _tick(self) -> None:
        self.eta_label.setText(f"{format_duration(time.monotonic() - self._stage_started)}")

    def show_libraries(self, imported: int, total: int, started: float) -> None:
        """The first job waits while the generation thread imports torch, diffusers, transformers and PEFT
        (tens of seconds on a first run): say so, with how many are in and for how long it has waited."""
        self._clock.stop()
        self.bar.setVisible(True)
        self.stage_label.setText("Loading model libraries, first run only…")
        self.bar.setRange(0, total)
        self.bar.setValue(imported)
        self.bar.setFormat(f"model libraries {imported} of {total}")
        self.eta_label.setText(format_duration(time.monotonic() - started))

    def show_step(self, event: StepEvent) -> None:
        self._clock.stop()
        self.bar.setVisible(True)
        self.stage_label.setText(_STAGE_TEXT[Stage.DENOISING])
        self.bar.setRange(0, max(event.total, 1))
        self.bar.setValue(event.step)
        self.bar.setFormat(f"step {event.step}/{event.total}")
        self.eta_label.setText(f"{format_duration(event.elapsed_s)} · {format_duration(event.eta_s)} left")

    def show_idle(self, text: str = "Ready") -> None:
        self._clock.stop()
        # An empty bar says nothing; the line shows the last outcome until the next run starts.
        self.bar.setVisible(False)
        self.stage_label.setText(text)
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("")
        self.eta_label.setText("")


class StatusReadouts(QObject):
    """Three permanent status-bar labels: device, memory in use, model state.

    A QObject owned by the status bar: the worker's signals reach it from the generation thread, and a
    connection to a plain object's method outlived the labels when the window closed while that thread
    was starting ("Internal C++ object already deleted"); a QObject receiver is disconnected with it."""

    def __init__(self, status_bar: QStatusBar) -> None:
        super().__init__(status_bar)
        self.device_label = QLabel("Device: detecting…")
        self.device_label.setObjectName("DeviceLabel")
        self.device_label.setToolTip("Where the model runs: a CUDA GPU, Apple MPS or the CPU.")
        self.memory_label = QLabel("Memory: –")
        self.memory_label.setObjectName("MemoryLabel")
        self.memory_label.setToolTip(
            "Memory the generator holds now: GPU memory on a GPU, this process's RAM on the CPU.\n"
            "Models → Unload models frees it."
        )
        self.model_label = QLabel()
        self.model_label.setObjectName("ModelStateLabel")
        self.model_label.setToolTip(
            "Whether FLUX.1-dev and the LoRA are in memory. The first generation loads them; they stay\n"
            "loaded between generations until you unload them."
        )
        for label in (self.device_label, self.memory_label, self.model_label):
            status_bar.addPermanentWidget(label)
        self.set_model_state(ModelState.NOT_LOADED)

    def set_device(self, name: str) -> None:
        self.device_label.setText(f"Device: {name}")

    def set_memory(self, count: int) -> None:
        self.memory_label.setText(f"Memory: {format_bytes(count)}")

    def set_model_state(self, state: ModelState) -> None:
        colour, text = _MODEL_STATE_STYLE[state]
        self.model_label.setText(f"<span style='color:{colour}'>●</span> {text}")
