"""Generation parameters: size, steps, guidance, seed, true CFG, LoRA scale, strength, memory tier,
seamless decode."""

from __future__ import annotations

import secrets
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.panorama.request import MAX_SEED, TRAINED_SIZE
from dit360_desktop.ui.generation.prompt_panel import section_title
from dit360_desktop.ui.widgets.icons import icon

# (width, height, note). The first is the size DiT360 was trained at; the rest work but look worse.
SIZE_PRESETS: tuple[tuple[int, int, str], ...] = (
    (TRAINED_SIZE[0], TRAINED_SIZE[1], "trained size"),
    (1024, 512, "fast draft · not trained"),
    (1536, 768, "not trained"),
    (3072, 1536, "not trained"),
    (4096, 2048, "not trained · needs a large GPU"),
)

# The request fields this panel owns.
FIELDS = (
    "width",
    "height",
    "steps",
    "guidance",
    "true_cfg_scale",
    "lora_scale",
    "strength",
    "seamless_decode",
    "tier",
)

# Request tier -> (menu text, tooltip); the figures are from docs/performance-tiers.md (H100, 2048×1024).
TIER_CHOICES: dict[str, tuple[str, str]] = {
    "auto": ("Automatic", "Chosen from the GPU's free memory when the model loads."),
    "full": ("Full (≈ 38 GB GPU)", "bf16, everything on the GPU. The fastest."),
    "24gb": ("24 GB, full quality", "bf16; a few blocks and T5 stream from RAM. Peak 21.5 GiB."),
    "24gb-fp8": ("24 GB, fp8", "fp8-stored transformer and T5 (≈ 1 % different). Peak 20.5 GiB."),
    "12gb": ("12–16 GB", "fp8 (or a GGUF file) with block offload. Peak 6.4 GiB."),
    "8gb": ("8 GB", "fp8 with leaf offload, or a GGUF file. Peak 6.4 GiB."),
    "apple": ("Apple silicon", "fp16/bf16 on the Mac's GPU (MPS)."),
    "cpu": ("CPU", "fp32 on the processor: slow but exact."),
}


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


