"""Joining a cluster: a failed init leaves Ray clean for the next try; a Ray Client session that the head
failed to start is tried again."""

from __future__ import annotations

import pytest
from fake_heads import EMPTY_SETTINGS, listener

from dit360_desktop.cluster import connect
from dit360_desktop.cluster.errors import ClusterConnectionError


class _Ray:
    """``ray.init`` answering from a script; records inits and shutdowns in order."""

    def __init__(self, failures: list[Exception]) -> None:
        self.failures = list(failures)
        self.calls: list[str] = []
        self.initialized = False

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, address=None, **_options) -> None:
        self.calls.append(f"init {address}")
        if self.failures:
            raise self.failures.pop(0)
        self.initialized = True

    def shutdown(self) -> None:
        self.calls.append("shutdown")
        self.initialized = False


@pytest.fixture
def head():
    """Something answering like a gRPC server, so the probe passes."""
    with listener(EMPTY_SETTINGS) as address:
        yield address


def _join(monkeypatch, ray: _Ray, address: str) -> None:
    monkeypatch.setattr(connect, "import_ray", lambda: ray)
    with connect.connected(address) as joined:
        assert joined is ray and ray.initialized


def test_a_client_session_the_head_failed_to_start_is_tried_again(monkeypatch, head) -> None:
    address = f"ray://{head}"
    ray = _Ray([ConnectionAbortedError("Starting Ray client server failed")])
    _join(monkeypatch, ray, address)
    assert ray.calls == [f"init {address}", "shutdown", f"init {address}", "shutdown"]


def test_a_second_failure_is_reported_and_ray_is_left_clean(monkeypatch, head) -> None:
    address = f"ray://{head}"
    ray = _Ray([ConnectionAbortedError("no session")] * connect.CLIENT_ATTEMPTS)
    with pytest.raises(ClusterConnectionError, match="Could not reach the Ray cluster"):
        _join(monkeypatch, ray, address)
    assert ray.calls == [f"init {address}", "shutdown"] * connect.CLIENT_ATTEMPTS


def test_other_failures_are_not_retried_but_still_reset_ray(monkeypatch, head) -> None:
    ray = _Ray([RuntimeError("version mismatch")])
    with pytest.raises(ClusterConnectionError, match=r"Could not join .*version mismatch"):
        _join(monkeypatch, ray, head)
    assert ray.calls == [f"init {head}", "shutdown"]
    # The next connect starts from a clean Ray.
    _join(monkeypatch, ray, head)
    assert ray.calls[-2:] == [f"init {head}", "shutdown"]


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [(None, "not a Ray cluster"), (b"HTTP/1.1 400 Bad Request\r\n\r\n", "not a Ray cluster")],
    ids=["silent", "http-1.1"],
)
def test_a_port_that_is_not_ray_gives_up_within_seconds_with_exit_5(tmp_path, capsys, reply, fragment):
    import time

    from dit360_desktop.cli import main

    (tmp_path / "jobs.jsonl").write_text('{"prompt": "a"}\n')
    with listener(reply) as address:
        for given in (address, f"ray://{address}"):
            started = time.monotonic()
            code = main(
                ["batch", str(tmp_path / "jobs.jsonl"), "--cluster", given, "--library", str(tmp_path)]
            )
            elapsed = time.monotonic() - started
            err = capsys.readouterr().err
            assert code == 5, err
            assert fragment in err and given in err
            # The probe's own limit (5 s) plus start-up; Ray itself waited minutes (the bug).
            assert elapsed < 4 * connect.PROBE_TIMEOUT_S, elapsed
