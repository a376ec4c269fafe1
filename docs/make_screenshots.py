"""Save screenshots of the main window to docs/screenshots/ (JPEG, about 100–200 KB each).

- ``main-window.jpg``: first start, no model installed: the procedural sample panorama in perspective;
- ``generating.jpg``: a generation running with its live preview (img2img from the sample, so the preview
  is recognisable even with the random-weight test model this script uses);
- ``mode-little-planet.jpg``, ``mode-flat.jpg``, ``mode-seam.jpg``: the other viewer modes.

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
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="dit360-shots-"))
    os.environ["DIT360_HOME"] = str(home)

    from dit360_desktop.testing.tiny_flux import build_tiny_flux

    model = (args.cache or home) / "FLUX.1-dev"
    if not (model / "model_index.json").is_file():
        build_tiny_flux(model)

    from PIL import Image
    from PySide6.QtWidgets import QApplication

    from dit360_desktop.app import apply_theme
    from dit360_desktop.settings import Settings
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
    window.close()
    pump(lambda: not window.worker.isRunning(), timeout=60)
    window.deleteLater()

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
    window.params_panel.steps.setValue(24)
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


if __name__ == "__main__":
    sys.exit(main())
