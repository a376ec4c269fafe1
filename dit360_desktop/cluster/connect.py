"""Finding Ray and joining a cluster: ``local``, ``ray://HOST:PORT`` (Ray Client) or ``HOST:PORT``."""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from dit360_desktop.cluster.errors import ClusterConnectionError, ClusterUnavailableError

log = logging.getLogger(__name__)

LOCAL = "local"
# Ray itself keeps retrying an address where nothing answers for minutes; a plain TCP connect first
# turns a typo or a stopped head node into a message within seconds.
PROBE_TIMEOUT_S = 5.0
# Ray Client connects: a head node whose per-client server failed to start gets two more tries.
CLIENT_ATTEMPTS = 3
_HOST_PORT = re.compile(r"^(?:ray://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")


def ray_installed() -> bool:
    """Without importing Ray (a second or two): whether the cluster extra is installed."""
    return importlib.util.find_spec("ray") is not None


# Ray decides once, when it is imported, whether a node advertises and binds the machine's interface
# address or only the loopback; off (the loopback) is its own default on macOS and Windows. Every runtime
# this project starts is a private one, so it binds 127.0.0.1: set before Ray is first imported (the
# CLI's batch and the app's driver process import it only here; tests set it in tests/conftest.py).
LOOPBACK_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def loopback_only() -> bool:
    """Make the Ray runtimes this process starts bind 127.0.0.1; False when Ray was imported already."""
    if os.environ.get(LOOPBACK_ONLY_ENV) == "0":
        return True  # set before Ray was imported (tests/conftest.py, an earlier local run)
    os.environ[LOOPBACK_ONLY_ENV] = "0"
    if "ray" in sys.modules:
        log.warning(
            "Ray was imported before the local runtime was set up; it may bind this machine's address"
        )
        return False
    return True


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError as e:
        raise ClusterUnavailableError(f" ({e})") from e
    return ray


def check_address(address: str) -> str:
    """``local``, ``auto`` (this machine is a cluster node), ``ray://HOST:PORT`` or ``HOST:PORT``."""
    text = address.strip()
    if text.lower() in (LOCAL, "auto"):
        return text.lower()
    match = _HOST_PORT.match(text)
    if match is None or not 0 < int(match.group(1)) < 65536:
        raise ClusterConnectionError(
            f"{address!r} is not a cluster address: give ray://HOST:PORT (Ray Client, port 10001 by "
            "default), HOST:PORT of the head node (port 6379 by default), or local."
        )
    return text


@contextmanager
def connected(address: str, *, local_cpus: int | None = None, quiet: bool = True) -> Iterator[ModuleType]:
    """Join the cluster (or start a throwaway local one) and leave it afterwards.

    When Ray is already initialised in this process (a test's cluster, a notebook), that connection is
    used and left open.
    """
    address = check_address(address)
    if address == LOCAL:
        loopback_only()
    ray = import_ray()
    if address not in (LOCAL, "auto"):
        probe(address)
    if ray.is_initialized():
        yield ray
        return
    options = {"log_to_driver": not quiet, "configure_logging": False}
    for attempt in range(1, CLIENT_ATTEMPTS + 1):
        try:
            if address == LOCAL:
                # "local", not None: always a new private runtime, never a head Ray left recorded as the
                # machine's "current cluster" (alive or dead) or one named by $RAY_ADDRESS.
                ray.init(address=LOCAL, num_cpus=local_cpus, include_dashboard=False, **options)
            else:
                ray.init(address=address, **options)
            break
        except Exception as e:
            # A failed init leaves Ray half set up in this process, and the next connect (a retry, the
            # app's next batch) would trip over it: put it back first.
            _reset(ray)
            if (
                isinstance(e, ConnectionAbortedError)
                and address.startswith("ray://")
                and attempt < CLIENT_ATTEMPTS
            ):
                # The head accepted us but its per-client server did not start: Ray starts a fresh one
                # on the next connect.
                log.warning(
                    "The Ray Client server at %s failed to start a session (%s); retrying", address, e
                )
                continue
            if isinstance(e, ConnectionError):
                raise ClusterConnectionError(f"Could not reach the Ray cluster at {address}: {e}") from e
            # Ray raises plain Exceptions (and gRPC errors) for unreachable or mismatched clusters.
            raise ClusterConnectionError(f"Could not join the Ray cluster at {address}: {e}") from e
    try:
        yield ray
    finally:
        _reset(ray)


def _reset(ray: ModuleType) -> None:
    """Leave Ray: after a batch, or after a failed init that left it half set up."""
    try:
        ray.shutdown()
    except Exception as e:
        # A lost cluster can fail its own goodbye; nothing is left to release on our side.
        log.info("Ray shutdown: %s", e)


# The HTTP/2 connection preface and an empty SETTINGS frame: every gRPC server (a Ray head's GCS port and
# its Ray Client port) answers with a SETTINGS frame of its own at once. Anything else on the port (a web
# server, a database, a port that accepts and says nothing) does not, and Ray itself would wait minutes.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_SETTINGS_FRAME = 0x04
# Ray with TLS (RAY_USE_TLS=1) speaks TLS first: the plain preface would be refused, so only TCP is probed.
_TLS_ENV = "RAY_USE_TLS"


def probe(address: str, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """ClusterConnectionError unless a gRPC server (a Ray head) answers at the address within seconds."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    host = host.strip("[]")
    what = "Ray Client port" if address.startswith("ray://") else "port"
    try:
        connection = socket.create_connection((host, int(port)), timeout=timeout_s)
    except OSError as e:
        raise ClusterConnectionError(
            f"Nothing answers at {address} ({e.strerror or e}). Is the head node running, and is its "
            f"{what} reachable from here?"
        ) from e
    with connection:
        if os.environ.get(_TLS_ENV, "").lower() in ("1", "true"):
            return
        try:
            connection.settimeout(timeout_s)
            connection.sendall(_HTTP2_PREFACE)
            header = _receive(connection, 9)
        except OSError as e:
            header = b""
            log.debug("The gRPC probe of %s failed: %s", address, e)
        if len(header) < 9 or header[3] != _SETTINGS_FRAME:
            raise ClusterConnectionError(
                f"Something answers at {address}, but it is not a Ray cluster (no gRPC reply within "
                f"{timeout_s:g} s). Check the {what}: the head's port is 6379 by default, Ray Client's "
                "ray://HOST:10001."
            )


def _receive(connection: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data
