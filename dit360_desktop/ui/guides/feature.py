"""Guides in the main window: the Guides panel under the parameters (``ui/guides/panel.py``), the brush on
the sphere for sketches and regions, control images computed from the panorama, the overlay, and the
model manager opened on a guide's missing model.

The panel is built before the first frame, so it imports only Qt; the controllers (numpy, Pillow, the
brush) are built the first time they are needed (``tools``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer

from dit360_desktop.ui.common.context import AppContext
from dit360_desktop.ui.common.jobs import FinishedJob
from dit360_desktop.ui.guides.needs import (
    DEPTH_COMPONENT,
    REDUX_COMPONENT,
    ModelNeeds,
    Need,
    installed_depth,
    installed_redux,
)
from dit360_desktop.ui.guides.panel import GuidesPanel

if TYPE_CHECKING:
    from dit360_desktop.ui.guides.regions_editor import RegionsController
    from dit360_desktop.ui.guides.sketch import SketchController
    from dit360_desktop.ui.guides.sources import ControlSources
    from dit360_desktop.ui.guides.sphere_paint import SpherePaint

log = logging.getLogger(__name__)

# Looking for the installed models reads the registry and the Hugging Face cache: after the first frame.
NEEDS_CHECK_DELAY_MS = 1500


@dataclass(frozen=True)
class GuideTools:
    paint: SpherePaint
    sketch: SketchController
    regions: RegionsController
    sources: ControlSources


class GuidesFeature(QObject):
    def __init__(self, context: AppContext, open_model_manager: Callable[[str], None]) -> None:
        super().__init__(context.parent)
        self.context = context
        form = context.form
        self.panel = panel = GuidesPanel(form)
        context.side_panel.add_section(panel)
        self._current_file: Path | None = None  # the saved panorama on screen, when there is one
        self._tools: GuideTools | None = None

        panel.sketch_button.clicked.connect(lambda: self.tools.sketch.start())
        panel.canny_button.clicked.connect(lambda: self.tools.sources.edges())
        panel.depth_button.clicked.connect(lambda: self.tools.sources.depth())
        panel.regions.add_button.clicked.connect(lambda: self.tools.regions.add())
        panel.regions.use_button.clicked.connect(lambda: self.tools.regions.use())
        panel.reference_image.dropped.connect(self.take_reference)

        self.needs = ModelNeeds(open_model_manager)
        self.needs.add(Need(panel.reference_need, "FLUX.1-Redux-dev", REDUX_COMPONENT, installed_redux))
        self.needs.add(
            Need(panel.depth_need, "Depth Anything V2 (for From depth)", DEPTH_COMPONENT, installed_depth)
        )
        QTimer.singleShot(NEEDS_CHECK_DELAY_MS, self, self.needs.refresh)
        form.subscribe("reference_image", self._default_redux)

        panel.show_on_sphere.toggled.connect(lambda _on: self.refresh_overlay())
        for name in ("control_image", "fit"):
            form.subscribe(name, lambda _v: self.refresh_overlay(), now=False)
        form.subscribe("regions_file", self._regions_file_changed, now=False)
        context.jobs.result_ready.connect(self._on_result)
        context.history.entry_selected.connect(self._entry_selected)

    @property
    def tools(self) -> GuideTools:
        if self._tools is None:
            self._tools = self._build_tools()
        return self._tools

    def _build_tools(self) -> GuideTools:
        from dit360_desktop.ui.guides.regions_editor import RegionsController
        from dit360_desktop.ui.guides.sketch import SketchController
        from dit360_desktop.ui.guides.sources import ControlSources
        from dit360_desktop.ui.guides.sphere_paint import SpherePaint

        form, panel = self.context.form, self.panel

        def form_size() -> tuple[int, int]:
            return int(form["width"]), int(form["height"])

        paint = SpherePaint(self.context.viewer.current, self)
        sketch = SketchController(panel.sketch, paint, form, form_size, self)
        regions = RegionsController(panel.regions, paint, form, form_size, self)
        sources = ControlSources(
            form, paint.panorama, lambda: self._current_file, self.context.jobs.enqueue_depth, self
        )
        for source in (sketch, regions, sources):
            source.message.connect(panel.say)
        sources.model_missing.connect(lambda _component: self.needs.refresh())
        regions.changed.connect(self.refresh_overlay)
        paint.active_changed.connect(lambda on: on or self.refresh_overlay())
        if form["regions_file"]:
            # The file the settings restored: shown in the list when it is readable, else left alone.
            regions.written = form["regions_file"]
            regions.load(form["regions_file"], quiet=True)
        return GuideTools(paint, sketch, regions, sources)

    # ---- the panorama on screen ------------------------------------------------------------------------

    def _on_result(self, finished: FinishedJob) -> None:
        if self._tools is not None:
            self._tools.sources.on_result(finished)
        if finished.saved_path:
            self._current_file = Path(finished.saved_path)
        self._panorama_changed()

    def _entry_selected(self, entry: Any) -> None:
        if entry is None or getattr(entry, "missing", False):
            return
        # The gallery has shown the entry already (it hears the selection first).
        self._current_file = Path(entry.path)
        self._panorama_changed()

    def _panorama_changed(self) -> None:
        # The window has put a new panorama on the viewer: whatever was drawn over the old one stops.
        if self._tools is None:
            return
        self._tools.paint.forget_backdrop()
        self._tools.sketch.panorama_changed()
        self._tools.regions.panorama_changed()
        self.refresh_overlay()

    # ---- the overlay -----------------------------------------------------------------------------------

    def refresh_overlay(self) -> None:
        if self._tools is None and not self.panel.show_on_sphere.isChecked():
            return
        from dit360_desktop.ui.guides.guide_files import overlay_step, tint_overlay
        from dit360_desktop.ui.guides.overlay import guide_layers

        paint, regions = self.tools.paint, self.tools.regions
        if paint.active:
            return  # painting shows the layer being painted and the other regions itself
        if not self.panel.show_on_sphere.isChecked():
            paint.backdrop(None)
            return
        panorama = paint.panorama()
        if panorama is None:
            self.panel.say("Open or generate a panorama first: the guides are shown over it.")
            return
        height, width = panorama.shape[:2]
        step = overlay_step(width)
        painted = [
            (r.model.array[::step, ::step], r.colour)
            for r in regions.regions
            if not r.model.is_empty and r.model.array.shape == (height, width)
        ]
        layers, notes = guide_layers(self.context.form, width, height, lambda: painted, step)
        if not layers:
            paint.backdrop(None)
            self.panel.say(
                " ".join(notes) or "No guide to show yet: choose or make a control image, or add regions."
            )
            return
        paint.backdrop(tint_overlay(panorama[::step, ::step], layers))
        self.panel.say(" ".join(notes) or None)

    # ---- the reference image ---------------------------------------------------------------------------

    def take_reference(self, path: Path) -> bool:
        """A picture chosen or dropped for the reference slot: read through the app's safe loader first,
        so a broken file is a sentence here, not an error after the model has loaded."""
        from dit360_desktop.panorama.errors import ImageLoadError
        from dit360_desktop.panorama.userimage import load_user_image

        try:
            picture = load_user_image(path)
        except ImageLoadError as e:
            self.panel.say(f"{path.name} cannot be the reference image: {e}")
            return False
        self.context.form.set("reference_image", str(path))
        width, height = picture.size
        self.panel.say(f"Reference image: {path.name} ({width}×{height}).")
        return True

    def _default_redux(self, image: str | None) -> None:
        # The installed catalog model, when a reference is chosen and no Redux folder is set yet.
        if image is None or self.context.form["reference_model"] is not None:
            return
        found = installed_redux()
        if found is not None:
            self.context.form.set("reference_model", str(found))

    # ---- regions ---------------------------------------------------------------------------------------

    def _regions_file_changed(self, path: str | None) -> None:
        # A file from elsewhere (re-use, Choose…) is shown in the list; the one the list wrote already is.
        # Before the list exists (settings restored at start-up) it is left for later: no numpy yet.
        if self._tools is None:
            return
        regions = self._tools.regions
        if path and path != regions.written and not self._tools.paint.active:
            regions.written = path
            regions.load(path)
        self.refresh_overlay()

    def shutdown(self) -> None:
        if self._tools is not None:
            self._tools.sketch.stop()
            self._tools.regions.stop_painting()
