"""Depth & 3D in the window: "Depth & 3D…" on the current panorama (Generate menu) and on history entries
(the gallery's context menu, offered through the context's history hub).

The depth runs on the generation worker as a ``DepthJob`` (progress and cancel as for every job in the
queue); the worker saves its preview as a history entry linked to its source and keeps the float map
beside it (``<image>.depth.exr``). Showing the depth swaps the viewer's texture for a false-colour picture
of it, and back. The exports are written off the UI thread (``BackgroundOp``).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from PySide6.QtCore import QObject, QSignalBlocker
from PySide6.QtGui import QAction

from dit360_desktop.ui.common.context import AppContext
from dit360_desktop.ui.common.jobs import DepthJob, FinishedJob, StereoJob, error_report
from dit360_desktop.ui.depth.panel import DepthPanel, DepthTarget, load_pair
from dit360_desktop.ui.widgets.background import BackgroundOp, OpContext

log = logging.getLogger(__name__)


def target_for_entry(entry: Any, library_dir: Path | None = None) -> DepthTarget | None:
    """The panel's panorama for a history entry: a depth entry gives its source and its map; a panorama
    gives itself and its newest depth entry's map, if it has one."""
    from dit360_desktop.history.files import depth_path_of

    if entry is None or entry.missing:
        return None
    record = entry.metadata.get("depth") or {}
    own = depth_path_of(Path(entry.path))
    if own.is_file():
        source = Path(record.get("source") or entry.path)
        return DepthTarget(source, own, bool(record.get("metric")), entry.id)
    depth, metric = None, False
    if library_dir is not None:
        from dit360_desktop.history.library import Library

        try:
            with Library.open(library_dir) as library:
                children = library.children(entry.id)
        except Exception as e:  # the panel still opens; the depth can be estimated again
            log.warning("The depth entries of %s could not be listed: %s", entry.path, e)
            children = []
        for child in reversed(children):
            if depth_path_of(Path(child.path)).is_file():
                depth = depth_path_of(Path(child.path))
                metric = bool((child.metadata.get("depth") or {}).get("metric"))
                break
    return DepthTarget(Path(entry.path), depth, metric, entry.id)


