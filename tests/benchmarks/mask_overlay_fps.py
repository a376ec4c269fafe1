"""The edit mask's red tint in the viewer: frame cost with the mask against the same view without it.

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python tests/benchmarks/mask_overlay_fps.py

Measured in one run, per view mode, with ``viewer_fps.render_only_ms`` (the viewer's draw into a
1280×720 framebuffer, finished with glFinish): milliseconds per frame without the mask (the baseline)
and with an 8192×4096 mask (the MASK shader variant), and their ratio. Then the upload a brush stroke
causes: a 160-row band of the mask (what a 7° stroke touches at 8192×4096), against uploading the whole
mask.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).parent))

from viewer_fps import HEIGHT, VIEWS, WIDTH, big_panorama, render_only_ms

from dit360_desktop.ui.painting.brush import Brush, lonlat_to_direction
from dit360_desktop.ui.painting.mask_model import MaskModel
from dit360_desktop.ui.viewer import create_viewer, prepare_application_opengl
from dit360_desktop.ui.viewer.render_settings import draw_settings


def upload_ms(viewer, top: int, bottom: int, repeat: int) -> float:
    from OpenGL import GL

    times = []
    viewer.gl_window().makeCurrent()
    try:
        for _ in range(repeat):
            viewer.renderer.mask.mark_rows(top, bottom)
            start = time.perf_counter()
            viewer.renderer.mask.sync(viewer.renderer.max_texture_size)
            GL.glFinish()
            times.append(time.perf_counter() - start)
    finally:
        viewer.gl_window().doneCurrent()
    return 1000 * float(np.median(times))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--panorama-width", type=int, default=8192)
    args = parser.parse_args()
    prepare_application_opengl()
    app = QApplication(sys.argv)
    width = args.panorama_width
    viewer = create_viewer()
    if not hasattr(viewer, "renderer"):
        print(f"OpenGL viewer unavailable: {viewer.failure}", file=sys.stderr)
        return 1
    viewer.resize(WIDTH, HEIGHT)
    viewer.show()
    while viewer.renderer is None or not viewer.renderer.initialized:
        app.processEvents()
    viewer.set_panorama(big_panorama(width))
    viewer.snapshot(16, 16)
    model = MaskModel(width, width // 2)
    model.begin_stroke(lonlat_to_direction(-40.0, 0.0), Brush(20.0, 0.5))
    model.continue_stroke(lonlat_to_direction(60.0, 30.0))
    model.end_stroke()
    size = f"{width}×{width // 2}"
    print(f"renderer: {viewer.renderer.renderer_name}; panorama and mask {size}, view {WIDTH}×{HEIGHT}")
    print(f"{'mode':<16}{'no mask ms':>12}{'mask ms':>10}{'× no mask':>11}")
    for mode, (yaw, pitch, fov) in VIEWS.items():
        viewer.camera.set_mode(mode)
        viewer.camera.fov = fov
        viewer.camera.look_at(yaw, pitch)
        settings = draw_settings(viewer.camera.view)
        viewer.set_edit_mask(None)
        plain, _ = render_only_ms(viewer, settings, args.frames)
        viewer.set_edit_mask(model.array)
        masked, _ = render_only_ms(viewer, settings, args.frames)
        print(f"{mode.value:<16}{plain:>12.2f}{masked:>10.2f}{masked / plain:>11.2f}")
    band = upload_ms(viewer, 1900, 2060, 5)
    whole = upload_ms(viewer, 0, width // 2, 3)
    print(f"mask upload after a stroke (160 rows): {band:.2f} ms; whole mask: {whole:.2f} ms", end="")
    print(f" (×{band / whole:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
