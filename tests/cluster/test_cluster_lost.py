"""The whole cluster goes away mid-batch: the driver says so, and the unfinished jobs are handed back.

Its own throwaway cluster (a head node with one CPU worker and a Ray Client port), shut down from the
progress callback while the first job is denoising. The driver is connected through the Ray Client, as a
workstation would be.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the cluster extra (ray) is not installed")

from ray.cluster_utils import Cluster  # noqa: E402

from dit360_desktop.cluster import events as ev  # noqa: E402
from dit360_desktop.cluster.driver import BatchDriver, ClusterOptions  # noqa: E402
from dit360_desktop.cluster.jobs import JobStatus, read_jobs_file  # noqa: E402
from dit360_desktop.cluster.worker_models import ModelSource  # noqa: E402
from dit360_desktop.history.library import Library  # noqa: E402

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_listening(port: int, timeout_s: float = 60.0) -> None:
    # The head starts its Ray Client server after Cluster() returns: connecting at once was refused in
    # one CI run (the driver then said, rightly, that nothing answers there).
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_lost_cluster_leaves_the_unfinished_jobs_unfinished(
    tiny_flux_dir: Path, tmp_path, monkeypatch
) -> None:
    # The Ray Client waits this long for a lost server to come back before it gives up (default 30 s).
    monkeypatch.setenv("RAY_CLIENT_RECONNECT_GRACE_PERIOD", "2")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    port = _free_port()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False, "ray_client_server_port": port},
    )
    _wait_until_listening(port)
    lines = [
        {"prompt": f"long {i}", "width": 128, "height": 64, "steps": 150, "seed": i, "lora_path": "none"}
        for i in range(3)
    ]
    (tmp_path / "jobs.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    jobs = read_jobs_file(tmp_path / "jobs.jsonl")
    seen: list = []

    def on_event(event) -> None:
        seen.append(event)
        if isinstance(event, ev.JobStep) and not any(isinstance(e, ev.JobStep) for e in seen[:-1]):
            cluster.shutdown()

    options = ClusterOptions(
        address=f"ray://127.0.0.1:{port}", model=ModelSource(model_dir=str(tiny_flux_dir)), workers=1
    )
    try:
        with Library.open(tmp_path / "lib") as library:
            summary = BatchDriver(options, library, on_event=on_event).run(jobs)
            assert library.count() == 0
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()
    assert [o.status for o in summary.outcomes] == [JobStatus.UNFINISHED] * 3
    assert "connection to the cluster was lost" in summary.error
    lost = [e for e in seen if isinstance(e, ev.ClusterLost)]
    assert len(lost) == 1 and lost[0].unfinished == tuple(job.job_id for job in jobs)
