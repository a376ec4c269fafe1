"""The generation thread with the tiny FLUX model: queue, progress, cancel, unload, errors, saving."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from PySide6.QtCore import Qt

from dit360_desktop.panorama.errors import OutOfMemoryError
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.ui.common.jobs import ErrorKind, FinishedJob, JobStatus, ModelState


class Recorder:
    """Collects every worker signal in arrival order (signals are queued to this, the UI, thread)."""

    def __init__(self, worker) -> None:
        self.events: list[tuple] = []
        self.finished: list[FinishedJob] = []
        self.failed: dict[int, object] = {}
        self.cancelled: list[int] = []
        self.states: list[ModelState] = []
        self.ui_thread = threading.current_thread()
        self.off_thread = []
        worker.job_started.connect(lambda j, r: self._add("started", j))
        worker.stage_changed.connect(lambda j, event: self._add("stage", j, event.stage))
        worker.step_progress.connect(lambda j, event: self._add("step", j, event.step, event.total))
        worker.preview_ready.connect(lambda j, p: self._add("preview", j, p))
        worker.job_finished.connect(self._finished)
        worker.job_failed.connect(lambda j, r: (self.failed.__setitem__(j, r), self._add("failed", j)))
        worker.job_cancelled.connect(lambda j: (self.cancelled.append(j), self._add("cancelled", j)))
        worker.model_state_changed.connect(lambda s: (self.states.append(s), self._add("state", s)))

    def _add(self, *event) -> None:
        if threading.current_thread() is not self.ui_thread:
            self.off_thread.append(event[0])
        self.events.append(event)

    def _finished(self, finished: FinishedJob) -> None:
        self.finished.append(finished)
        self._add("finished", finished.job_id)

    def steps(self, job_id: int) -> list[int]:
        return [e[2] for e in self.events if e[0] == "step" and e[1] == job_id]


@pytest.fixture
def req(small_request):
    return small_request


def test_queue_runs_in_order_with_progress_previews_and_plain_signals(qtbot, make_worker, shared_engine, req):
    worker = make_worker(shared_engine)
    rec = Recorder(worker)
    ids = worker.enqueue_many([req(seed=11), req(seed=12)])
    assert [j.status for j in worker.snapshot()] == [JobStatus.QUEUED, JobStatus.QUEUED]
    worker.start()
    qtbot.waitUntil(lambda: len(rec.finished) == 2, timeout=90_000)

    assert [f.job_id for f in rec.finished] == ids
    first, second = rec.finished
    assert first.request.seed == 11 and second.request.seed == 12
    for finished in rec.finished:
        assert finished.image.shape == (128, 256, 3) and finished.image.dtype == np.uint8
        assert finished.image.flags["C_CONTIGUOUS"]
        assert finished.metadata["seed"] == finished.request.seed
        assert rec.steps(finished.job_id) == [1, 2]
    # Different seeds make different panoramas.
    assert not np.array_equal(first.image, second.image)
    previews = [e[2] for e in rec.events if e[0] == "preview"]
    assert len(previews) == 4
    assert all(p.ndim == 3 and p.shape[2] == 3 and p.dtype == np.uint8 for p in previews)
    # Each preview is a private copy: two are never the same buffer.
    assert len({id(p) for p in previews}) == len(previews)
    assert rec.off_thread == []
    assert worker.snapshot() == []
    assert rec.states[-1] == ModelState.READY


def test_queued_jobs_can_be_removed_and_reordered(qtbot, make_worker, shared_engine, req):
    worker = make_worker(shared_engine)
    rec = Recorder(worker)
    snapshots = []
    worker.queue_changed.connect(snapshots.append)
    a, b, c, d = worker.enqueue_many([req(seed=s, steps=1) for s in (1, 2, 3, 4)])
    assert worker.remove(b)
    assert not worker.remove(999)
    assert worker.move(d, -5)  # to the front
    assert worker.move(a, 1)
    assert not worker.move(a, 1)  # already last
    assert [j.job_id for j in worker.snapshot()] == [d, c, a]
    # One snapshot per change that happened (the refused remove and move publish nothing).
    assert [[j.job_id for j in snap] for snap in snapshots] == [[a, b, c, d], [a, c, d], [d, a, c], [d, c, a]]
    worker.start()
    qtbot.waitUntil(lambda: len(rec.finished) == 3, timeout=90_000)
    assert [f.job_id for f in rec.finished] == [d, c, a]
    assert b not in [e[1] for e in rec.events if e[0] == "started"]


def test_cancel_stops_within_one_step(qtbot, make_worker, shared_engine, req):
    worker = make_worker(shared_engine)
    rec = Recorder(worker)
    steps_at_cancel = []

    def cancel_on_second_step(job_id, event):
        if event.step == 2 and not steps_at_cancel:
            steps_at_cancel.append((event.step, job_id, worker.cancel_current()))

    # Direct: the cancel lands during step 2 itself. Queued to a busy UI thread it would land some
    # unknown number of steps later, and the bound below would measure the machine's load.
    worker.step_progress.connect(cancel_on_second_step, Qt.ConnectionType.DirectConnection)
    job = worker.enqueue(req(steps=40))
    follow = worker.enqueue(req(seed=5, steps=1))
    worker.start()
    qtbot.waitUntil(lambda: job in rec.cancelled, timeout=90_000)
    assert steps_at_cancel == [(2, job, job)]
    # The engine checks the token every step: at most the step in flight completes after the cancel.
    assert max(rec.steps(job)) <= steps_at_cancel[0][0] + 1
    assert job not in [f.job_id for f in rec.finished]
    assert job not in rec.failed
    # The queue goes on with the next job, and the engine stays loaded.
    qtbot.waitUntil(lambda: [f.job_id for f in rec.finished] == [follow], timeout=60_000)
    assert shared_engine.is_loaded


def test_cancel_while_loading_keeps_ui_responsive_and_discards_the_load(
    qtbot, make_worker, tiny_flux_dir, gated_engine, req
):
    engine = gated_engine(tiny_flux_dir, honour_cancel=False)
    worker = make_worker(engine=engine, unload_on_stop=True)
    rec = Recorder(worker)
    job = worker.enqueue(req())
    worker.start()
    assert engine.load_started.wait(30)
    qtbot.waitUntil(lambda: ModelState.LOADING in rec.states)

    assert worker.cancel_current() == job
    assert [j.status for j in worker.snapshot()] == [JobStatus.CANCELLING]
    # The UI thread keeps running its event loop while the worker is stuck in the load: timer events are
    # delivered while the load still waits at its gate (how long a gap may be is a benchmark's question,
    # tests/benchmarks/ui_responsiveness.py, not this test's).
    ticks = []
    qtbot.waitUntil(lambda: (ticks.append(time.perf_counter()), len(ticks) > 20)[1], timeout=30_000)
    assert not engine.gate.is_set() and worker.isRunning() and not engine.is_loaded
    assert [j.status for j in worker.snapshot()] == [JobStatus.CANCELLING]

    engine.gate.set()  # the load now runs to the end without seeing the cancel
    qtbot.waitUntil(lambda: job in rec.cancelled, timeout=120_000)
    assert not engine.is_loaded, "a load finished after its job was cancelled must be thrown away"
    assert rec.states[-1] == ModelState.NOT_LOADED
    assert rec.finished == [] and rec.failed == {}


def test_cancel_while_loading_stops_a_cancellable_load_early(
    qtbot, make_worker, tiny_flux_dir, gated_engine, req
):
    engine = gated_engine(tiny_flux_dir, honour_cancel=True)
    worker = make_worker(engine=engine, unload_on_stop=True)
    rec = Recorder(worker)
    job = worker.enqueue(req())
    worker.start()
    assert engine.load_started.wait(30)
    worker.cancel_current()
    engine.gate.set()
    qtbot.waitUntil(lambda: job in rec.cancelled, timeout=30_000)
    assert not engine.is_loaded
    assert rec.states[-1] == ModelState.NOT_LOADED


def test_unload_models_frees_the_engine(qtbot, make_worker, tiny_flux_dir, req):
    from dit360_desktop.core.engine import PanoramaEngine

    engine = PanoramaEngine(tiny_flux_dir)
    worker = make_worker(engine=engine, unload_on_stop=True)
    rec = Recorder(worker)
    worker.start()
    worker.enqueue(req(steps=1))
    qtbot.waitUntil(lambda: len(rec.finished) == 1, timeout=120_000)
    assert engine.is_loaded
    worker.unload_models()
    # Unloading ends in a garbage collection that takes seconds on a loaded machine.
    qtbot.waitUntil(lambda: rec.states[-1] == ModelState.NOT_LOADED, timeout=60_000)
    assert not engine.is_loaded


def test_missing_model_is_reported_as_model_missing(qtbot, make_worker, tmp_path, req):
    worker = make_worker(model_dir=tmp_path / "no-such-model")
    rec = Recorder(worker)
    job = worker.enqueue(req())
    worker.start()
    qtbot.waitUntil(lambda: job in rec.failed, timeout=120_000)
    report = rec.failed[job]
    assert report.kind is ErrorKind.MODEL_MISSING
    assert "no-such-model" in report.message and "Traceback" not in report.message
    assert "ModelMissingError" in report.details
    assert rec.states[-1] == ModelState.MISSING


def test_out_of_memory_is_reported_plainly(qtbot, make_worker, shared_engine, req):
    from dit360_desktop.core.engine import PanoramaEngine

    class OomEngine:
        """The shared real engine, except that running raises the engine's out-of-memory error."""

        def __getattr__(self, name):
            return getattr(shared_engine, name)

        def run(self, request, on_event=None, cancel=None):
            raise OutOfMemoryError(
                "The device ran out of memory. Lower the size, or choose a lower memory tier."
            )

    assert isinstance(shared_engine, PanoramaEngine)
    worker = make_worker(OomEngine())
    rec = Recorder(worker)
    job = worker.enqueue(req())
    worker.start()
    qtbot.waitUntil(lambda: job in rec.failed, timeout=60_000)
    report = rec.failed[job]
    assert report.kind is ErrorKind.OUT_OF_MEMORY
    assert report.title == "Out of memory"
    assert report.message.startswith("The device ran out of memory")
    assert "Traceback" in report.details and "Traceback" not in report.message


