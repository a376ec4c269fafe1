"""Regional prompts painted on the sphere: a list of up to 8 regions, each a colour, a prompt and a mask
painted with the edit mode's brush, written as the regions file the engine reads.

While a region is painted its mask is tinted over the panorama in red (the brush's live tint), and the
other regions are shown in their own colours on a tinted copy of the panorama. "Use these regions" checks
the list in the panel's words (no region, more than 8, an empty prompt, an unpainted mask), writes
``regions.json`` and the mask PNGs as one atomic set into the app's data folder, reads them back with the
engine's reader and sets the form's ``regions_file``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PySide6.QtCore import QObject, Signal

from dit360_desktop.panorama.regions import MAX_REGIONS
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.guides.guide_files import (
    GuideError,
    RegionDraft,
    overlay_step,
    read_region_drafts,
    tint_overlay,
    write_regions,
)
from dit360_desktop.ui.guides.palette import REGION_COLOURS
from dit360_desktop.ui.guides.sphere_paint import SpherePaint
from dit360_desktop.ui.guides.widgets import RegionList, RegionRow
from dit360_desktop.ui.painting.mask_model import MaskModel

log = logging.getLogger(__name__)


@dataclass
class Region:
    row: RegionRow
    model: MaskModel
    colour: tuple[int, int, int]


class RegionsController(QObject):
    message = Signal(str)
    changed = Signal()  # the regions or their masks changed (the overlay follows)

    def __init__(
        self,
        widget: RegionList,
        paint: SpherePaint,
        form: GenerationForm,
        size_fallback: Callable[[], tuple[int, int]],
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.widget = widget
        self.paint = paint
        self.form = form
        self._size_fallback = size_fallback
        self.regions: list[Region] = []
        self.written: str | None = None  # the regions file this list wrote last
        self.painting: Region | None = None
        widget.size.valueChanged.connect(lambda _v: self._brush())
        widget.erase.toggled.connect(lambda _on: self._brush())
        paint.active_changed.connect(self._paint_active)
        paint.changed.connect(self.changed)

    def size(self) -> tuple[int, int]:
        if self.regions:
            model = self.regions[0].model
            return model.width, model.height
        panorama = self.paint.panorama()
        return (panorama.shape[1], panorama.shape[0]) if panorama is not None else self._size_fallback()

    def add(self, prompt: str = "", mask: np.ndarray | None = None) -> Region | None:
        if len(self.regions) >= MAX_REGIONS:
            self.message.emit(f"At most {MAX_REGIONS} regions can steer a generation; remove one first.")
            return None
        width, height = self.size()
        used = {region.colour for region in self.regions}
        colour = next(c for c in REGION_COLOURS if c not in used)
        row = RegionRow(len(self.regions) + 1, colour, prompt)
        model = MaskModel(width, height)
        if mask is not None:
            model.replace(mask)
        region = Region(row, model, colour)
        self.regions.append(region)
        self.widget.rows_box.addWidget(row)
        row.paint_toggled.connect(lambda on, r=region: self.start_painting(r) if on else self.stop_painting())
        row.remove_requested.connect(lambda r=region: self.remove(r))
        row.prompt.textChanged.connect(lambda _t: self.changed.emit())
        self.widget.add_button.setEnabled(len(self.regions) < MAX_REGIONS)
        self.changed.emit()
        return region

    def remove(self, region: Region) -> None:
        if self.painting is region:
            self.stop_painting()
        self.regions.remove(region)
        region.row.setParent(None)
        region.row.deleteLater()
        self.widget.add_button.setEnabled(True)
        self.changed.emit()
        if self.painting is not None:
            self._show_others()

    def start_painting(self, region: Region) -> bool:
        self._brush()
        self.painting = region
        for other in self.regions:
            if other is not region and other.row.paint.isChecked():
                other.row.paint.blockSignals(True)
                other.row.paint.setChecked(False)
                other.row.paint.blockSignals(False)
        problem = self.paint.start(region.model, region.model.array)
        if problem is not None:
            self.painting = None
            region.row.paint.blockSignals(True)
            region.row.paint.setChecked(False)
            region.row.paint.blockSignals(False)
            self.message.emit(problem)
            return False
        self.widget.brush_row.setVisible(True)
        self._show_others()
        return True

    def stop_painting(self) -> None:
        if self.painting is None:
            return
        self.painting = None
        self.paint.stop()

    def _paint_active(self, on: bool) -> None:
        tool = self.paint.tool
        if on and tool is not None and any(tool.model is r.model for r in self.regions):
            return
        # The brush stopped, or went to the sketch.
        self.painting = None
        self.widget.brush_row.setVisible(False)
        for region in self.regions:
            region.row.paint.blockSignals(True)
            region.row.paint.setChecked(False)
            region.row.paint.blockSignals(False)

    def _show_others(self) -> None:
        panorama = self.paint.panorama()
        if panorama is None:
            return
        step = overlay_step(panorama.shape[1])
        others = [
            (r.model.array[::step, ::step], r.colour)
            for r in self.regions
            if r is not self.painting and r.model.array.shape == panorama.shape[:2]
        ]
        self.paint.backdrop(tint_overlay(panorama[::step, ::step], others) if others else None)

    def _brush(self) -> None:
        self.paint.set_brush(self.widget.brush())

    def panorama_changed(self) -> None:
        """A new panorama is on screen: stop painting; masks at another size are dropped."""
        self.stop_painting()
        panorama = self.paint.panorama()
        if panorama is None or not self.regions:
            return
        if (self.regions[0].model.height, self.regions[0].model.width) != panorama.shape[:2]:
            for region in list(self.regions):
                self.remove(region)
            self.message.emit("The regions were painted on a panorama of another size; they were cleared.")

    def drafts(self) -> list[RegionDraft]:
        self.paint.flush()
        return [RegionDraft(r.row.prompt.text(), r.model.array.copy()) for r in self.regions]

    def use(self) -> bool:
        try:
            path = write_regions(self.drafts())
        except GuideError as e:
            self.message.emit(str(e))
            return False
        except OSError as e:
            self.message.emit(f"The regions could not be saved: {e}")
            return False
        self.written = str(path)
        self.form.set("regions_file", str(path))
        self.message.emit(f"{len(self.regions)} region(s) written; the next run uses {path}.")
        return True

    def load(self, path: str, *, quiet: bool = False) -> bool:
        """Show the regions of a file (re-use, or one chosen) in the list, to look at or paint on;
        ``quiet``: no sentence when it cannot be read."""
        width, height = self.size() if self.regions else self._panorama_size()
        try:
            drafts, notes = read_region_drafts(path, width, height)
        except GuideError as e:
            if not quiet:
                self.message.emit(str(e))
            return False
        self.stop_painting()
        for region in list(self.regions):
            self.remove(region)
        for draft in drafts:
            self.add(draft.prompt, draft.mask)
        if notes and not quiet:
            self.message.emit(" ".join(notes))
        return True

    def _panorama_size(self) -> tuple[int, int]:
        panorama = self.paint.panorama()
        return (panorama.shape[1], panorama.shape[0]) if panorama is not None else self._size_fallback()
