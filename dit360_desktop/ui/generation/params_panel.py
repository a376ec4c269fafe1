"""Generation parameters: size, steps, guidance, seed, true CFG, LoRA scale, strength, memory tier,
seamless decode, fast draft, extra LoRAs. Ranges, steps and tooltips come from
``panorama.request.PARAMETERS``."""

from __future__ import annotations

import secrets

from PySide6.QtCore import QRegularExpression, Qt
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from dit360_desktop.panorama.request import (
    DEFAULT_STEP_CACHE,
    MAX_SEED,
    PARAMETERS,
    TIER_CHOICES,
    TRAINED_SIZE,
)
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.generation.lora_list import LoraListWidget
from dit360_desktop.ui.widgets.form_widgets import SliderSpin, section_title
from dit360_desktop.ui.widgets.icons import icon

# (width, height, note). The first is the size DiT360 was trained at; the rest work but look worse.
SIZE_PRESETS: tuple[tuple[int, int, str], ...] = (
    (TRAINED_SIZE[0], TRAINED_SIZE[1], "trained size"),
    (1024, 512, "fast draft · not trained"),
    (1536, 768, "not trained"),
    (3072, 1536, "not trained"),
    (4096, 2048, "not trained · needs a large GPU"),
)


class ParamsPanel(QWidget):
    """Size, steps, guidance, seed, true CFG, LoRA scale, strength, memory tier and seamless decode of
    the form; every widget reads from and writes to ``form``, none holds state of its own."""

    def __init__(self, form: GenerationForm, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.form = form
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(section_title("Parameters"))
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(7)
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        self._grid = grid
        self._labels: dict[str, QLabel] = {}

        self.size_combo = QComboBox()
        for width, height, note in SIZE_PRESETS:
            self.size_combo.addItem(f"{width} × {height}  ({note})", (width, height))
        self.size_combo.setToolTip(
            "Output size. DiT360 was trained at 2048×1024; other sizes work but are marked\n"
            '"not trained" because their seams and detail are less reliable.'
        )
        self._row("Size", self.size_combo)

        self.steps = self._number("steps")
        self.steps.spin.setObjectName("StepsSpin")
        self.guidance = self._number("guidance")

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
        self._row("Seed", seed_row)

        self.true_cfg = self._number("true_cfg_scale")
        self.lora_scale = self._number("lora_scale")
        self.strength = self._number("strength")
        self._strength_label = self._labels["strength"]

        self.tier_combo = QComboBox()
        self.tier_combo.setObjectName("TierCombo")
        for choice in TIER_CHOICES:
            self.tier_combo.addItem(choice.label, choice.value)
            self.tier_combo.setItemData(self.tier_combo.count() - 1, choice.help, Qt.ItemDataRole.ToolTipRole)
        self.tier_combo.setToolTip(
            "How FLUX.1-dev is stored and placed in memory. Automatic picks from the free GPU memory;\n"
            "choose a lower tier if another program needs the GPU. Every tier gives the same panorama\n"
            "up to the rounding of its weights (fp8 tiers differ by about 1 %)."
        )
        self._row("Memory", self.tier_combo)

        self.seamless = QCheckBox("Seamless decode")
        self.seamless.setToolTip(
            "Decode with horizontal wrap-around so the left and right edges meet without a seam.\n"
            "Turn it off only to compare with the reference DiT360 output."
        )
        grid.addWidget(self.seamless, grid.rowCount(), 0, 1, 2)
        self.fast_draft = QCheckBox("Fast draft (step cache)")
        self.fast_draft.setObjectName("FastDraft")
        self.fast_draft.setToolTip(
            "Skip part of the model's work on steps where it changes little (diffusers' step cache):\n"
            "faster, but the panorama is no longer exact. Saved with the result."
        )
        grid.addWidget(self.fast_draft, grid.rowCount(), 0, 1, 2)
        self.lora_list = LoraListWidget(form)
        layout.addWidget(self.lora_list)
        self._bind()

    def _row(self, label: str, widget: QWidget) -> QLabel:
        row = self._grid.rowCount()
        title = QLabel(label)
        title.setToolTip(widget.toolTip())
        title.setBuddy(widget)
        self._grid.addWidget(title, row, 0)
        self._grid.addWidget(widget, row, 1)
        return title

    def _number(self, name: str) -> SliderSpin:
        spec = PARAMETERS[name]
        widget = SliderSpin.for_spec(spec)
        self._labels[name] = self._row(spec.label, widget)

        def to_form(value: float) -> None:
            self.form.set(name, round(value) if spec.is_int else round(value, 3))

        widget.valueChanged.connect(to_form)
        self.form.subscribe(name, lambda value: widget.setValue(float(value)))
        return widget

    def _bind(self) -> None:
        form = self.form
        self.size_combo.currentIndexChanged.connect(self._size_chosen)
        form.subscribe("width", lambda _: self._show_size())
        form.subscribe("height", lambda _: self._show_size())
        self.seamless.toggled.connect(lambda on: form.set("seamless_decode", on))
        form.subscribe("seamless_decode", self.seamless.setChecked)
        self.fast_draft.toggled.connect(self._fast_draft_toggled)
        form.subscribe("step_cache", lambda method: self.fast_draft.setChecked(method != "off"))
        self.tier_combo.currentIndexChanged.connect(lambda i: form.set("tier", self.tier_combo.itemData(i)))
        form.subscribe("tier", self._show_tier)
        self.seed_edit.textChanged.connect(self._seed_typed)
        form.subscribe("seed", self._show_seed)
        self.seed_lock.toggled.connect(lambda locked: form.set("seed_locked", locked))
        form.subscribe("seed_locked", self._show_lock)
        form.subscribe("init_image", lambda path: self.set_strength_visible(path is not None))

    def _fast_draft_toggled(self, on: bool) -> None:
        # A re-used request may name another cache method: keep it while the box stays ticked.
        if on != (self.form["step_cache"] != "off"):
            self.form.set("step_cache", DEFAULT_STEP_CACHE if on else "off")

    def _size_chosen(self, index: int) -> None:
        width, height = self.size_combo.itemData(index)
        self.form.update({"width": width, "height": height})

    def _show_size(self) -> None:
        width, height = self.form["width"], self.form["height"]
        # Compared in Python: QComboBox.findData does not match a tuple stored as item data, which
        # added the same size again after every re-use.
        sizes = [tuple(self.size_combo.itemData(i)) for i in range(self.size_combo.count())]
        index = sizes.index((width, height)) if (width, height) in sizes else -1
        if index < 0:
            note = "custom · not trained" if (width, height) != TRAINED_SIZE else "trained size"
            self.size_combo.addItem(f"{width} × {height}  ({note})", (width, height))
            index = self.size_combo.count() - 1
        self.size_combo.setCurrentIndex(index)

    def _show_tier(self, tier: str) -> None:
        index = self.tier_combo.findData(tier)
        # A tier this version does not offer stays in the form; validate() names it when a run starts.
        if index >= 0:
            self.tier_combo.setCurrentIndex(index)

    def _seed_typed(self, text: str) -> None:
        value = int(text) if text else None
        self.form.set("seed", value if value is not None and value <= MAX_SEED else None)

    def _show_seed(self, seed: int | None) -> None:
        text = "" if seed is None else str(seed)
        if self.seed_edit.text() != text:
            self.seed_edit.setText(text)

    def _show_lock(self, locked: bool) -> None:
        self.seed_lock.setChecked(locked)
        self.seed_lock.setIcon(icon("lock" if locked else "unlock"))

    # ---- conveniences over the form ----------------------------------------------------------------

    def randomise_seed(self) -> int:
        seed = secrets.randbelow(MAX_SEED + 1)
        self.form.set("seed", seed)
        return seed

    def seed(self) -> int | None:
        return self.form["seed"]

    def set_seed(self, seed: int, *, lock: bool | None = None) -> None:
        self.form.set("seed", seed)
        if lock is not None:
            self.form.set("seed_locked", lock)

    def size(self) -> tuple[int, int]:
        return self.form["width"], self.form["height"]

    def set_size(self, width: int, height: int) -> None:
        self.form.update({"width": width, "height": height})

    def set_strength_visible(self, visible: bool) -> None:
        self.strength.setVisible(visible)
        self._strength_label.setVisible(visible)