def test_bad_request_names_the_field(qtbot, make_worker, shared_engine):
    worker = make_worker(shared_engine)
    rec = Recorder(worker)
    job = worker.enqueue(GenerationRequest("a lake", width=250, height=128, steps=1))
    worker.start()
    qtbot.waitUntil(lambda: job in rec.failed, timeout=60_000)
    report = rec.failed[job]
    assert report.kind is ErrorKind.BAD_REQUEST
    assert report.field == "width"
    assert "multiple of 16" in report.message


def test_unexpected_exception_keeps_the_traceback_out_of_the_message(qtbot, make_worker, shared_engine, req):
    class BrokenOnce:
        """The shared real engine, except that its first run fails with a programming error."""

        calls = 0

        def __getattr__(self, name):
            return getattr(shared_engine, name)

        def run(self, request, on_event=None, cancel=None):
            self.calls += 1
            if self.calls == 1:
                raise KeyError("transformer.blocks.0")
            return shared_engine.run(request, on_event, cancel)

    worker = make_worker(BrokenOnce())
    rec = Recorder(worker)
    job, nxt = worker.enqueue_many([req(), req(steps=1)])
    worker.start()
    qtbot.waitUntil(lambda: job in rec.failed, timeout=60_000)
    report = rec.failed[job]
    assert report.kind is ErrorKind.INTERNAL
    assert "transformer.blocks.0" not in report.message and "KeyError" in report.details
    # The thread survives and runs the next job.
    qtbot.waitUntil(lambda: [f.job_id for f in rec.finished] == [nxt], timeout=60_000)


