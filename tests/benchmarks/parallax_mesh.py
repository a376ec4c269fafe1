"""Frame time of the parallax preview's mesh against the sphere view, same viewer, same size, same run.

Run under an X server (Mesa llvmpipe here):
    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python tests/benchmarks/parallax_mesh.py

A 2048×1024 synthetic room with a near box (true distance), its mesh built by the GLB writer
(``panorama/mesh3d.build_mesh``, depth edges cut) at strides 1, 2 and 4 (stride 1 is capped at the GLB's
1 M faces). Each figure is the median time of ``viewer.snapshot(1280, 720)`` (draw into a framebuffer and
read back) over ``--repeats`` frames with the eye moved between frames; the baseline is the same call with
no mesh (the per-pixel sphere view), so the ratio is what the mesh costs per frame. Also the one-off mesh
build time (off the UI thread in the app).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from PySide6.QtWidgets import QApplication

from dit360_desktop.panorama.mesh3d import build_mesh
from dit360_desktop.ui.viewer import prepare_application_opengl
from dit360_desktop.ui.viewer.gl_widget import PanoramaViewer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout, for the tests' room
from tests.ui.depth.test_parallax_mesh import room_with_box

WIDTH, HEIGHT = 1280, 720


def frame_times(app: QApplication, viewer: PanoramaViewer, repeats: int, move: bool) -> float:
    times = []
    layer = viewer.parallax_layer()
    for index in range(repeats):
        if move:
            layer.set_eye((0.01 * (index % 20), 0.0, 0.0))
        started = time.perf_counter()
        viewer.snapshot(WIDTH, HEIGHT)
        times.append(time.perf_counter() - started)
        app.processEvents()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    prepare_application_opengl()
    app = QApplication.instance() or QApplication(sys.argv)
    viewer = PanoramaViewer()
    viewer.resize(640, 360)
    viewer.show()
    while viewer.renderer is None or not viewer.renderer.initialized:
        app.processEvents()
    rgb, distance = room_with_box(2048, 1024)
    viewer.set_panorama(rgb)
    viewer.camera.look_at(20.0, 0.0)
    viewer.snapshot(WIDTH, HEIGHT)  # the panorama's upload, not timed
    report = {"renderer": viewer.renderer.renderer_name, "size": [WIDTH, HEIGHT]}
    sphere = frame_times(app, viewer, args.repeats, move=False)
    report["sphere_ms"] = round(1000 * sphere, 1)
    for stride in (4, 2, 1):
        started = time.perf_counter()
        mesh = build_mesh(distance, metric=True, stride=stride)
        built = time.perf_counter() - started
        viewer.parallax_layer().set_mesh(mesh, rgb)
        viewer.snapshot(WIDTH, HEIGHT)  # the mesh's upload, not timed
        drawn = frame_times(app, viewer, args.repeats, move=True)
        report[f"stride_{stride}"] = {
            "faces": mesh.summary.faces,
            "build_s": round(built, 2),
            "frame_ms": round(1000 * drawn, 1),
            "ratio_to_sphere": round(drawn / sphere, 2),
        }
        viewer.parallax_layer().set_mesh(None)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