class DepthFeature(QObject):
    def __init__(self, context: AppContext) -> None:
        super().__init__(context.parent)
        self.context = context
        self.panel = DepthPanel(context.settings.last_folders, context.parent)
        self.panel.estimate_requested.connect(self.estimate)
        self.panel.export_requested.connect(self.export)
        self.panel.stereo_requested.connect(self.stereo)
        self.panel.show_depth_toggled.connect(self.show_depth)
        self.panel.show_anaglyph.toggled.connect(self.show_anaglyph)
        self.panel.show_parallax.toggled.connect(lambda on: self._preview("parallax", on))
        self.panel.eye_step.connect(self.move_eye)
        self.panel.ipd.valueChanged.connect(
            lambda _v: self.panel.show_anaglyph.isChecked() and self.show_anaglyph(True)
        )
        self.panel.finished.connect(self._panel_closed)
        self.action = QAction("Depth && 3D…", context.parent)
        self.action.setObjectName("act_depth_3d")
        self.action.setToolTip("Depth, 3D exports and stereo of the panorama on screen.")
        self.action.triggered.connect(self.open_current)
        context.menus.generate.addAction(self.action)
        self.entry_action = QAction("Depth && 3D…", self)
        self.entry_action.setObjectName("act_depth_3d_entry")
        self.entry_action.triggered.connect(lambda: self.open_entry(context.history.current_entry()))
        context.history.add_entry_action(self.entry_action)
        context.history.entry_selected.connect(self._remember)
        context.jobs.result_ready.connect(self._on_result)
        self._current: Any = None  # the entry on screen (selected, or the last result)
        self._pending: dict[int, Path] = {}  # depth job id → its source image
        self._stereo_jobs: set[int] = set()
        self._shown_rgb: np.ndarray | None = None  # what the viewer showed before a preview
        self.eye = np.zeros(3)  # the parallax preview's eye, metres from the centre (x right, y up, z fwd)
        self.panel.eye_label.setText("Eye: in the centre")
        self._op: BackgroundOp | None = None

    # ---- opening ---------------------------------------------------------------------------------------

    def open_current(self) -> None:
        entry = self.context.history.current_entry() or self._current
        if entry is None:
            self.context.status.show_message("Open or select a panorama of the history first.", 6000)
            return
        self.open_entry(entry)

    def open_entry(self, entry: Any) -> None:
        target = target_for_entry(entry, self.context.library_dir)
        if target is None:
            self.context.status.show_message("The image of this entry is missing.", 6000)
            return
        self.panel.set_target(target)
        self.panel.show()
        self.panel.raise_()

    def _remember(self, entry: Any) -> None:
        if entry is not None:
            self._current = entry

    # ---- depth -----------------------------------------------------------------------------------------

    def estimate(self, target: DepthTarget) -> int | None:
        from dit360_desktop.models.depth import installed_depth_model

        try:
            model = installed_depth_model()
        except Exception as e:
            self.context.status.show_error(error_report(e))
            return None
        job_id = self.context.jobs.enqueue_depth(DepthJob(target.image, model), _template(target.image))
        self._pending[job_id] = target.image
        self.panel.state_label.setText(
            f"Depth queued (job {job_id}): its progress is in the queue; Esc cancels it."
        )
        self.context.status.show_message("Depth estimation queued", 4000)
        return job_id

    def stereo(self, target: DepthTarget, ipd: float, fill: bool) -> int | None:
        if target.depth is None:
            return None
        job = StereoJob(target.image, target.depth, target.metric, ipd, "dit360" if fill else "none")
        job_id = self.context.jobs.enqueue_stereo(job, _template(target.image))
        self._stereo_jobs.add(job_id)
        self.panel.state_label.setText(f"Stereo queued (job {job_id}): its progress is in the queue.")
        self.context.status.show_message("Stereo queued", 4000)
        return job_id

    def _on_result(self, finished: FinishedJob) -> None:
        if finished.entry is not None:
            self._current = finished.entry
        if finished.job_id in self._stereo_jobs:
            self._stereo_jobs.discard(finished.job_id)
            self.panel.set_target(self.panel.target)
            self.context.status.show_message("Stereo saved in the history", 6000)
            return
        source = self._pending.pop(finished.job_id, None)
        if source is None:
            return
        if finished.depth_path is None:
            self.panel.state_label.setText(f"The depth could not be kept: {finished.save_error}")
            return
        metric = bool((finished.metadata.get("depth") or {}).get("metric"))
        entry_id = finished.entry.id if finished.entry is not None else None
        if self.panel.target is None or self.panel.target.image == source:
            self.panel.set_target(DepthTarget(source, Path(finished.depth_path), metric, entry_id))
        self.context.status.show_message(f"Depth of {source.name} ready", 6000)

    # ---- the viewer ------------------------------------------------------------------------------------

    def show_depth(self, on: bool) -> None:
        self._preview("depth", on)

    def show_anaglyph(self, on: bool) -> None:
        self._preview("anaglyph", on)

    def _preview(self, kind: str, on: bool) -> None:
        """Swap the viewer's texture for the depth in false colour or the red/cyan stereo pair (one at a
        time), and put the panorama back when neither is on."""
        boxes = {
            "depth": self.panel.show_depth,
            "anaglyph": self.panel.show_anaglyph,
            "parallax": self.panel.show_parallax,
        }
        if not on:
            if self._shown_rgb is not None and not any(box.isChecked() for box in boxes.values()):
                self.context.viewer.current().set_panorama(self._shown_rgb)
                self._shown_rgb = None
            return
        for other, box in boxes.items():
            if other != kind and box.isChecked():
                with QSignalBlocker(box):
                    box.setChecked(False)
        target = self.panel.target
        if target is None or target.depth is None:
            return
        ipd = self.panel.ipd.value()
        eye = self.eye.copy()

        def load(ctx: OpContext) -> tuple[np.ndarray, np.ndarray]:
            rgb, distance = load_pair(target)
            ctx.raise_if_cancelled()
            if kind == "depth":
                from dit360_desktop.ui.depth.false_colour import false_colour

                return rgb, false_colour(distance)
            if kind == "parallax":
                from dit360_desktop.ui.depth.parallax import clamp_eye, metres, moved_eye

                distance_m = metres(distance, target.metric)
                return rgb, moved_eye(rgb, distance_m, clamp_eye(eye, float(distance_m.min())))[0]
            from dit360_desktop.ui.depth.exports import stereo_pair_image
            from dit360_desktop.ui.depth.stereo_preview import anaglyph

            return rgb, anaglyph(stereo_pair_image(rgb, distance, ipd, target.metric), rgb)

        def shown(pair: tuple[np.ndarray, np.ndarray]) -> None:
            if not boxes[kind].isChecked():
                return
            if self._shown_rgb is None:
                self._shown_rgb = pair[0]
            self.context.viewer.current().set_panorama(pair[1])

        def failed() -> None:
            with QSignalBlocker(boxes[kind]):
                boxes[kind].setChecked(False)
            self._preview(kind, False)

        self._run(load, shown, "Reading the depth…", on_failure=failed)

    def move_eye(self, right: float, up: float, forward: float) -> None:
        """Move the parallax preview's eye in the frame of the view on screen (0, 0, 0: to the centre)."""
        if (right, up, forward) == (0.0, 0.0, 0.0):
            self.eye = np.zeros(3)
        else:
            from dit360_desktop.ui.depth.parallax import MAX_OFFSET_M, clamp_eye

            yaw = np.radians(self.context.viewer.current().camera.view.yaw)
            step = np.array(
                [
                    right * np.cos(yaw) + forward * np.sin(yaw),
                    up,
                    -right * np.sin(yaw) + forward * np.cos(yaw),
                ]
            )
            self.eye = clamp_eye(self.eye + step, MAX_OFFSET_M / 0.9)
        x, y, z = self.eye
        self.panel.eye_label.setText(f"Eye: {x:+.2f} m right, {y:+.2f} m up, {z:+.2f} m forward")
        if self.panel.show_parallax.isChecked():
            self._preview("parallax", True)

    def _panel_closed(self, _code: int) -> None:
        self.panel.show_depth.setChecked(False)
        self.panel.show_anaglyph.setChecked(False)
        self.panel.show_parallax.setChecked(False)

    # ---- exports ---------------------------------------------------------------------------------------

    def export(self, export: Any) -> None:
        from dit360_desktop.ui.depth.exports import write_export

        target = self.panel.target
        if target is None:
            return

        def write(ctx: OpContext) -> Path:
            rgb, distance = load_pair(target)
            ctx.raise_if_cancelled()
            return write_export(export, rgb, distance, ctx.raise_if_cancelled)

        def written(path: Path) -> None:
            self.context.save_settings()  # the remembered folder
            self.context.status.show_message(f"Wrote {path}", 8000)

        self._run(write, written, f"Writing {export.path.name}…")

    def _run(self, op: Any, success: Any, text: str, on_failure: Any = None) -> None:
        if self._op is not None:
            self._op.cancel()
        self.panel.set_busy(text)

        def done(value: Any) -> None:
            self._op = None
            self.panel.set_busy(None)
            success(value)

        def failed(error: Exception) -> None:
            self._op = None
            self.panel.set_busy(None)
            if on_failure is not None:
                on_failure()
            self.context.status.show_error(error_report(error))

        self._op = BackgroundOp(self, op, done).failure(failed).run_in_background()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running read or export (tests, shutdown)."""
        return self._op.wait(timeout) if self._op is not None else True


def _template(image: Path) -> Any:
    """The source's prompt and seed (the depth entry's record of what it was made from) at the image's
    size, so the queue and the entry describe the source."""
    from dit360_desktop.panorama import imageio
    from dit360_desktop.panorama.request import PANORAMA_PREFIX, GenerationRequest

    try:
        metadata = imageio.read_metadata(image)
        stored = (metadata.dit360 or {}).get("request") or {}
        with Image.open(image) as opened:
            width, height = opened.size
    except Exception:  # unreadable here: the job itself reports why
        stored, width, height = {}, None, None
    seed = stored.get("seed")
    template = GenerationRequest(
        prompt=str(stored.get("prompt") or PANORAMA_PREFIX), seed=seed if isinstance(seed, int) else None
    )
    return template if width is None else template.replace(width=width, height=height)