def test_results_are_saved_to_the_library_from_the_worker_thread(
    qtbot, make_worker, shared_engine, tmp_path, req
):
    from dit360_desktop.history.library import Library

    opened_in = []

    def open_library():
        opened_in.append(threading.current_thread().name)
        return Library.open(tmp_path / "library")

    worker = make_worker(shared_engine, store_factory=open_library)
    rec = Recorder(worker)
    worker.enqueue(req(seed=77, steps=1))
    worker.start()
    qtbot.waitUntil(lambda: len(rec.finished) == 1, timeout=60_000)
    finished = rec.finished[0]
    assert finished.save_error is None
    assert opened_in == ["GenerationWorker"]
    saved = Path(finished.saved_path)
    assert saved.is_file() and saved == finished.entry.path
    worker.stop()
    assert worker.wait(30_000)
    with Library.open(tmp_path / "library") as library:
        entries = library.search()
        assert [e.seed for e in entries] == [77]


def test_stop_cancels_the_running_job_and_drops_the_queue(qtbot, make_worker, shared_engine, req):
    worker = make_worker(shared_engine)
    rec = Recorder(worker)
    # Direct: stop() during the first step, however late the UI thread would see a queued event.
    worker.step_progress.connect(lambda *a: worker.stop(), Qt.ConnectionType.DirectConnection)
    worker.enqueue_many([req(steps=40), req(seed=2)])
    worker.start()
    qtbot.waitUntil(worker.isFinished, timeout=60_000)
    assert rec.finished == []
    assert worker.snapshot() == []
    assert not worker.is_busy


