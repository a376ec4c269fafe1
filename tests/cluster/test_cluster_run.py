"""A real two-node Ray cluster on loopback (head + one more node, one CPU worker each), the tiny model.

One cluster serves the whole module. The main batch has six jobs; the worker running the long one is
SIGKILLed by pid mid-job. Every job must land in the library exactly once, with the pixels of a local run
of the same request, and a second run of the same file must skip all six.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ray = pytest.importorskip("ray", reason="the cluster extra (ray) is not installed")

from ray.cluster_utils import Cluster  # noqa: E402

from dit360_desktop.cli import main as cli_main  # noqa: E402
from dit360_desktop.cluster import events as ev  # noqa: E402
from dit360_desktop.cluster.driver import BatchDriver, ClusterOptions  # noqa: E402
from dit360_desktop.cluster.jobs import JobStatus, read_jobs_file  # noqa: E402
from dit360_desktop.cluster.worker_models import ModelSource  # noqa: E402
from dit360_desktop.history.library import Library  # noqa: E402
from dit360_desktop.panorama.result import JOB_ID_KEY  # noqa: E402

# The job whose worker is killed runs long enough (a few seconds) to be caught mid-denoising.
VICTIM_STEPS = 150


def _request(prompt: str, seed: int, lora: Path, steps: int = 2) -> dict:
    return {
        "prompt": prompt,
        "width": 128,
        "height": 64,
        "steps": steps,
        "seed": seed,
        "lora_path": str(lora),
        "device": "cpu",
        "dtype": "fp32",
        "tier": "cpu",
    }


@pytest.fixture(scope="module")
def cluster_addresses(tmp_path_factory: pytest.TempPathFactory):
    # The worker processes inherit this environment: keep their settings and models folders private.
    home = tmp_path_factory.mktemp("cluster-home")
    saved = {k: os.environ.get(k) for k in ("DIT360_HOME", "RAY_AUTH_MODE", "HF_HUB_OFFLINE")}
    os.environ["DIT360_HOME"] = str(home)
    os.environ["RAY_AUTH_MODE"] = "disabled"
    # Workers that download may reach a hub (the emulator below); the others never ask one.
    os.environ.pop("HF_HUB_OFFLINE", None)
    client_port = _free_port()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "ray_client_server_port": client_port},
    )
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    if saved["HF_HUB_OFFLINE"] is not None:
        os.environ["HF_HUB_OFFLINE"] = saved["HF_HUB_OFFLINE"]
    try:
        # The GCS address (HOST:PORT) and the Ray Client address (ray://HOST:PORT) of the same cluster.
        yield cluster.address, f"ray://127.0.0.1:{client_port}"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def cluster_address(cluster_addresses) -> str:
    return cluster_addresses[0]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def jobs_file(tmp_path_factory: pytest.TempPathFactory, tiny_lora_dir: Path) -> Path:
    folder = tmp_path_factory.mktemp("batch")
    lines = [_request(f"a panorama number {i}", 100 + i, tiny_lora_dir) for i in range(5)]
    lines.insert(2, _request("the long one", 7, tiny_lora_dir, steps=VICTIM_STEPS))
    # An edit: its panorama and mask live on the driver's disk only, and travel with the job as bytes.
    rng = np.random.default_rng(5)
    Image.fromarray(rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)).save(folder / "pano.png")
    mask = np.zeros((64, 128), dtype=np.uint8)
    mask[:, 40:90] = 255
    Image.fromarray(mask).save(folder / "mask.png")
    lines[4] = {**lines[4], "prompt": "an edit", "init_image": "pano.png", "mask_image": "mask.png"}
    path = folder / "jobs.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def first_run(cluster_address: str, jobs_file: Path, tiny_flux_dir: Path, tmp_path_factory):
    library_dir = tmp_path_factory.mktemp("library")
    jobs = read_jobs_file(jobs_file)
    victim = jobs[2].job_id
    events: list = []
    pids: dict[str, int] = {}
    killed: list[int] = []
    saved_counts: list[int] = []

    def on_event(event) -> None:
        events.append(event)
        if isinstance(event, ev.JobStarted):
            pids[event.job_id] = event.worker.pid
        elif isinstance(event, ev.JobStep) and event.job_id == victim and not killed:
            killed.append(pids[victim])
            os.kill(pids[victim], signal.SIGKILL)
        elif isinstance(event, ev.JobSaved):
            saved_counts.append(_rows(library_dir))

    options = ClusterOptions(
        address=cluster_address,
        model=ModelSource(model_dir=str(tiny_flux_dir)),
        retries=2,
        workers=2,
        # The killed worker is not replaced: one worker finishes the batch, on a 2-core test machine.
        replacements=0,
        preview_interval_s=0.2,
    )
    started = time.perf_counter()
    with Library.open(library_dir) as library:
        summary = BatchDriver(options, library, on_event=on_event).run(jobs)
    return {
        "summary": summary,
        "events": events,
        "jobs": jobs,
        "victim": victim,
        "killed": killed,
        "library": library_dir,
        "saved_counts": saved_counts,
        "seconds": time.perf_counter() - started,
    }


def _rows(library_dir: Path) -> int:
    """Entries in the index as another process sees them (a read-only connection)."""
    conn = sqlite3.connect(f"file:{library_dir / 'library.sqlite3'}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
    finally:
        conn.close()


def test_all_six_land_exactly_once(first_run) -> None:
    summary = first_run["summary"]
    assert [o.status for o in summary.outcomes] == [JobStatus.DONE] * 6, summary
    with Library.open(first_run["library"]) as library:
        entries = library.search()
    ids = sorted(e.metadata[JOB_ID_KEY] for e in entries)
    assert ids == sorted(job.job_id for job in first_run["jobs"])
    # Saved as each result arrived: at its k-th JobSaved event another reader already sees at least k rows,
    # and the first event comes before the batch is done (the saver threads may land two rows between
    # two events on a loaded machine, so the exact sequence 1…6 is not promised).
    counts = first_run["saved_counts"]
    assert len(counts) == 6 and counts == sorted(counts) and counts[-1] == 6
    assert all(seen >= k for k, seen in enumerate(counts, 1))
    assert counts[0] < 6


def test_killed_worker_job_is_retried_on_the_other_worker(first_run) -> None:
    assert len(first_run["killed"]) == 1
    victim = first_run["victim"]
    outcome = next(o for o in first_run["summary"].outcomes if o.job_id == victim)
    assert outcome.attempts == 2
    started = [e for e in first_run["events"] if isinstance(e, ev.JobStarted) and e.job_id == victim]
    assert [e.attempt for e in started] == [1, 2]
    assert started[0].worker.pid == first_run["killed"][0]
    assert started[1].worker.pid != first_run["killed"][0]
    lost = [e for e in first_run["events"] if isinstance(e, ev.WorkerLost)]
    assert [e.worker.pid for e in lost] == first_run["killed"]
    failed = [e for e in first_run["events"] if isinstance(e, ev.JobFailed)]
    assert len(failed) == 1 and failed[0].retrying and "lost" in failed[0].reason


def test_progress_streams_back_per_job(first_run) -> None:
    steps = [e for e in first_run["events"] if isinstance(e, ev.JobStep)]
    stages = {e.stage for e in first_run["events"] if isinstance(e, ev.JobStage)}
    assert {"encoding", "preparing", "denoising", "decoding"} <= stages
    for job in first_run["jobs"]:
        if job.job_id != first_run["victim"]:
            assert [e.step for e in steps if e.job_id == job.job_id] == [1, 2]
    # The model loads once per worker (two started), not once per job (seven runs with the retry).
    loads = [
        e for e in first_run["events"] if isinstance(e, ev.JobStage) and e.message.startswith("Loading FLUX")
    ]
    assert 1 <= len(loads) <= 2
    previews = [e.preview for e in steps if e.preview is not None]
    # The engine's previews are at latent size (H/8 × W/8); they travel as JPEG and arrive as RGB arrays.
    assert previews and all(p.dtype == np.uint8 and p.shape == (8, 16, 3) for p in previews)


def test_cluster_pixels_equal_local_runs(first_run, tiny_flux_dir: Path) -> None:
    import torch

    from dit360_desktop.core.engine import PanoramaEngine

    with Library.open(first_run["library"]) as library:
        by_job = {e.metadata[JOB_ID_KEY]: e for e in library.search()}
    assert [job.request.is_edit for job in first_run["jobs"]].count(True) == 1
    engine = PanoramaEngine(tiny_flux_dir)
    # The workers run with one thread (Ray's num_cpus=1); so does the reference.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for job in first_run["jobs"]:
            entry = by_job[job.job_id]
            local = engine.run(job.request.replace(seed=entry.seed))
            with Image.open(entry.path) as saved:
                assert np.array_equal(np.asarray(saved.convert("RGB")), np.asarray(local.image)), job.job_id
            assert entry.params["lora_path"] == job.request.lora_path
            if job.request.mask_image is not None:
                # The library keeps its own copy of an edit's mask, as it does for a local edit.
                with (
                    Image.open(entry.params["mask_image"]) as kept,
                    Image.open(job.request.mask_image) as sent,
                ):
                    assert np.array_equal(np.asarray(kept.convert("L")), np.asarray(sent.convert("L")))
    finally:
        torch.set_num_threads(threads)
        engine.unload()


def test_resume_run_skips_all_six(first_run, jobs_file: Path, cluster_address: str, tiny_flux_dir, capsys):
    code = cli_main(
        [
            "batch",
            str(jobs_file),
            "--cluster",
            cluster_address,
            "--model",
            str(tiny_flux_dir),
            "--library",
            str(first_run["library"]),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "6 job(s): 0 done, 0 failed, 6 skipped" in out
    assert _rows(first_run["library"]) == 6


def test_interrupt_cancels_queued_and_stops_running_jobs(
    cluster_addresses, tiny_flux_dir, tiny_lora_dir, tmp_path
):
    # Through the Ray Client (ray://), as a workstation outside the cluster connects.
    cluster_address = cluster_addresses[1]
    lines = [_request(f"long {i}", i, tiny_lora_dir, steps=VICTIM_STEPS) for i in range(4)]
    path = tmp_path / "long.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    seen: list = []

    def on_event(event) -> None:
        seen.append(event)
        if isinstance(event, ev.JobStep) and not any(isinstance(e, ev.JobCancelled) for e in seen):
            raise KeyboardInterrupt  # what Ctrl-C raises in the driver's thread

    options = ClusterOptions(
        address=cluster_address, model=ModelSource(model_dir=str(tiny_flux_dir)), workers=2, replacements=0
    )
    with Library.open(tmp_path / "lib") as library:
        summary = BatchDriver(options, library, on_event=on_event).run(read_jobs_file(path))
        assert library.count() == 0
    assert [o.status for o in summary.outcomes] == [JobStatus.CANCELLED] * 4
    last_step = max(e.step for e in seen if isinstance(e, ev.JobStep))
    assert last_step < VICTIM_STEPS
    # The two queued jobs never started; the running ones stopped at their next step check.
    started = {e.job_id for e in seen if isinstance(e, ev.JobStarted)}
    assert len(started) <= 2


def test_workers_with_damaged_model_refuse_jobs(cluster_address, tiny_flux_dir, tmp_path):
    import shutil

    damaged = tmp_path / "FLUX.1-dev"
    shutil.copytree(tiny_flux_dir, damaged)
    weights = next((damaged / "transformer").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:100])
    jobs = read_jobs_file(_one_job_file(tmp_path))
    options = ClusterOptions(address=cluster_address, model=ModelSource(model_dir=str(damaged)), workers=2)
    seen: list = []
    with Library.open(tmp_path / "lib") as library:
        summary = BatchDriver(options, library, on_event=seen.append).run(jobs)
    refused = [e for e in seen if isinstance(e, ev.WorkerRefused)]
    assert len(refused) == 2
    assert all("failed verification" in e.reason and "transformer" in e.reason for e in refused)
    assert summary.outcomes[0].status is JobStatus.FAILED
    assert "refused" in summary.error


def _one_job_file(folder: Path) -> Path:
    path = folder / "one.jsonl"
    path.write_text(
        json.dumps({"prompt": "x", "width": 128, "height": 64, "steps": 1}) + "\n", encoding="utf-8"
    )
    return path


@pytest.fixture
def hub(tiny_flux_dir: Path, tiny_lora_dir: Path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
    from hub_emulator import BASE_REPO, LORA_REPO, TOKEN, HubEmulator, repo_from_folder

    emulator = HubEmulator(tokens=(TOKEN,))
    emulator.add_repo(repo_from_folder(BASE_REPO, tiny_flux_dir, gated=True))
    emulator.add_repo(repo_from_folder(LORA_REPO, tiny_lora_dir))
    emulator.start()
    yield emulator, TOKEN
    emulator.stop()


def test_workers_download_through_the_model_manager_with_the_token_from_the_runtime_env(
    cluster_address, hub, tmp_path, caplog
):
    emulator, token = hub
    job = {
        "prompt": "fetched",
        "width": 128,
        "height": 64,
        "steps": 2,
        "seed": 3,
        "device": "cpu",
        "dtype": "fp32",
    }
    (tmp_path / "jobs.jsonl").write_text(json.dumps(job) + "\n", encoding="utf-8")
    jobs = read_jobs_file(tmp_path / "jobs.jsonl")

    def run(token_given: str, models: Path):
        source = ModelSource(fetch=True, models_dir=str(models), endpoint=emulator.url)
        options = ClusterOptions(address=cluster_address, model=source, workers=1, token=token_given)
        seen: list = []
        with Library.open(tmp_path / "lib") as library:
            return BatchDriver(options, library, on_event=seen.append).run(jobs), seen

    # A wrong token: the gated base model is refused, and the worker says so instead of taking jobs.
    summary, seen = run("hf_wrong_token", tmp_path / "models-a")
    refused = [e for e in seen if isinstance(e, ev.WorkerRefused)]
    assert len(refused) == 1 and "could not be downloaded" in refused[0].reason
    assert summary.outcomes[0].status is JobStatus.FAILED

    summary, seen = run(token, tmp_path / "models-b")
    assert summary.outcomes[0].status is JobStatus.DONE, summary
    with Library.open(tmp_path / "lib") as library:
        (entry,) = library.search()
    # The LoRA installed with the fetched model is the worker's default, as locally.
    assert entry.params["lora_path"] and str(tmp_path / "models-b") in entry.params["lora_path"]
    # Files that no longer match the registry: the worker refuses jobs, naming the file.
    weights = next((tmp_path / "models-b").rglob("transformer/*.safetensors"))
    weights.write_bytes(b"\0" * weights.stat().st_size)
    broken = ModelSource(models_dir=str(tmp_path / "models-b"))
    seen = []
    with Library.open(tmp_path / "other-lib") as library:
        options = ClusterOptions(address=cluster_address, model=broken, workers=1)
        BatchDriver(options, library, on_event=seen.append).run(read_jobs_file(tmp_path / "jobs.jsonl"))
    refused = [e for e in seen if isinstance(e, ev.WorkerRefused)]
    assert len(refused) == 1, seen
    assert "failed verification" in refused[0].reason and "transformer" in refused[0].reason
    auth = [
        v for _m, _p, headers in emulator.requests for k, v in headers.items() if k.lower() == "authorization"
    ]
    assert f"Bearer {token}" in auth
    texts = [str(e) for e in seen] + [r.getMessage() for r in caplog.records] + [summary.outcomes[0].reason]
    assert not any(token in text or "hf_wrong_token" in text for text in texts)


def test_the_app_bridge_runs_the_driver_in_a_child_process(qtbot, cluster_address, tiny_flux_dir, tmp_path):
    """The app's path: ClusterBridge starts the driver process, which saves into the app's library."""
    from dit360_desktop.ui.cluster.bridge import ClusterBridge

    job = {"prompt": "from the app", "width": 128, "height": 64, "steps": 2, "seed": 11, "lora_path": "none"}
    (tmp_path / "jobs.jsonl").write_text(json.dumps(job) + "\n", encoding="utf-8")
    jobs = read_jobs_file(tmp_path / "jobs.jsonl")
    options = ClusterOptions(
        address=cluster_address, model=ModelSource(model_dir=str(tiny_flux_dir)), workers=1
    )
    bridge = ClusterBridge(jobs, options, tmp_path / "lib")
    started, saved, steps = [], [], []
    bridge.job_started.connect(lambda job_id, worker: started.append((job_id, worker)))
    bridge.job_step.connect(lambda job_id, step, total: steps.append(step))
    bridge.job_saved.connect(lambda job_id, entry: saved.append((job_id, entry)))
    previews = []
    bridge.job_preview.connect(lambda job_id, pixels: previews.append(pixels.shape))
    with qtbot.waitSignal(bridge.batch_finished, timeout=120_000) as finished:
        bridge.start()
    assert bridge.wait(30_000)
    assert finished.args[0].counts()["done"] == 1
    assert started[0][0] == jobs[0].job_id and "@" in started[0][1]
    assert steps == [1, 2]
    assert previews and previews[0] == (8, 16, 3)
    ((job_id, entry),) = saved
    assert job_id == jobs[0].job_id and entry.path.is_file()
    with Library.open(tmp_path / "lib") as library:
        assert library.get(entry.id).metadata[JOB_ID_KEY] == job_id


def test_workers_the_cluster_cannot_place_end_the_run_with_a_reason(cluster_address, tiny_flux_dir, tmp_path):
    # Two CPUs in the cluster, but one per node: a worker asking for two is never placed.
    jobs = read_jobs_file(_one_job_file(tmp_path))
    options = ClusterOptions(
        address=cluster_address,
        model=ModelSource(model_dir=str(tiny_flux_dir)),
        workers=1,
        cpus_per_worker=2,
        start_timeout_s=3,
    )
    with Library.open(tmp_path / "lib") as library:
        summary = BatchDriver(options, library).run(jobs)
    assert summary.outcomes[0].status is JobStatus.FAILED
    assert "No worker became ready within 3 s" in summary.error
