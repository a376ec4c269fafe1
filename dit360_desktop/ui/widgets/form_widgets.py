"""Small form widgets every panel shares: a section title and a slider paired with a spin box."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSlider, QWidget

from dit360_desktop.panorama.request import ParameterSpec


def section_title(text: str) -> QLabel:
    label = QLabel(text.upper())
    label.setObjectName("SectionTitle")
    return label


class SliderSpin(QWidget):
    """A slider and a spin box showing the same number; the spin box allows values past the slider."""

    valueChanged = Signal(float)

    def __init__(
        self,
        minimum: float,
        maximum: float,
        step: float,
        decimals: int,
        value: float,
        *,
        slider_max: float | None = None,
        tooltip: str = "",
    ) -> None:
        super().__init__()
        self._scale = 10**decimals
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(round(minimum * self._scale), round((slider_max or maximum) * self._scale))
        self.spin = QDoubleSpinBox()
        self.spin.setRange(minimum, maximum)
        self.spin.setDecimals(decimals)
        self.spin.setSingleStep(step)
        self.spin.setFixedWidth(64)
        self.spin.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.spin.setKeyboardTracking(False)
        for widget in (self.slider, self.spin, self):
            widget.setToolTip(tooltip)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(lambda v: self.spin.setValue(v / self._scale))
        self.spin.valueChanged.connect(self._spin_changed)
        self.setValue(value)

    @classmethod
    def for_spec(cls, spec: ParameterSpec) -> SliderSpin:
        widget = cls(
            spec.low, spec.high, spec.step, spec.decimals, spec.default,
            slider_max=spec.slider_high, tooltip=spec.help,
        )  # fmt: skip
        widget.setObjectName(f"{spec.name}_input")
        return widget

    def _spin_changed(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * self._scale))
        self.slider.blockSignals(False)
        self.valueChanged.emit(value)

    def value(self) -> float:
        return self.spin.value()

    def setValue(self, value: float) -> None:
        self.spin.setValue(value)
        self._spin_changed(self.spin.value())