def test_preview_events_stop_after_cancel(qtbot, make_worker, shared_engine, req):
    worker = make_worker(shared_engine)
    rec = Recorder(worker)
    # Direct: the cancel lands while the first preview is sent, however late the UI thread would see it.
    worker.preview_ready.connect(lambda j, p: worker.cancel_current(), Qt.ConnectionType.DirectConnection)
    job = worker.enqueue(req(steps=30))
    worker.start()
    qtbot.waitUntil(lambda: job in rec.cancelled, timeout=60_000)
    previews = [e for e in rec.events if e[0] == "preview"]
    assert len(previews) <= 2


def test_preload_imports_the_model_libraries_then_says_so(qtbot, make_worker, shared_engine, monkeypatch):
    """The first generation must not pay for importing diffusers/transformers/PEFT (seconds of GIL-heavy
    work that stalls the window); preload does it while the app is idle and signals when done."""
    from dit360_desktop.core import engine as engine_module

    imported = []
    monkeypatch.setattr(engine_module, "import_model_libraries", lambda: imported.append(True))
    worker = make_worker(shared_engine)
    worker.start()
    with qtbot.waitSignal(worker.preload_finished, timeout=60_000):
        worker.preload()
    assert imported == [True]
    # What the import loaded is kept for the next start's load_ahead (core/native_libraries.py).
    from dit360_desktop.ui.generation.worker import native_files_record

    record = json.loads(native_files_record().read_text(encoding="utf-8"))
    assert record["executable"] == sys.executable
    assert any(Path(f).name.startswith("_C.") for f in record["extension_modules"])  # torch's binding


def test_preload_finishes_even_when_the_engine_cannot_be_made(qtbot, make_worker):
    def broken_factory(_model_dir, _options):
        raise RuntimeError("no engine today")

    worker = make_worker(engine_factory=broken_factory)
    errors = []
    worker.engine_error.connect(errors.append)
    worker.start()
    with qtbot.waitSignal(worker.preload_finished, timeout=60_000):
        worker.preload()
    qtbot.waitUntil(lambda: len(errors) == 1)


def test_import_model_libraries_imports_what_a_load_uses() -> None:
    import sys

    from dit360_desktop.core.engine import import_model_libraries

    import_model_libraries()
    for module in (
        "diffusers.models.transformers.transformer_flux",
        "diffusers.models.autoencoders.autoencoder_kl",
        "transformers.models.t5.modeling_t5",
        "transformers.models.clip.modeling_clip",
        "peft",
    ):
        assert module in sys.modules, module


