"""Joining a cluster: a failed init leaves Ray clean for the next try; a Ray Client session that the head
failed to start is tried again."""

from __future__ import annotations

import socket

import pytest

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
    """Something listening, so the TCP probe passes."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield f"127.0.0.1:{server.getsockname()[1]}"


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
