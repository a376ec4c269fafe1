"""#21 item 10: the status bar's device is detected without a model ("Device: detecting…" resolved)."""

from __future__ import annotations

from dit360_desktop.ui.common.jobs import ModelState


def test_the_device_is_reported_when_no_model_is_installed(qtbot, make_worker, tmp_path) -> None:
    worker = make_worker(model_dir=tmp_path / "no-model-here")
    devices, states = [], []
    worker.device_changed.connect(devices.append)
    worker.model_state_changed.connect(states.append)
    worker.start()
    with qtbot.waitSignal(worker.preload_finished, timeout=120_000):
        worker.preload()
    assert ModelState.MISSING in states
    assert devices and devices[-1].split(" ")[0] in ("cpu", "cuda", "mps", "xpu")