class ParamsPanel(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(section_title("Parameters"))
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(7)
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)

        self.size_combo = QComboBox()
        for width, height, note in SIZE_PRESETS:
            self.size_combo.addItem(f"{width} × {height}  ({note})", (width, height))
        self.size_combo.setToolTip(
            "Output size. DiT360 was trained at 2048×1024; other sizes work but are marked\n"
            '"not trained" because their seams and detail are less reliable.'
        )
        self._row(grid, "Size", self.size_combo)

        self.steps = SliderSpin(
            1, 200, 1, 0, 28, slider_max=60, tooltip="Denoising steps. 28 is the reference; fewer is faster."
        )
        self.steps.spin.setObjectName("StepsSpin")
        self._row(grid, "Steps", self.steps)

        self.guidance = SliderSpin(
            0.0, 30.0, 0.1, 1, 2.8, slider_max=10.0,
            tooltip="Distilled guidance given to FLUX. 2.8 is the DiT360 reference value.",
        )  # fmt: skip
        self._row(grid, "Guidance", self.guidance)

        self.seed_edit = QLineEdit()
        self.seed_edit.setObjectName("SeedEdit")
        self.seed_edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,10}")))
        self.seed_edit.setToolTip(
            "The seed fixes the starting noise: the same seed and parameters give the same panorama\n"
            "on every device. Unlocked, a new seed is drawn for every generation."
        )
        self.seed_lock = QToolButton()
        self.seed_lock.setObjectName("SeedLock")
        self.seed_lock.setCheckable(True)
        self.seed_lock.setToolTip(
            "Lock the seed: keep it for the next generations instead of drawing a new one."
        )
        self.seed_lock.toggled.connect(self._lock_toggled)
        self.seed_dice = QToolButton()
        self.seed_dice.setIcon(icon("dice"))
        self.seed_dice.setToolTip("Draw a new random seed now.")
        self.seed_dice.clicked.connect(self.randomise_seed)
        seed_row = QWidget()
        seed_layout = QHBoxLayout(seed_row)
        seed_layout.setContentsMargins(0, 0, 0, 0)
        seed_layout.addWidget(self.seed_edit, 1)
        seed_layout.addWidget(self.seed_lock)
        seed_layout.addWidget(self.seed_dice)
        self._row(grid, "Seed", seed_row)
        self._lock_toggled(False)
        self.randomise_seed()

        self.true_cfg = SliderSpin(
            1.0, 20.0, 0.1, 1, 1.0, slider_max=8.0,
            tooltip="True classifier-free guidance. Above 1 the negative prompt is used and each step\n"
            "runs the model twice (twice as slow). 1 turns it off.",
        )  # fmt: skip
        self._row(grid, "True CFG", self.true_cfg)

        self.lora_scale = SliderSpin(
            -2.0, 4.0, 0.05, 2, 1.0, slider_max=2.0,
            tooltip="Strength of the DiT360 LoRA on FLUX. 1 is the trained strength; 0 is plain FLUX.",
        )  # fmt: skip
        self._row(grid, "LoRA scale", self.lora_scale)

        self.strength = SliderSpin(
            0.01, 1.0, 0.01, 2, 0.8,
            tooltip="How much the init image may change: low keeps it, 1 replaces it entirely.",
        )  # fmt: skip
        self._strength_label = self._row(grid, "Strength", self.strength)

        self.tier_combo = QComboBox()
        self.tier_combo.setObjectName("TierCombo")
        for tier, (text, tip) in TIER_CHOICES.items():
            self.tier_combo.addItem(text, tier)
            self.tier_combo.setItemData(self.tier_combo.count() - 1, tip, Qt.ItemDataRole.ToolTipRole)
        self.tier_combo.setToolTip(
            "How FLUX.1-dev is stored and placed in memory. Automatic picks from the free GPU memory;\n"
            "choose a lower tier if another program needs the GPU. Every tier gives the same panorama\n"
            "up to the rounding of its weights (fp8 tiers differ by about 1 %)."
        )
        self._row(grid, "Memory", self.tier_combo)

        self.seamless = QCheckBox("Seamless decode")
        self.seamless.setChecked(True)
        self.seamless.setToolTip(
            "Decode with horizontal wrap-around so the left and right edges meet without a seam.\n"
            "Turn it off only to compare with the reference DiT360 output."
        )
        grid.addWidget(self.seamless, grid.rowCount(), 0, 1, 2)
        self.set_strength_visible(False)

        for widget in (self.steps, self.guidance, self.true_cfg, self.lora_scale, self.strength):
            widget.valueChanged.connect(self.changed)
        self.size_combo.currentIndexChanged.connect(self.changed)
        self.seamless.toggled.connect(self.changed)
        self.seed_edit.textChanged.connect(self.changed)
        self.tier_combo.currentIndexChanged.connect(self.changed)

    @staticmethod
    def _row(grid: QGridLayout, label: str, widget: QWidget) -> QLabel:
        row = grid.rowCount()
        title = QLabel(label)
        title.setToolTip(widget.toolTip())
        title.setBuddy(widget)
        grid.addWidget(title, row, 0)
        grid.addWidget(widget, row, 1)
        return title

    def _lock_toggled(self, locked: bool) -> None:
        self.seed_lock.setIcon(icon("lock" if locked else "unlock"))

    # ---- seed --------------------------------------------------------------------------------------

    def randomise_seed(self) -> int:
        seed = secrets.randbelow(MAX_SEED + 1)
        self.seed_edit.setText(str(seed))
        return seed

    def seed(self) -> int | None:
        text = self.seed_edit.text()
        if not text:
            return None
        value = int(text)
        return value if value <= MAX_SEED else None

    def seed_for_next_run(self) -> int:
        """The locked seed, or a freshly drawn one that the field then shows."""
        seed = self.seed()
        if self.seed_lock.isChecked() and seed is not None:
            return seed
        return self.randomise_seed()

    def set_seed(self, seed: int, *, lock: bool | None = None) -> None:
        self.seed_edit.setText(str(seed))
        if lock is not None:
            self.seed_lock.setChecked(lock)

    # ---- values ------------------------------------------------------------------------------------

    def set_strength_visible(self, visible: bool) -> None:
        self.strength.setVisible(visible)
        self._strength_label.setVisible(visible)

    def size(self) -> tuple[int, int]:
        return tuple(self.size_combo.currentData())

    def set_size(self, width: int, height: int) -> None:
        index = self.size_combo.findData((width, height))
        if index < 0:
            note = "custom · not trained" if (width, height) != TRAINED_SIZE else "trained size"
            self.size_combo.addItem(f"{width} × {height}  ({note})", (width, height))
            index = self.size_combo.count() - 1
        self.size_combo.setCurrentIndex(index)

    def values(self) -> dict[str, Any]:
        width, height = self.size()
        return {
            "width": width,
            "height": height,
            "steps": round(self.steps.value()),
            "guidance": round(self.guidance.value(), 3),
            "true_cfg_scale": round(self.true_cfg.value(), 3),
            "lora_scale": round(self.lora_scale.value(), 3),
            "strength": round(self.strength.value(), 3),
            "seamless_decode": self.seamless.isChecked(),
            "tier": self.tier_combo.currentData(),
        }

    def apply(self, values: dict[str, Any]) -> None:
        """Set every known field present in ``values``; unknown keys and bad types are skipped."""
        width, height = values.get("width"), values.get("height")
        if isinstance(width, int) and isinstance(height, int):
            self.set_size(width, height)
        for key, widget in (
            ("steps", self.steps),
            ("guidance", self.guidance),
            ("true_cfg_scale", self.true_cfg),
            ("lora_scale", self.lora_scale),
            ("strength", self.strength),
        ):
            value = values.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                widget.setValue(float(value))
        if isinstance(values.get("seamless_decode"), bool):
            self.seamless.setChecked(values["seamless_decode"])
        tier = self.tier_combo.findData(values.get("tier")) if isinstance(values.get("tier"), str) else -1
        if tier >= 0:
            self.tier_combo.setCurrentIndex(tier)
        seed = values.get("seed")
        if isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED:
            self.set_seed(seed)
