"""Save screenshots of the main window to docs/screenshots/ (JPEG, about 100–200 KB each).

- ``main-window.jpg``: first start, no model installed: the procedural sample panorama in perspective;
- ``generating.jpg``: a generation running with its live preview (img2img from the sample, so the preview
  is recognisable even with the random-weight test model this script uses);
- ``mode-little-planet.jpg``, ``mode-flat.jpg``, ``mode-seam.jpg``: the other viewer modes;
- ``edit-perspective.jpg``, ``edit-flat.jpg``: edit mode, a mask painted across the seam and the sky
  (red), the brush outline under the pointer, in perspective and flat views;
- ``place-photo.jpg``: a photo placed on the sphere, the rest tinted for outpainting;
- ``first-run.jpg``: a fresh profile at 1440×880, no model: the banner over the landscape viewer;
- ``model-manager-first-run.jpg``: the model manager as "Set up models…" opens it (on FLUX.1-dev, with
  the download/import guide and the licence and token steps);
- ``model-folder-refused.jpg``: Models → Choose model folder… on a 600 KB test model: refused in one
  sentence, with "Open model manager…";
- ``gallery-grid.jpg``: the history strip under the viewer with a few panoramas, one selected, and the
  queue column with finished jobs (thumbnail, seed, size);
- ``settings.jpg``: the Settings dialog (Ctrl+,).
- ``drop-highlight.jpg``: a file dragged over the window: the drop zone over the panels and the viewer;
- ``viewer-readout.jpg``: the landscape viewer with its yaw/pitch/FOV readout and the labelled grid;
- ``flat-fit.jpg``, ``flat-actual-pixels.jpg``: the flat view fitted, and at 1:1 (pixel-true);
- ``snapshot-dialog.jpg``, ``export-preview.jpg``: the snapshot and the perspective export, started from
  the view, with presets and a live preview;
- at 1280×720: ``history-inspector.jpg``: the history inspector on a repair of an edit (lineage link, seam
  and pole scores before/after, what was applied) and the queue with a finished and a cancelled row;
  ``edit-run.jpg``: edit mode, the prompt pinned above the scrolled edit panel, the one primary "Run
  edit"; ``model-manager-pack.jpg``: the model manager after "Make an offline pack…" wrote a pack.

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/make_screenshots.py [--cache /tmp/tiny-flux]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "screenshots"
SIZE = (1600, 900)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, help="keep the tiny test model here between runs")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--skip-generating", action="store_true", help="no generating.jpg (the slow one)")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="dit360-shots-"))
    os.environ["DIT360_HOME"] = str(home)

    from dit360_desktop.testing.tiny_flux import build_tiny_flux

    model = (args.cache or home) / "FLUX.1-dev"
    if not (model / "model_index.json").is_file():
        build_tiny_flux(model)

    from PIL import Image
    from PySide6.QtWidgets import QApplication

    from dit360_desktop.settings import Settings
    from dit360_desktop.ui.theme import apply_theme
    from dit360_desktop.ui.viewer import ViewMode, prepare_application_opengl
    from dit360_desktop.ui.widgets.window_grab import grab_window

    prepare_application_opengl()
    app = QApplication([])
    apply_theme(app)
    from dit360_desktop.ui.main_window import MainWindow

    def pump(condition=None, seconds: float = 0.0, timeout: float = 300.0) -> None:
        start = time.perf_counter()
        while True:
            app.processEvents()
            elapsed = time.perf_counter() - start
            if condition is None and elapsed >= seconds:
                return
            if condition is not None and condition():
                return
            if elapsed > timeout:
                raise TimeoutError("screenshot script timed out")
            time.sleep(0.01)

    args.out.mkdir(parents=True, exist_ok=True)

    def shoot(window: MainWindow, name: str) -> None:
        pump(seconds=0.6)
        path = args.out / name
        if not grab_window(window).toImage().save(str(path), "JPG", 86):
            raise OSError(f"could not write {path}")
        print(f"{path} ({path.stat().st_size // 1024} KB)")

    # 1. First start: no model, the sample panorama.
    window = MainWindow(Settings())
    window.confirm_stop = lambda: True
    window.resize(*SIZE)
    window.show()
    pump(lambda: window.viewer.panorama is not None, timeout=120)
    window.prompt_panel.prompt_edit.setPlainText(
        "a quiet alpine lake at sunset, snow-capped mountains, pine forest on the far shore, soft clouds"
    )
    window.viewer.camera.look_at(-20.0, 4.0)
    shoot(window, "main-window.jpg")

    for mode, name in ((ViewMode.LITTLE_PLANET, "mode-little-planet.jpg"), (ViewMode.FLAT, "mode-flat.jpg")):
        window.view_controls.set_mode(mode)
        shoot(window, name)
    window.view_controls.set_mode(ViewMode.SEAM)
    shoot(window, "mode-seam.jpg")
    window.view_controls.set_mode(ViewMode.PERSPECTIVE)
    sample = window.viewer.panorama.copy()
    editing_screenshots(window, sample, home, shoot, pump)
    viewer_screenshots(window, home, args.out, shoot, pump)
    window.close()
    pump(lambda: not window.worker.isRunning(), timeout=60)
    window.deleteLater()
    # A fresh profile: the first hour starts with an empty library and no settings, as on a new machine.
    first_hour = tempfile.mkdtemp(prefix="dit360-shots-first-hour-")
    os.environ["DIT360_HOME"] = first_hour
    first_hour_screenshots(MainWindow, sample, model, args.out, shoot, pump)
    os.environ["DIT360_HOME"] = tempfile.mkdtemp(prefix="dit360-shots-inspector-")
    inspector_screenshots(MainWindow, sample, model, args.out, shoot, pump)
    if args.skip_generating:
        return 0
    # The run goes into the first hour's library, so the strip shows its five panoramas.
    os.environ["DIT360_HOME"] = first_hour

    # 2. Generating: img2img from the sample with the tiny test model, captured mid-way.
    init = home / "sample.png"
    Image.fromarray(sample).save(init)
    window = MainWindow(Settings(model_dir=str(model)))
    window.confirm_stop = lambda: True
    window.resize(*SIZE)
    window.show()
    pump(lambda: window.viewer.panorama is not None, timeout=120)
    window.drop.open_path(init, offer_restore=False)
    window.prompt_panel.prompt_edit.setPlainText(
        "the same lake in deep winter, frozen surface, heavy snowfall, blue hour"
    )
    window.params_panel.set_size(1024, 512)
    # 15 denoising steps (strength 0.3 of 50): still denoising, with its ETA, when the shot is taken.
    window.params_panel.steps.setValue(50)
    window.params_panel.strength.setValue(0.3)
    window.viewer.camera.look_at(-20.0, 4.0)
    previews: list[int] = []
    window.worker.preview_ready.connect(lambda job, preview: previews.append(job))
    window.generate()
    pump(lambda: len(previews) >= 3, timeout=600)
    shoot(window, "generating.jpg")
    window.cancel()
    window.close()
    pump(lambda: not window.worker.isRunning(), timeout=120)
    window.deleteLater()
    pump(seconds=0.2)
    return 0


def editing_screenshots(window, sample, home: Path, shoot, pump) -> None:
    """Edit mode (perspective and flat) and photo placement on the sample panorama."""
    from PIL import Image

    from dit360_desktop.panorama.placement import Placement
    from dit360_desktop.panorama.projection import equirect_to_perspective
    from dit360_desktop.ui.painting.brush import Brush, lonlat_to_direction
    from dit360_desktop.ui.viewer import ViewMode

    pano = home / "edit-source.png"
    Image.fromarray(sample).save(pano)
    editing = window.editing
    window.prompt_panel.prompt_edit.setPlainText(
        "a wooden cabin on the far shore, warm lights in the windows"
    )
    editing.edit.start(pano)
    model = editing.edit.model
    # A stroke along the far shore across the 0/360° seam, and a soft patch of sky.
    model.begin_stroke(lonlat_to_direction(150.0, 2.0), Brush(7.0, 0.8))
    for lon in (165.0, 180.0, -165.0, -150.0):
        model.continue_stroke(lonlat_to_direction(lon, 3.0))
    model.end_stroke()
    model.begin_stroke(lonlat_to_direction(-160.0, 35.0), Brush(14.0, 0.2))
    model.continue_stroke(lonlat_to_direction(170.0, 40.0))
    model.end_stroke()
    viewer = window.viewer
    viewer.edit_mask_rows_changed(0, model.height)
    editing.edit._show_state()
    viewer.camera.look_at(178.0, 8.0)
    width, height = viewer.input.viewport
    editing.edit.tool.hover(width * 0.62, height * 0.42)
    shoot(window, "edit-perspective.jpg")
    window.view_controls.set_mode(ViewMode.FLAT)
    viewer.camera.look_at(180.0, 0.0)
    editing.edit.tool.hover(width * 0.3, height * 0.5)
    shoot(window, "edit-flat.jpg")
    window.view_controls.set_mode(ViewMode.PERSPECTIVE)
    editing.edit.stop()

    # A "photo": a 4:3 view cut from the sample, placed to the left of where it was taken.
    photo = home / "photo.jpg"
    Image.fromarray(equirect_to_perspective(sample, 40.0, 5.0, 70.0, 800, 600)).save(photo, quality=92)
    window.prompt_panel.prompt_edit.setPlainText("a quiet alpine lake at sunset, pine forest, soft clouds")
    viewer.camera.look_at(10.0, 5.0)
    viewer.camera.fov = 110.0
    editing.placement.start(photo)
    editing.placement.tool.set_placement(Placement(yaw=0.0, pitch=8.0, roll=4.0, fov=70.0))
    pump(lambda: editing.placement.previews_shown >= 3 and editing.placement._preview_op is None, timeout=120)
    shoot(window, "place-photo.jpg")
    editing.placement.stop()


def viewer_screenshots(window, home: Path, out: Path, shoot, pump) -> None:
    """The drop zone, the readout and labelled grid, the flat view fitted and at 1:1, snapshot and export."""
    from PIL import Image
    from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent
    from PySide6.QtWidgets import QApplication

    from dit360_desktop.panorama.request import GenerationRequest
    from dit360_desktop.panorama.result import Result
    from dit360_desktop.ui.gallery.export_dialog import ExportDialog
    from dit360_desktop.ui.viewer import ViewMode
    from dit360_desktop.ui.viewer.controls import SnapshotDialog

    def save_widget(widget, name: str) -> None:
        pump(seconds=0.5)
        path = out / name
        if not widget.grab().toImage().save(str(path), "JPG", 88):
            raise OSError(f"could not write {path}")
        print(f"{path} ({path.stat().st_size // 1024} KB)")

    viewer = window.viewer
    window.view_controls.set_mode(ViewMode.PERSPECTIVE)
    viewer.camera.look_at(-20.0, 4.0)
    viewer.camera.fov = 90.0
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(home / "photo.jpg"))])
    enter = QDragEnterEvent(QPoint(400, 300), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)  # fmt: skip
    QApplication.sendEvent(window, enter)
    shoot(window, "drop-highlight.jpg")
    QApplication.sendEvent(window, QDragLeaveEvent())
    pump(lambda: not window.drop.highlighted, timeout=10)

    viewer.camera.look_at(-35.0, 12.0)
    viewer.camera.fov = 100.0
    window.view_controls.grid_action.setChecked(True)
    shoot(window, "viewer-readout.jpg")
    window.view_controls.grid_action.setChecked(False)

    window.view_controls.fit_action.trigger()
    shoot(window, "flat-fit.jpg")
    window.view_controls.actual_pixels_action.trigger()
    viewer.camera.look_at(170.0, 8.0)
    shoot(window, "flat-actual-pixels.jpg")
    window.view_controls.set_mode(ViewMode.PERSPECTIVE)
    viewer.camera.look_at(-20.0, 4.0)
    viewer.camera.fov = 80.0

    snapshot = SnapshotDialog(viewer, str(home), window)
    snapshot.form.set_format("jpeg")
    snapshot.show()
    snapshot.form.update_preview()
    save_widget(snapshot, "snapshot-dialog.jpg")
    snapshot.close()

    request = GenerationRequest("This is a panorama image. a quiet alpine lake at sunset", seed=7)
    entry = window.gallery.library.save(
        Result(image=Image.fromarray(viewer.panorama), request=request,
               metadata={}, latent=None)
    )  # fmt: skip
    export = ExportDialog(entry, window, initial_format="perspective", folder=home, view=viewer.camera.view)
    export.view_form.preset.setCurrentIndex(3)  # phone wallpaper
    export.show()
    export.view_form.update_preview()
    save_widget(export, "export-preview.jpg")
    export.close()


def first_hour_screenshots(window_class, sample, tiny_model: Path, out: Path, shoot, pump) -> None:
    """First run without models, the model manager from the banner, a refused folder, the gallery strip
    and the queue with finished jobs, and Settings; at 1440×880, the size the review used."""
    import numpy as np
    from PIL import Image

    from dit360_desktop.panorama.request import GenerationRequest
    from dit360_desktop.panorama.result import Result
    from dit360_desktop.settings import Settings
    from dit360_desktop.ui.common.jobs import FinishedJob
    from dit360_desktop.ui.model_manager import dialog as manager
    from dit360_desktop.ui.settings_dialog import SettingsDialog
    from dit360_desktop.ui.widgets import dialogs

    def save_widget(widget, name: str) -> None:
        pump(seconds=0.5)
        path = out / name
        if not widget.grab().toImage().save(str(path), "JPG", 88):
            raise OSError(f"could not write {path}")
        print(f"{path} ({path.stat().st_size // 1024} KB)")

    window = window_class(Settings(), start_worker=False)
    window.confirm_stop = lambda: True
    window.resize(1440, 880)
    window.show()
    pump(lambda: window.viewer.panorama is not None and window.gallery is not None, timeout=120)
    window.viewer.camera.look_at(-20.0, 4.0)
    shoot(window, "first-run.jpg")

    opened = []
    manager.ModelManagerDialog.exec = lambda self: opened.append(self) or self.show() or 0
    window.model_banner.setup_button.click()
    dialog = opened[0]
    pump(lambda: dialog.selected_component() == "flux1-dev", timeout=30)
    save_widget(dialog, "model-manager-first-run.jpg")
    dialog.close()

    dialogs.choose_folder = lambda *a, **k: tiny_model
    window.app_actions.model_folder.trigger()
    save_widget(window.last_error_dialog, "model-folder-refused.jpg")
    window.last_error_dialog.close()

    prompts = (
        "a quiet alpine lake at sunset",
        "the same lake in deep winter",
        "the lake at night under the milky way",
        "autumn colours around the lake",
        "the lake in thick morning fog",
    )
    tints = ((1.0, 1.0, 1.0), (0.8, 0.9, 1.25), (0.35, 0.4, 0.7), (1.2, 0.9, 0.6), (0.95, 0.95, 0.95))
    for index, (prompt, tint) in enumerate(zip(prompts, tints, strict=True)):
        image = np.clip(sample.astype(np.float32) * np.array(tint, np.float32), 0, 255).astype(np.uint8)
        request = GenerationRequest(
            f"This is a panorama image. {prompt}", seed=1000 + index, width=2048, height=1024
        )
        metadata = {"timings": {"denoising": 41.5 + index}}
        entry = window.gallery.library.save(
            Result(image=Image.fromarray(image), request=request, metadata=metadata, latent=None)
        )
        window.gallery.add_entry(entry)
        window.queue_panel.add_finished(FinishedJob(index, request, image, metadata))
    window.gallery.select_entry(entry.id)
    shoot(window, "gallery-grid.jpg")

    settings = SettingsDialog(window.settings, window, library_dir=window.library_dir, library_count=5)
    settings.show()
    save_widget(settings, "settings.jpg")
    settings.close()
    window.close()
    pump(seconds=0.2)
    window.deleteLater()


# What ``dit360 repair`` records (history/repair): the seam and pole scores before and after, what it kept.
REPAIR_BLOCK = {
    "seam_before": 0.8912,
    "seam_after": 0.3121,
    "poles_before": [0.89, 0.86],
    "poles_after": [0.41, 0.9],
    "applied": ["seam", "top pole"],
    "notes": ["The bottom pole repair would have raised its score; not applied."],
}


def inspector_screenshots(window_class, sample, tiny_model: Path, out: Path, shoot, pump) -> None:
    """At 1280×720: the history inspector on a repair of an edit (lineage links, scores before/after) with
    a finished and a cancelled row in the queue; edit mode with its one "Run edit" and the prompt pinned
    above the scrolling panel; and the model manager after "Make an offline pack…"."""
    import numpy as np
    from PIL import Image

    from dit360_desktop.history.library import Library
    from dit360_desktop.models.importer import COPY, import_model
    from dit360_desktop.panorama.request import GenerationRequest
    from dit360_desktop.panorama.result import Result
    from dit360_desktop.settings import Settings
    from dit360_desktop.ui.common.jobs import FinishedJob
    from dit360_desktop.ui.model_manager.dialog import ModelManagerDialog
    from dit360_desktop.ui.painting.brush import Brush, lonlat_to_direction

    home = Path(os.environ["DIT360_HOME"])
    folder = home / "library"
    mask = home / "mask.png"
    height, width = sample.shape[:2]
    mask_pixels = np.zeros((height, width), np.uint8)
    mask_pixels[height * 2 // 5 : height * 3 // 5, width * 3 // 8 : width * 5 // 8] = 255
    Image.fromarray(mask_pixels).save(mask)
    winter = np.clip(sample.astype(np.float32) * np.array((0.8, 0.9, 1.25), np.float32), 0, 255)
    winter = winter.astype(np.uint8)
    base = GenerationRequest(
        "This is a panorama image. a quiet alpine lake at sunset", seed=1000, width=2048, height=1024
    )
    timings = {"timings": {"denoising": 41.5}}
    with Library.open(folder) as library:
        parent = library.save(Result(Image.fromarray(sample), base, dict(timings)))
        edit_request = base.replace(
            prompt="This is a panorama image. a wooden cabin on the far shore",
            init_image=str(parent.path), mask_image=str(mask), edit_method="blend", seed=1001,
        )  # fmt: skip
        edit = library.save(Result(Image.fromarray(winter), edit_request, dict(timings)))
        repair_request = edit_request.replace(init_image=str(edit.path))
        repair = library.save(
            Result(Image.fromarray(winter), repair_request, {**timings, "repair": REPAIR_BLOCK})
        )

    window = window_class(Settings(library_dir=str(folder)), start_worker=False)
    window.confirm_stop = lambda: True
    window.resize(1280, 720)
    window.show()
    pump(lambda: window.viewer.panorama is not None and window.gallery is not None, timeout=120)
    gallery = window.gallery
    pump(lambda: gallery.model.row_of(repair.id) is not None, timeout=60)
    window.queue_panel.add_finished(FinishedJob(1, base, sample, dict(timings)))
    cancelled = base.replace(prompt="This is a panorama image. the lake in thick morning fog", seed=1002)
    window.queue_panel.add_cancelled(2, cancelled)
    if not gallery.select_entry(repair.id):
        raise RuntimeError("the repaired entry is not in the gallery")
    window.viewer.camera.look_at(-20.0, 4.0)
    gallery.model.loader.wait_idle()
    shoot(window, "history-inspector.jpg")

    editing = window.editing
    window.prompt_panel.prompt_edit.setPlainText(
        "a wooden cabin on the far shore, warm lights in the windows"
    )
    editing.edit.start(parent.path)
    pump(lambda: editing.edit.model is not None, timeout=60)
    model = editing.edit.model
    model.begin_stroke(lonlat_to_direction(-40.0, 2.0), Brush(7.0, 0.8))
    for lon in (-30.0, -20.0, -10.0):
        model.continue_stroke(lonlat_to_direction(lon, 3.0))
    model.end_stroke()
    window.viewer.edit_mask_rows_changed(0, model.height)
    editing.edit._show_state()
    window.viewer.camera.look_at(-25.0, 4.0)
    shoot(window, "edit-run.jpg")
    editing.edit.stop()

    models = home / "models"
    import_model(tiny_model, mode=COPY, models_dir=models)
    drive = home / "usb"
    drive.mkdir()
    manager = ModelManagerDialog(window, models)
    manager.resize(980, 600)
    manager.show()
    pump(lambda: manager.table.rowCount() > 0, timeout=30)
    manager.make_pack_in(drive)
    pump(lambda: any("Wrote an offline pack" in text for text, _ in manager.messages), timeout=120)
    pump(lambda: manager.pack_button.isEnabled(), timeout=30)
    pump(seconds=0.5)
    path = out / "model-manager-pack.jpg"
    if not manager.grab().toImage().save(str(path), "JPG", 88):
        raise OSError(f"could not write {path}")
    print(f"{path} ({path.stat().st_size // 1024} KB)")
    manager.shutdown()
    manager.close()
    window.close()
    pump(seconds=0.2)
    window.deleteLater()


if __name__ == "__main__":
    sys.exit(main())
