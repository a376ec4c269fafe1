"""Fixtures for the app's UI tests: one tiny FLUX engine shared by every worker, and worker factories.

Sharing a loaded engine keeps the suite fast: the tiny model loads once per session. Each test gets its
own GenerationWorker thread (the product's), told not to unload the shared engine when it stops.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dit360_desktop.panorama.events import CancelToken
from dit360_desktop.ui.viewer import prepare_application_opengl

# As the app does before its QApplication exists (shared GL contexts, core-profile default format).
prepare_application_opengl()


@pytest.fixture(scope="session", autouse=True)
def app_theme(qapp) -> None:
    """The app's own look (Fusion, the dark palette, style.qss), as ``app.main`` sets it before the
    window: layouts are tested at the sizes the app's styles give, and screenshots look like the app."""
    from dit360_desktop.ui.theme import apply_theme

    apply_theme(qapp)


@pytest.fixture
def small_request() -> Callable:
    """Requests at 256×128 with 2 steps: a tiny-model run takes about a second."""
    from dit360_desktop.panorama.request import GenerationRequest

    def make(seed: int = 1, steps: int = 2, **changes) -> GenerationRequest:
        values = {"width": 256, "height": 128, "steps": steps, "seed": seed, **changes}
        return GenerationRequest(values.pop("prompt", "a lake under mountains"), **values)

    return make


@pytest.fixture(scope="session")
def shared_engine(tiny_flux_dir: Path):
    from dit360_desktop.core.engine import PanoramaEngine

    engine = PanoramaEngine(tiny_flux_dir)
    engine.load()
    return engine


@pytest.fixture
def make_worker(qtbot) -> Iterator[Callable]:
    """Build GenerationWorkers (not started); every one is stopped and joined at teardown."""
    from dit360_desktop.ui.generation.worker import GenerationWorker

    made = []

    def factory(engine=None, *, model_dir: Path | None = None, **kwargs):
        if engine is not None:
            kwargs.setdefault("engine_factory", lambda _dir, _options: engine)
            kwargs.setdefault("unload_on_stop", False)
        worker = GenerationWorker(model_dir, **kwargs)
        made.append(worker)
        return worker

    yield factory
    for worker in made:
        worker.stop()
        assert worker.wait(60_000), "the generation thread did not stop"


@pytest.fixture
def gated_engine() -> Callable:
    return _gated_engine


def _gated_engine(model_dir: Path, *, honour_cancel: bool = True):
    """A real PanoramaEngine whose load first waits at a gate, to make "cancel while loading" repeatable.

    ``honour_cancel=False`` gives the real load no cancel token, like a load stuck in one long file read that
    cannot notice a cancel; the worker must then throw the finished, stale load away itself.
    """
    from dit360_desktop.core.engine import PanoramaEngine

    class GatedEngine(PanoramaEngine):
        def __init__(self, folder: Path) -> None:
            super().__init__(folder)
            self.gate = threading.Event()
            self.load_started = threading.Event()

        def load(self, on_event=None, cancel: CancelToken | None = None, **kwargs):
            self.load_started.set()
            assert self.gate.wait(60), "the test never opened the load gate"
            return super().load(on_event, cancel if honour_cancel else None, **kwargs)

    return GatedEngine(model_dir)
