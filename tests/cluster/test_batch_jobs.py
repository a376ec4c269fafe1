"""The batch runner's plain parts, without Ray: the jobs file, job ids, idempotent saves, the summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.cli import main as cli_main
from dit360_desktop.cluster import connect
from dit360_desktop.cluster.errors import BatchFileError, ClusterConnectionError, NoUsableWorkerError
from dit360_desktop.cluster.jobs import (
    BatchSummary,
    JobOutcome,
    JobStatus,
    format_summary,
    parse_jobs,
    read_jobs_file,
    with_original_paths,
)
from dit360_desktop.cluster.pool import plan_workers
from dit360_desktop.cluster.wire import (
    PreviewThrottle,
    decode_preview,
    decode_result_png,
    encode_preview,
    encode_result_png,
)
from dit360_desktop.cluster.worker_models import TOKEN_ENV, ModelSource
from dit360_desktop.history.library import Library
from dit360_desktop.history.saving import JobKey, save_result, saved_job_ids
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import JOB_ID_KEY, Result


def _lines(*objects: object) -> str:
    return "".join(json.dumps(o) + "\n" for o in objects)


def test_lines_become_requests_with_their_own_field_names() -> None:
    jobs = parse_jobs(_lines({"prompt": "a", "steps": 4, "seed": 9, "guidance": 3.5}, {"prompt": "b"}))
    assert [job.request.prompt for job in jobs] == ["a", "b"]
    assert (jobs[0].request.steps, jobs[0].request.seed, jobs[0].request.guidance) == (4, 9, 3.5)
    assert jobs[1].request == GenerationRequest(prompt="b")
    assert [job.line for job in jobs] == [1, 2]


def test_job_ids_are_stable_and_repeated_lines_stay_separate_jobs() -> None:
    text = _lines({"prompt": "a"}, {"prompt": "a", "steps": 28}, {"prompt": "b"})
    first, again = parse_jobs(text), parse_jobs(text)
    assert [j.job_id for j in first] == [j.job_id for j in again]
    # Line 2 is the same request as line 1 (28 is the default): a second variation, not a duplicate.
    assert first[0].job_id.rsplit("-", 1)[0] == first[1].job_id.rsplit("-", 1)[0]
    assert len({j.job_id for j in first}) == 3
    assert parse_jobs(_lines({"prompt": "a", "job_id": "scene-1"}))[0].job_id == "scene-1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"prompt": "a"}\n{"prompt": "b",}\n', "line 2: not valid JSON"),
        ('["a"]\n', "line 1: must be a JSON object"),
        ('{"prompt": "a", "stpes": 3}\n', "line 1: unknown field 'stpes' (did you mean 'steps'?)"),
        ('{"prompt": "a", "steps": 0}\n', "line 1: steps: must be between 1 and 200"),
        ('{"width": 256}\n', "line 1: prompt"),
        ('{"prompt": "a", "job_id": 3}\n', "line 1: job_id must be a non-empty string"),
        (
            '{"prompt": "a", "job_id": "x"}\n{"prompt": "b", "job_id": "x"}\n',
            "line 2: job_id 'x' is already used",
        ),
        ("\n\n", "has no jobs"),
    ],
)
def test_bad_lines_name_the_line_and_the_problem(text: str, expected: str) -> None:
    with pytest.raises(BatchFileError) as info:
        parse_jobs(text, source="jobs.jsonl")
    assert expected in str(info.value)


def test_every_bad_line_is_reported_at_once() -> None:
    text = _lines({"prompt": "ok"}, {"prompt": "a", "steps": -1}, {"prompt": "b", "width": 100})
    with pytest.raises(BatchFileError) as info:
        parse_jobs(text, source="jobs.jsonl")
    message = str(info.value)
    assert "jobs.jsonl has 2 bad line(s)" in message and "line 2:" in message and "line 3:" in message


def test_image_files_travel_as_bytes_and_keep_the_driver_paths(tmp_path: Path) -> None:
    Image.new("RGB", (64, 32), (10, 20, 30)).save(tmp_path / "pano.png")
    Image.new("L", (64, 32), 255).save(tmp_path / "mask.png")
    (tmp_path / "jobs.jsonl").write_text(
        _lines(
            {"prompt": "edit", "init_image": "pano.png", "mask_image": "mask.png", "width": 128, "height": 64}
        )
    )
    (job,) = read_jobs_file(tmp_path / "jobs.jsonl")
    assert job.request.init_image == str(tmp_path / "pano.png")
    assert job.files == {
        "init_image": (tmp_path / "pano.png").read_bytes(),
        "mask_image": (tmp_path / "mask.png").read_bytes(),
    }
    # The worker's temporary copies are replaced by the driver's paths in what is saved.
    ran = {**job.request.to_dict(), "init_image": "/tmp/w/init_image.png", "mask_image": "/tmp/w/m.png"}
    assert with_original_paths(ran, job.request)["mask_image"] == str(tmp_path / "mask.png")


def test_a_changed_image_is_a_different_job(tmp_path: Path) -> None:
    line = _lines({"prompt": "x", "init_image": "in.png", "width": 128, "height": 64})
    Image.new("RGB", (64, 32), (0, 0, 0)).save(tmp_path / "in.png")
    before = parse_jobs(line, base=tmp_path)[0].job_id
    Image.new("RGB", (64, 32), (255, 0, 0)).save(tmp_path / "in.png")
    assert parse_jobs(line, base=tmp_path)[0].job_id != before


def test_a_missing_image_is_refused_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(BatchFileError, match=r"line 1: .*nothere\.png"):
        parse_jobs(_lines({"prompt": "x", "init_image": "nothere.png"}), base=tmp_path)


def _result(seed: int) -> Result:
    request = GenerationRequest(prompt="a lake", width=64, height=32, seed=seed)
    image = Image.fromarray(np.full((32, 64, 3), seed % 256, dtype=np.uint8))
    return Result(image=image, request=request, metadata={"seed": seed})


def test_a_job_is_saved_once_even_when_its_result_arrives_twice(tmp_path: Path) -> None:
    with Library.open(tmp_path / "lib") as library:
        saved = saved_job_ids(library)
        first = save_result(
            _result(1), library=library, job=JobKey("job-1", saved, {"cluster": {"attempt": 1}})
        )
        again = save_result(_result(1), library=library, job=JobKey("job-1", saved))
        entry = first.entry
        assert (first.already_saved, again.already_saved) == (False, True)
        assert again.written == [] and again.recovered is None
        assert again.entry.id == entry.id and library.count() == 1
        assert entry.metadata[JOB_ID_KEY] == "job-1" and entry.metadata["cluster"] == {"attempt": 1}
    # A new driver (a re-run of the batch) finds the job in the library.
    with Library.open(tmp_path / "lib") as library:
        assert saved_job_ids(library) == {"job-1": entry.id}
        library.save(_result(2))  # a local run: no job id
        assert saved_job_ids(library) == {"job-1": entry.id}


def test_summary_table_lists_done_failed_and_skipped() -> None:
    summary = BatchSummary(
        [
            JobOutcome("a-0", JobStatus.DONE, path="/lib/a.png", worker="worker-1@gpu1", attempts=1, line=1),
            JobOutcome(
                "b-0", JobStatus.FAILED, reason="steps: out of range", worker="w2", attempts=3, line=2
            ),
            JobOutcome("c-0", JobStatus.SKIPPED, reason="already in the library (entry 4)", line=3),
        ]
    )
    text = format_summary(summary)
    assert "a-0" in text and "/lib/a.png" in text
    assert "failed ×3" in text and "steps: out of range" in text
    assert text.splitlines()[-1] == "3 job(s): 1 done, 1 failed, 1 skipped"
    assert not summary.ok
    assert format_summary(BatchSummary([], error="lost")).endswith("The run stopped early: lost")


@pytest.mark.parametrize(
    "address", ["local", "auto", "ray://head.example:10001", "10.0.0.5:6379", "ray://[::1]:10001"]
)
def test_cluster_addresses_accepted(address: str) -> None:
    assert connect.check_address(address) == address


@pytest.mark.parametrize("address", ["ray://head", "http://x:80", "head:99999", ""])
def test_bad_cluster_addresses_say_what_is_expected(address: str) -> None:
    with pytest.raises(ClusterConnectionError, match="ray://HOST:PORT"):
        connect.check_address(address)


def test_worker_plan_one_per_gpu_else_one_per_cpu_node() -> None:
    assert (
        plan_workers(
            {"GPU": 8, "CPU": 64}, 2, workers=None, use_gpus=None, gpus_per_worker=1, cpus_per_worker=1
        ).count
        == 8
    )
    cpu = plan_workers({"CPU": 32}, 4, workers=None, use_gpus=None, gpus_per_worker=1, cpus_per_worker=2)
    assert (cpu.count, cpu.num_gpus, cpu.num_cpus) == (4, 0.0, 2)
    with pytest.raises(NoUsableWorkerError, match="0 GPU"):
        plan_workers({"CPU": 4}, 1, workers=None, use_gpus=True, gpus_per_worker=1, cpus_per_worker=1)


def test_the_hub_token_goes_only_to_downloading_workers() -> None:
    assert ModelSource(model_dir="/shared/flux").runtime_env("hf_secret") is None
    assert ModelSource(fetch=True).runtime_env("hf_secret") == {"env_vars": {TOKEN_ENV: "hf_secret"}}
    assert "hf_secret" not in repr(ModelSource(fetch=True))


def test_previews_are_small_jpegs_and_rate_limited() -> None:
    pixels = np.random.default_rng(0).integers(0, 255, (128, 256, 3), dtype=np.uint8)
    data = encode_preview(pixels)
    assert data[:2] == b"\xff\xd8" and len(data) < pixels.nbytes // 2
    assert decode_preview(data).shape == (128, 256, 3)
    throttle = PreviewThrottle(1.0)
    assert [throttle.allow(t) for t in (0.0, 0.5, 1.0, 1.2, 2.1)] == [True, False, True, False, True]


def test_result_png_is_lossless() -> None:
    pixels = np.random.default_rng(1).integers(0, 255, (32, 64, 3), dtype=np.uint8)
    back = decode_result_png(encode_result_png(Image.fromarray(pixels)))
    assert np.array_equal(np.asarray(back), pixels)


def test_without_the_extra_batch_exits_2_naming_it(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setattr("dit360_desktop.cli.batch.ray_installed", lambda: False)
    (tmp_path / "jobs.jsonl").write_text(_lines({"prompt": "a"}))
    assert cli_main(["batch", str(tmp_path / "jobs.jsonl"), "--cluster", "local"]) == 2
    assert 'pip install "dit360-desktop[cluster]"' in capsys.readouterr().err


def test_a_bad_jobs_file_exits_2_with_the_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "jobs.jsonl").write_text('{"prompt": "a"}\n{"prompt": "b", "seed": -1}\n')
    assert cli_main(["batch", str(tmp_path / "jobs.jsonl"), "--cluster", "local"]) == 2
    assert "line 2: seed" in capsys.readouterr().err


def _reply(job, seed: int) -> dict:
    from dit360_desktop.cluster.wire import WorkerInfo

    request = job.request.replace(seed=seed)
    pixels = np.full((request.height, request.width, 3), seed, dtype=np.uint8)
    return {
        "png": encode_result_png(Image.fromarray(pixels)),
        "request": request.to_dict(),
        "metadata": {"seed": seed, "timings": {"denoising": 1.0}},
        "worker": WorkerInfo("worker-1", "node-a", "10.0.0.1", 77),
    }


def test_results_are_saved_by_several_threads_each_exactly_once(tmp_path: Path) -> None:
    from dit360_desktop.cluster.saving import SavePool

    jobs = parse_jobs(_lines(*({"prompt": f"p{i}", "width": 128, "height": 64} for i in range(6))))
    with Library.open(tmp_path / "lib") as library:
        saver = SavePool(library, saved_job_ids(library), threads=3)
        for seed, job in enumerate(jobs, start=1):
            saver.submit(job, 1, _reply(job, seed))
        saver.submit(jobs[0], 2, _reply(jobs[0], 1))  # the same job delivered twice
        done = saver.close()
        assert [d.error for d in done] == [None] * 7
        assert library.count() == 6
        entry = done[0].entry
        assert entry.id == done[-1].entry.id
        assert entry.metadata["cluster"] == {
            "worker": {"name": "worker-1", "host": "node-a", "node_ip": "10.0.0.1", "pid": 77},
            "attempt": 1,
        }
        with Image.open(entry.path) as saved:
            assert np.asarray(saved)[0, 0].tolist() == [1, 1, 1]


def test_a_result_that_cannot_be_read_fails_that_job_only(tmp_path: Path) -> None:
    from dit360_desktop.cluster.saving import SavePool

    jobs = parse_jobs(
        _lines({"prompt": "a", "width": 128, "height": 64}, {"prompt": "b", "width": 128, "height": 64})
    )
    with Library.open(tmp_path / "lib") as library:
        saver = SavePool(library, {}, threads=2)
        saver.submit(jobs[0], 1, {**_reply(jobs[0], 3), "png": b"not a png"})
        saver.submit(jobs[1], 1, _reply(jobs[1], 4))
        first, second = saver.close()
        assert first.error is not None and first.entry is None
        assert second.error is None and library.count() == 1


def test_a_malformed_cluster_address_exits_2(tmp_path: Path, capsys) -> None:
    (tmp_path / "jobs.jsonl").write_text(_lines({"prompt": "a"}))
    assert cli_main(["batch", str(tmp_path / "jobs.jsonl"), "--cluster", "http://head:80"]) == 2
    assert "is not a cluster address" in capsys.readouterr().err


def test_an_address_where_nothing_answers_exits_5_with_a_message(tmp_path: Path, capsys) -> None:
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "jobs.jsonl").write_text(_lines({"prompt": "a"}))
    for address in (f"127.0.0.1:{port}", f"ray://127.0.0.1:{port}"):
        code = cli_main(
            ["batch", str(tmp_path / "jobs.jsonl"), "--cluster", address, "--library", str(tmp_path)]
        )
        assert code == 5
        assert f"Nothing answers at {address}" in capsys.readouterr().err


def test_progress_lines_name_the_job_and_the_worker() -> None:
    import io

    from dit360_desktop.cli.batch import BatchProgress
    from dit360_desktop.cluster import events as ev
    from dit360_desktop.cluster.wire import WorkerInfo

    worker = WorkerInfo("worker-2", "gpu-node-7", "10.0.0.7", 99)
    stream = io.StringIO()
    progress = BatchProgress(stream)
    for event in (
        ev.WorkerJoined(worker),
        ev.JobStarted("j-0", worker, 2),
        *(ev.JobStep("j-0", step, 8, 1.0, 3.0, worker.label) for step in range(1, 9)),
        ev.JobFailed("j-1", "worker-1@gpu-node-3 was lost during the job (killed)", True),
        ev.JobSkipped("j-2", 14),
    ):
        progress(event)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "[worker-2@gpu-node-7] ready (device chosen per job)"
    assert lines[1] == "j-0: started on worker-2@gpu-node-7 (attempt 2)"
    # Every quarter of the steps, not every step.
    assert [line.split(" ETA")[0] for line in lines[2:6]] == [f"j-0: step {n}/8" for n in (2, 4, 6, 8)]
    assert lines[6].endswith("; retrying on another worker")
    assert lines[7] == "j-2: skipped, already in the library (entry 14)"
