"""Depth & 3D in the window: "Depth & 3D…" on the current panorama (Generate menu) and on history entries
(the gallery's context menu, offered through the context's history hub).

The depth runs on the generation worker as a ``DepthJob`` (progress and cancel as for every job in the
queue); the worker saves its preview as a history entry linked to its source and keeps the float map
beside it (``<image>.depth.exr``). Showing the depth swaps the viewer's texture for a false-colour picture
of it, and back. The exports are written off the UI thread (``BackgroundOp``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import shiboken6
from PIL import Image
from PySide6.QtCore import QEvent, QObject, QSignalBlocker, Qt
from PySide6.QtGui import QAction, QKeyEvent

from dit360_desktop.panorama.errors import ModelMissingError
from dit360_desktop.ui.common.camera import ViewMode
from dit360_desktop.ui.common.context import AppContext
from dit360_desktop.ui.common.jobs import DepthJob, FinishedJob, StereoJob, error_report
from dit360_desktop.ui.depth.panel import EYE_KEYS, DepthPanel, DepthTarget, load_pair
from dit360_desktop.ui.depth.parallax import build_preview_mesh, clamp_eye
from dit360_desktop.ui.widgets.background import BackgroundOp, OpContext

log = logging.getLogger(__name__)

MESH_PREVIEWS = ("parallax", "side-by-side")
_KEY_EVENTS = (QEvent.Type.KeyPress, QEvent.Type.KeyRelease, QEvent.Type.ShortcutOverride)


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
    def __init__(
        self, context: AppContext, open_model_manager: Callable[[str | None], None] | None = None
    ) -> None:
        super().__init__(context.parent)
        self.context = context
        # The window's model manager, opened on a component (None: the window's error dialog offers it).
        self._open_model_manager = open_model_manager
        self._missing_component: str | None = None
        self.panel = DepthPanel(context.settings.last_folders, context.parent)
        self.panel.estimate_requested.connect(self.estimate)
        self.panel.export_requested.connect(self.export)
        self.panel.stereo_requested.connect(self.stereo)
        self.panel.show_depth_toggled.connect(self.show_depth)
        self.panel.show_anaglyph.toggled.connect(self.show_anaglyph)
        self.panel.show_parallax.toggled.connect(lambda on: self._preview("parallax", on))
        self.panel.show_side_by_side.toggled.connect(lambda on: self._preview("side-by-side", on))
        self.panel.eye_step.connect(self.move_eye)
        self.panel.ipd.valueChanged.connect(self._ipd_changed)
        self.panel.stride.valueChanged.connect(self._stride_changed)
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
        self._nearest_m = math.inf  # the shown mesh's nearest surface (the eye stays inside it)
        self._mesh_key: tuple | None = None  # (image, depth, metric, stride) of the mesh in the viewer
        self._mesh_faces = 0
        self._filtered: Any = None  # the viewer whose keys move the eye
        self.panel.eye_label.setText("Eye: in the centre")
        self._op: BackgroundOp | None = None
        self._cancelled_op: BackgroundOp | None = None  # still stopping on its thread
        self.panel.cancel_requested.connect(self.cancel_export)
        self.panel.model_button.clicked.connect(self.open_model_manager)

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
            self._another_picture(Path(entry.path))

    def _another_picture(self, shown: Path) -> None:
        """The window shows another picture (a selected entry, a result): the previews of the panel's
        panorama stop, without putting the old picture back (the mesh would otherwise cover the new one)."""
        target = self.panel.target
        if target is not None and shown == target.image:
            return
        for box in self._boxes().values():
            if box.isChecked():
                with QSignalBlocker(box):
                    box.setChecked(False)
        self._end_mesh()
        self._shown_rgb = None

    def _ipd_changed(self, ipd: float) -> None:
        if self.panel.show_anaglyph.isChecked():
            self.show_anaglyph(True)
        elif self.panel.show_side_by_side.isChecked() and self._mesh_key is not None:
            layer = self._mesh_layer()
            if layer is not None:
                layer.set_stereo(ipd)
                self.context.viewer.current().request_frame()

    def _stride_changed(self, _stride: int) -> None:
        for kind in MESH_PREVIEWS:
            if self._boxes()[kind].isChecked():
                self._preview(kind, True)

    # ---- depth -----------------------------------------------------------------------------------------

    def estimate(self, target: DepthTarget) -> int | None:
        from dit360_desktop.models.depth import installed_depth_model

        try:
            model = installed_depth_model()
        except ModelMissingError as e:
            if self._open_model_manager is None:
                self.context.status.show_error(error_report(e))
            else:
                self._missing_component = e.component
                self.panel.show_model_missing(str(e))
            return None
        except Exception as e:
            self.context.status.show_error(error_report(e))
            return None
        self.panel.show_model_missing(None)
        job_id = self.context.jobs.enqueue_depth(DepthJob(target.image, model), _template(target.image))
        self._pending[job_id] = target.image
        self.panel.state_label.setText(
            f"Depth queued (job {job_id}): its progress is in the queue; Esc cancels it."
        )
        self.context.status.show_message("Depth estimation queued", 4000)
        return job_id

    def open_model_manager(self) -> None:
        """The panel's "Open model manager…": the manager with the depth model selected; once it closes,
        the panel says whether the depth can be estimated now."""
        from dit360_desktop.models.depth import installed_depth_model

        if self._open_model_manager is None:
            return
        self._open_model_manager(self._missing_component)
        try:
            installed_depth_model()
        except ModelMissingError as e:
            self.panel.show_model_missing(str(e))
            return
        self.panel.show_model_missing(None)
        self.panel.state_label.setText("The depth model is installed: press Estimate depth.")

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
            self._another_picture(Path(finished.entry.path))
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

    def _boxes(self) -> dict[str, Any]:
        return {
            "depth": self.panel.show_depth,
            "anaglyph": self.panel.show_anaglyph,
            "parallax": self.panel.show_parallax,
            "side-by-side": self.panel.show_side_by_side,
        }

    def _preview(self, kind: str, on: bool) -> None:
        """One preview at a time. The false colour and red/cyan swap the viewer's texture; the parallax and
        side-by-side previews draw the displaced mesh in the GL viewer. Where OpenGL is unavailable the
        parallax preview is the CPU re-projection as the texture (the panel says so) and side by side is
        refused. With none on, the panorama is back."""
        boxes = self._boxes()
        if not on:
            if not any(boxes[k].isChecked() for k in MESH_PREVIEWS):
                self._end_mesh()
            if not any(box.isChecked() for box in boxes.values()):
                self._restore_texture()
            return
        for other, box in boxes.items():
            if other != kind and box.isChecked():
                with QSignalBlocker(box):
                    box.setChecked(False)
        target = self.panel.target
        if target is None or target.depth is None:
            return
        if kind in MESH_PREVIEWS:
            layer = self._mesh_layer()
            if layer is not None:
                self._show_mesh(kind, target, layer)
                return
            if kind == "side-by-side":
                with QSignalBlocker(boxes[kind]):
                    boxes[kind].setChecked(False)
                self.panel.state_label.setText(
                    "The side-by-side preview draws the mesh with OpenGL, which this 3D view cannot use."
                )
                return
        self._end_mesh()
        ipd = self.panel.ipd.value()
        eye = self.eye.copy()

        def load(ctx: OpContext) -> tuple[np.ndarray, np.ndarray]:
            rgb, distance = load_pair(target)
            ctx.raise_if_cancelled()
            if kind == "depth":
                from dit360_desktop.ui.depth.false_colour import false_colour

                return rgb, false_colour(distance)
            if kind == "parallax":  # the fallback without OpenGL: the moved eye as a picture
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
            if kind == "parallax":
                self._show_eye("re-projected picture: the 3D view has no OpenGL")

        def failed() -> None:
            with QSignalBlocker(boxes[kind]):
                boxes[kind].setChecked(False)
            self._preview(kind, False)

        self._run(load, shown, "Reading the depth…", on_failure=failed)

    def _restore_texture(self) -> None:
        if self._shown_rgb is not None:
            self.context.viewer.current().set_panorama(self._shown_rgb)
            self._shown_rgb = None

    def _mesh_layer(self) -> Any:
        """The GL viewer's parallax layer, or None where the viewer in place has no OpenGL."""
        viewer = self.context.viewer.current()
        make = getattr(viewer, "parallax_layer", None)
        return make() if make is not None and not getattr(viewer, "failure", None) else None

    def _show_mesh(self, kind: str, target: DepthTarget, layer: Any) -> None:
        stride = self.panel.stride.value()
        key = (target.image, target.depth, target.metric, stride)
        stereo = self.panel.ipd.value() if kind == "side-by-side" else None

        def start(data: Any, nearest_m: float, faces: int) -> None:
            if not self._boxes()[kind].isChecked():
                return
            self._restore_texture()  # the mesh carries its own texture; the sphere behind it is the panorama
            viewer = self.context.viewer.current()
            if key != self._mesh_key:
                layer.set_mesh(*data)
                self._mesh_key, self._nearest_m, self._mesh_faces = key, nearest_m, faces
            if getattr(viewer.camera, "mode", None) is not ViewMode.PERSPECTIVE:
                viewer.camera.set_mode(ViewMode.PERSPECTIVE)  # the mesh is drawn in the perspective view
            self.eye = clamp_eye(self.eye, self._nearest_m)
            layer.set_eye(tuple(self.eye))
            layer.set_stereo(stereo)
            if self._filtered is not viewer:
                viewer.installEventFilter(self)
                self._filtered = viewer
            viewer.request_frame()
            viewer.setFocus()
            self._show_eye(f"{self._mesh_faces:,} triangles")

        if key == self._mesh_key:
            start(None, self._nearest_m, self._mesh_faces)
            return

        def build(ctx: OpContext) -> tuple[Any, float, int]:
            rgb, distance = load_pair(target)
            ctx.raise_if_cancelled()
            return build_preview_mesh(rgb, distance, metric=target.metric, stride=stride)

        def failed() -> None:
            box = self._boxes()[kind]
            with QSignalBlocker(box):
                box.setChecked(False)
            self._preview(kind, False)

        self._run(build, lambda built: start(*built), "Building the mesh…", on_failure=failed)

    def _end_mesh(self) -> None:
        if self._filtered is not None:
            if shiboken6.isValid(self._filtered):  # the viewer may have been replaced (OpenGL failed)
                self._filtered.removeEventFilter(self)
            self._filtered = None
        if self._mesh_key is not None:
            layer = self._mesh_layer()
            if layer is not None:
                layer.set_mesh(None)
                layer.set_stereo(None)
                self.context.viewer.current().request_frame()
            self._mesh_key = None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """While the mesh is shown, the eye keys in the 3D view move the eye (not the camera); dragging
        still looks around."""
        kind = event.type()
        if watched is self._filtered and kind in _KEY_EVENTS:
            key_event: QKeyEvent = event  # type: ignore[assignment]
            plain = not key_event.modifiers() & (
                Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
            )
            step = EYE_KEYS.get(Qt.Key(key_event.key())) if plain else None
            if step is not None:
                if kind == QEvent.Type.KeyPress:
                    self.move_eye(*step)
                event.accept()
                return True
        return super().eventFilter(watched, event)

    def move_eye(self, right: float, up: float, forward: float) -> None:
        """Move the parallax preview's eye in the frame of the view on screen (0, 0, 0: to the centre),
        at most 0.5 m from the centre and within 90 % of the nearest surface."""
        if (right, up, forward) == (0.0, 0.0, 0.0):
            self.eye = np.zeros(3)
        else:
            yaw = np.radians(self.context.viewer.current().camera.view.yaw)
            step = np.array(
                [
                    right * np.cos(yaw) + forward * np.sin(yaw),
                    up,
                    -right * np.sin(yaw) + forward * np.cos(yaw),
                ]
            )
            self.eye = clamp_eye(self.eye + step, self._nearest_m)
        if self._mesh_key is not None:
            layer = self._mesh_layer()
            if layer is not None:
                layer.set_eye(tuple(self.eye))
                self.context.viewer.current().request_frame()
            self._show_eye(f"{self._mesh_faces:,} triangles")
        elif self.panel.show_parallax.isChecked():
            self._preview("parallax", True)
        else:
            self._show_eye()

    def _show_eye(self, note: str = "") -> None:
        x, y, z = self.eye
        target = self.panel.target
        text = f"Eye: {x:+.2f} m right, {y:+.2f} m up, {z:+.2f} m forward (at most 0.5 m from the centre"
        if target is not None and not target.metric:
            text += "; relative depth, in metres at a 3 m median as in the GLB"
        self.panel.eye_label.setText(f"{text}; {note})" if note else f"{text})")

    def _panel_closed(self, _code: int) -> None:
        for box in self._boxes().values():
            box.setChecked(False)

    # ---- exports ---------------------------------------------------------------------------------------

    def export(self, export: Any) -> None:
        from dit360_desktop.ui.depth.exports import write_export

        target = self.panel.target
        if target is None:
            return

        def write(ctx: OpContext) -> Path:
            ctx.report((0.0, f"Reading {target.image.name} and its depth…"))
            rgb, distance = load_pair(target)

            def progress(fraction: float, what: str) -> None:
                ctx.raise_if_cancelled()  # between steps: the writers then remove their temp file
                ctx.report((fraction, what))

            return write_export(export, rgb, distance, progress)

        def written(path: Path) -> None:
            self.context.save_settings()  # the remembered folder
            self.context.status.show_message(f"Wrote {path}", 8000)

        self._run(
            write,
            written,
            f"Writing {export.path.name}…",
            progress=lambda value: self.panel.set_progress(*value),
        )

    def cancel_export(self) -> None:
        """The panel's Cancel: the export stops at its next step and leaves no file."""
        op, self._op = self._op, None
        if op is None:
            return
        op.cancel()
        self._cancelled_op = op
        self.panel.set_busy(None)
        self.panel.state_label.setText("Export cancelled: nothing was written.")

    def _run(self, op: Any, success: Any, text: str, on_failure: Any = None, progress: Any = None) -> None:
        if self._op is not None:
            self._op.cancel()
            self._cancelled_op = self._op
        self.panel.set_busy(text, cancellable=progress is not None)

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

        background = BackgroundOp(self, op, done).failure(failed)
        if progress is not None:
            background = background.with_progress(progress)
        self._op = background.run_in_background()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the running read or export, and for a cancelled one to stop (tests, shutdown)."""
        ops = [op for op in (self._op, self._cancelled_op) if op is not None]
        return all(op.wait(timeout) for op in ops)


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
