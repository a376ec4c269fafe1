"""Look at a panorama in the viewer on its own, or save a screenshot of every mode.

python -m dit360_desktop.ui.viewer [IMAGE]                      # the sample scene without IMAGE
python -m dit360_desktop.ui.viewer [IMAGE] --screenshots DIR    # viewer-<mode>.jpg, then exit
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
from PySide6.QtCore import QElapsedTimer
from PySide6.QtWidgets import QApplication

from dit360_desktop.panorama.errors import DiT360Error
from dit360_desktop.ui.viewer import CameraView, ViewMode, create_viewer, prepare_application_opengl
from dit360_desktop.ui.viewer.sample_panorama import sample_panorama

log = logging.getLogger(__name__)

# (file stem, mode, yaw, pitch, fov, grid): framings that show each mode at its best on the sample.
SCREENSHOTS = (
    ("viewer-perspective", ViewMode.PERSPECTIVE, -28.0, 4.0, 95.0, False),
    ("viewer-perspective-grid", ViewMode.PERSPECTIVE, -28.0, 4.0, 95.0, True),
    ("viewer-little_planet", ViewMode.LITTLE_PLANET, -20.0, -90.0, 250.0, False),
    ("viewer-flat", ViewMode.FLAT, 0.0, 0.0, 360.0, False),
    ("viewer-flat-grid", ViewMode.FLAT, 0.0, 0.0, 360.0, True),
    ("viewer-seam", ViewMode.SEAM, 180.0, 0.0, 60.0, False),
)


def _load(path: str | None) -> np.ndarray:
    if path is None:
        return sample_panorama()
    from dit360_desktop.panorama.userimage import load_user_image

    return np.asarray(load_user_image(path))


def _wait_for_gl(app: QApplication, viewer, timeout_ms: int = 20_000) -> None:
    clock = QElapsedTimer()
    clock.start()
    while viewer.renderer is None or not viewer.renderer.initialized:
        if viewer.failure or clock.elapsed() > timeout_ms:
            raise DiT360Error(viewer.failure or "The viewer's OpenGL context did not start.")
        app.processEvents()


def save_screenshots(app: QApplication, viewer, folder: Path, width: int, height: int) -> list[Path]:
    """Snapshot every mode of ``SCREENSHOTS`` into ``folder`` as JPEG; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, mode, yaw, pitch, fov, grid in SCREENSHOTS:
        viewer.camera.set_mode(mode)
        viewer.camera.set_viewport(width, height)
        viewer.camera.fov = fov
        viewer.camera.look_at(yaw, pitch)
        viewer.set_grid_visible(grid)
        image = viewer.snapshot(width, height, overlays=True)
        path = folder / f"{stem}.jpg"
        if not image.save(str(path), "JPG", 88):
            raise DiT360Error(f"Could not write {path}; check that the folder is writable.")
        written.append(path)
        log.info("saved %s (%s)", path, CameraView(yaw, pitch, fov, mode))
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dit360_desktop.ui.viewer", description=__doc__.split("\n")[0]
    )
    parser.add_argument("image", nargs="?", help="an equirectangular panorama (PNG, JPEG, WebP, TIFF)")
    parser.add_argument(
        "--screenshots", type=Path, metavar="DIR", help="save viewer-<mode>.jpg here and exit"
    )
    parser.add_argument("--size", default="1280x720", help="screenshot size, WIDTHxHEIGHT (default 1280x720)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must look like 1280x720, not {args.size!r}")

    prepare_application_opengl()
    app = QApplication(sys.argv[:1])
    try:
        panorama = _load(args.image)
    except DiT360Error as e:
        sys.stderr.write(f"{e}\n")
        return 2
    viewer = create_viewer()
    viewer.setWindowTitle("DiT360 viewer")
    viewer.resize(width, height)
    viewer.set_panorama(panorama)
    viewer.show()
    if args.screenshots is None:
        return app.exec()
    try:
        _wait_for_gl(app, viewer)
        for path in save_screenshots(app, viewer, args.screenshots, width, height):
            sys.stdout.write(f"{path}\n")
    except DiT360Error as e:
        sys.stderr.write(f"{e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
