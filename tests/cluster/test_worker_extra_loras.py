"""Extra LoRAs sent with a batch job are written back on the worker (cluster/worker.py): a private copy
under the driver's file name, which the engine loads and records; a worker keeps the LoRAs it received by
content for its lifetime, so jobs that share one load it once.

The messages are built by the driver's own code (``parse_jobs`` and ``wire.job_message``), and the
driver's file is moved away before the worker sees the job, so only the bytes sent can make the run
work. The last test runs the whole batch on a fresh local Ray runtime (127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import stat
import tempfile
from pathlib import Path

import pytest

from dit360_desktop.cluster.jobs import extra_lora_key, parse_jobs
from dit360_desktop.cluster.wire import job_message
from dit360_desktop.cluster.worker import local_job_request
from dit360_desktop.panorama.errors import ModelInvalidError, RequestError
from dit360_desktop.testing.tiny_flux import build_tiny_lora

JOB = {"prompt": "a lit cave", "width": 128, "height": 64, "steps": 1, "seed": 4, "lora_path": "none"}
JOB_CPU = {**JOB, "device": "cpu", "dtype": "fp32", "tier": "cpu"}


def _sent_job(
    driver: Path, tiny_flux_dir: Path, fields: dict = JOB_CPU, seed: int = 1
) -> tuple[dict, bytes, Path]:
    """The message a worker receives for one job with one extra LoRA; the driver's file is then moved
    where no path in the message points."""
    lora = build_tiny_lora(
        driver / "loras" / "style.safetensors", tiny_flux_dir / "transformer", peft_folder=False, seed=seed
    )
    line = {**fields, "extra_loras": [{"path": "loras/style.safetensors", "scale": 0.5}]}
    job = parse_jobs(json.dumps(line) + "\n", base=driver)[0]
    message = job_message(job.job_id, job.request.to_dict(), job.files, attempt=1)
    sent = lora.read_bytes()
    lora.rename(driver / "moved-away.bin")
    return message, sent, lora


@pytest.fixture
def worker_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The worker's temporary folder, private to this test so that what is left there can be listed."""
    folder = tmp_path / "worker-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture(scope="module")
def engine(tiny_flux_dir: Path):
    from dit360_desktop.core.engine import PanoramaEngine

    engine = PanoramaEngine(tiny_flux_dir)
    yield engine
    engine.unload()


def test_the_lora_sent_is_written_privately_loaded_by_the_engine_and_removed(
    tmp_path, worker_tmp, tiny_flux_dir, engine
):
    driver = tmp_path / "driver"
    message, sent, driver_lora = _sent_job(driver, tiny_flux_dir)
    assert message["files"][extra_lora_key(0)] == sent
    assert message["request"]["extra_loras"] == [{"path": str(driver_lora), "scale": 0.5}]

    with local_job_request(message, None) as request:
        ((local, scale),) = request.extra_loras
        local = Path(local)
        assert scale == 0.5
        assert local.read_bytes() == sent
        # The driver's file name, in a folder of this job under the worker's temporary folder, which only
        # its owner may enter.
        assert local.name == "style.safetensors"
        job_folder = local.parents[1]
        assert job_folder.parent == worker_tmp and job_folder.name.startswith("dit360-job-")
        assert stat.S_IMODE(job_folder.stat().st_mode) == 0o700
        assert not local.is_relative_to(driver)
        result = engine.run(request)

    applied = result.metadata["models"]["extra_loras"]
    assert [(a["name"], a["path"], a["sha256"], a["scale"]) for a in applied] == [
        ("style.safetensors", str(local), hashlib.sha256(sent).hexdigest(), 0.5)
    ]
    assert result.request.extra_loras == ((str(local), 0.5),)
    assert result.image.size == (128, 64)
    assert list(worker_tmp.iterdir()) == []