def test_the_worker_only_runs_requests_and_the_engine_loads_the_requested_tier(
    qtbot, make_worker, shared_engine, req
):
    runs = []

    class Spy:
        """The shared real engine, recording what the worker asks of it."""

        def __getattr__(self, name):
            return getattr(shared_engine, name)

        def load(self, *args, **kwargs):
            raise AssertionError("the worker must not load the engine itself; run() does")

        def run(self, request, on_event=None, cancel=None):
            runs.append(request)
            return shared_engine.run(request, on_event, cancel)

    worker = make_worker(Spy())
    rec = Recorder(worker)
    job = worker.enqueue(req(tier="cpu"))
    worker.start()
    qtbot.waitUntil(lambda: len(rec.finished) == 1, timeout=60_000)
    assert rec.finished[0].job_id == job and rec.failed == {}
    assert [r.tier for r in runs] == ["cpu"]
    assert shared_engine.tier.requested == "cpu" and shared_engine.tier.name == "cpu"


def test_out_of_memory_in_the_first_load_steps_down_a_tier_as_the_cli_does(
    qtbot, make_worker, tiny_flux_dir, req, monkeypatch, tmp_path
):
    """The app's first load goes through PanoramaEngine.run, so running out of memory while loading the
    automatic tier steps down exactly as `dit360 generate` does: same tier, same note, same picture."""
    from dit360_desktop.cli import main as cli_main
    from dit360_desktop.core import tiers
    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.core.threads import configure_compute_threads
    from dit360_desktop.panorama.imageio import read_metadata

    # Both runs compute with the command line's thread count. An earlier app worker in this process
    # (default_engine_factory) set torch's count to one core fewer from its own thread: new threads such
    # as this test's worker start with that count, this (main) thread kept its own, and a matmul split
    # over another number of threads rounds differently, so the pictures differed in a few pixels.
    configure_compute_threads(keep_a_core_for_the_ui=False)
    monkeypatch.setattr(tiers, "choose_tier", lambda *args: "full")
    original = tiers.place_component
    attempts = []

    def full_does_not_fit(name, module, plan):
        if name == "transformer":
            attempts.append(plan.name)
            if plan.name == "full":
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 22.00 GiB")
        return original(name, module, plan)

    monkeypatch.setattr(tiers, "place_component", full_does_not_fit)
    engine = PanoramaEngine(tiny_flux_dir)
    worker = make_worker(engine=engine, unload_on_stop=True)
    rec = Recorder(worker)
    worker.enqueue(req(seed=5))
    worker.start()
    qtbot.waitUntil(lambda: len(rec.finished) == 1 or bool(rec.failed), timeout=120_000)
    assert rec.failed == {}
    app = rec.finished[0]
    note = "The full tier did not fit in memory; using the 24gb tier."
    assert attempts == ["full", "24gb"]
    assert app.metadata["memory_tier"]["tier"] == "24gb" and note in app.metadata["warnings"]
    assert rec.states[-1] == ModelState.READY

    attempts.clear()
    out = tmp_path / "cli.png"
    code = cli_main([
        "generate", "--prompt", app.request.prompt, "--model", str(tiny_flux_dir), "--seed", "5",
        "--width", "256", "--height", "128", "--steps", "2", "--no-history", "--quiet", "--output", str(out),
    ])  # fmt: skip
    assert code == 0
    assert attempts == ["full", "24gb"]
    cli = read_metadata(out).dit360
    assert cli["memory_tier"]["tier"] == "24gb" and note in cli["warnings"]
    assert np.array_equal(np.asarray(Image.open(out).convert("RGB")), app.image)


def test_new_engine_options_build_a_fresh_engine(qtbot, make_worker):
    from dit360_desktop.ui.generation.worker import EngineOptions

    class Idle:
        """An engine that never loads: enough to see when the worker builds one."""

        is_loaded = False
        device_name = "cpu"

        def unload(self) -> None:
            raise AssertionError("nothing was loaded")

        def memory_in_use(self) -> int:
            return 0

    made = []

    def factory(model_dir, options):
        made.append(options)
        return Idle()

    worker = make_worker(engine_factory=factory)
    worker.start()
    faster = EngineOptions(compile=True, fuse_lora=True)
    for options in (None, faster, faster):
        if options is not None:
            worker.set_engine_options(options)
        with qtbot.waitSignal(worker.preload_finished, timeout=60_000):
            worker.preload()
    assert made == [EngineOptions(), faster], "the same options keep the engine"