def test_a_worker_loads_a_lora_its_jobs_share_once_and_keeps_different_files_apart(
    tmp_path, worker_tmp, tiny_flux_dir, engine, monkeypatch
):
    """The worker's store (``ShippedLoras``) names a copy by its content: the second job with the same LoRA
    finds it at the same path, so the engine does not load it again."""
    from dit360_desktop.cluster.worker import ShippedLoras
    from dit360_desktop.core import lora_stack

    loads = []
    real_load = lora_stack.load_lora
    monkeypatch.setattr(lora_stack, "load_lora", lambda *a, **k: loads.append(a[1]) or real_load(*a, **k))
    store = ShippedLoras()
    message, sent, _ = _sent_job(tmp_path / "driver", tiny_flux_dir)
    paths = []
    for _ in range(2):
        with local_job_request(message, None, store) as request:
            ((local, _scale),) = request.extra_loras
            paths.append(Path(local))
            engine.run(request)
    assert paths[0] == paths[1] and paths[0].name == "style.safetensors"
    assert paths[0].read_bytes() == sent
    assert loads == [paths[0]]
    # Another file of the same name is another copy; the per-job folders are gone, the store stays.
    other, other_sent, _ = _sent_job(tmp_path / "driver2", tiny_flux_dir, seed=9)
    with local_job_request(other, None, store) as request:
        ((local, _scale),) = request.extra_loras
    assert Path(local) != paths[0] and Path(local).read_bytes() == other_sent != sent
    assert [p.name for p in worker_tmp.iterdir()] == [paths[0].parents[1].name]
    store.close()
    assert list(worker_tmp.iterdir()) == []


def test_a_truncated_lora_is_refused_naming_the_users_file_and_nothing_stays(
    tmp_path, worker_tmp, tiny_flux_dir, engine
):
    message, sent, _ = _sent_job(tmp_path / "driver", tiny_flux_dir)
    message["files"][extra_lora_key(0)] = sent[: len(sent) // 3]
    with pytest.raises(ModelInvalidError) as caught, local_job_request(message, None) as request:
        engine.run(request)
    text = str(caught.value)
    assert "style.safetensors" in text and "extra_lora_0" not in text, text
    assert text.endswith((".", ")")) and len(text.split()) > 4, text
    assert list(worker_tmp.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda files: {"extra_lora_1": files.pop("extra_lora_0")}, "that its request does not list"),
        (lambda files: {"extra_lora_x": files.pop("extra_lora_0")}, "that its request does not list"),
        (lambda files: {"extra_lora_0": b""}, "arrived at this worker empty"),
        (lambda files: {"extra_lora_0": "not bytes"}, "arrived at this worker empty"),
    ],
    ids=["index-past-the-list", "not-a-number", "empty", "not-bytes"],
)
def test_a_payload_that_does_not_fit_its_request_is_a_bad_request(
    tmp_path, worker_tmp, tiny_flux_dir, change, expected
):
    message, _, _ = _sent_job(tmp_path / "driver", tiny_flux_dir)
    files = message["files"]
    files.update(change(files))
    with pytest.raises(RequestError) as caught, local_job_request(message, None):
        pass
    assert expected in str(caught.value)
    assert caught.value.field == "extra_loras"
    assert list(worker_tmp.iterdir()) == []


@pytest.mark.slow
def test_a_batch_on_local_ray_runs_a_lora_only_the_driver_had(tmp_path, tiny_flux_dir, monkeypatch):
    pytest.importorskip("ray", reason="the cluster extra (ray) is not installed")
    from dit360_desktop.cluster.driver import BatchDriver, ClusterOptions
    from dit360_desktop.cluster.jobs import JobStatus, read_jobs_file
    from dit360_desktop.cluster.worker_models import ModelSource
    from dit360_desktop.history.library import Library
    from dit360_desktop.panorama.imageio import read_metadata

    driver = tmp_path / "driver"
    lora = build_tiny_lora(
        driver / "loras" / "style.safetensors", tiny_flux_dir / "transformer", peft_folder=False
    )
    line = {**JOB_CPU, "extra_loras": [{"path": "loras/style.safetensors", "scale": 0.5}]}
    (driver / "jobs.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    jobs = read_jobs_file(driver / "jobs.jsonl")
    sha = hashlib.sha256(lora.read_bytes()).hexdigest()
    # The workers share this machine's disk: the file is moved away once the driver has read it.
    lora.rename(driver / "moved-away.bin")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    options = ClusterOptions(
        address="local",
        model=ModelSource(model_dir=str(tiny_flux_dir)),
        workers=1,
        use_gpus=False,
        local_cpus=1,
    )
    with Library.open(tmp_path / "library") as library:
        summary = BatchDriver(options, library).run(jobs)
        assert [o.status for o in summary.outcomes] == [JobStatus.DONE], summary
        (entry,) = library.search()
        saved = read_metadata(Path(entry.path))
    applied = saved.dit360["models"]["extra_loras"]
    assert [(a["name"], a["path"], a["sha256"]) for a in applied] == [("style.safetensors", str(lora), sha)]
    assert saved.dit360["request"]["extra_loras"] == [{"path": str(lora), "scale": 0.5}]
    assert "<lora:style:0.5>" in saved.parameters
