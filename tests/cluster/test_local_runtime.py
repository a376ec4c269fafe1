"""`--cluster local` is always a fresh private Ray runtime on 127.0.0.1: it never joins another head on the
machine (one named by $RAY_ADDRESS or recorded as Ray's "current cluster"), and none of its processes
listens on the machine's network address. Real Ray, in subprocesses (Ray's bind address is decided when
it is imported)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.skipif(sys.platform == "win32", reason="POSIX sockets")]

OTHER_HEAD = """
import json, sys, time, ray
ray.init(address="local", num_cpus=1, include_dashboard=False, configure_logging=False, log_to_driver=False)
print(json.dumps(ray.get_runtime_context().gcs_address), flush=True)
sys.stdin.read()
"""

OURS = """
import json, os, psutil
from dit360_desktop.cluster.connect import connected
with connected("local", local_cpus=1) as ray:
    gcs = ray.get_runtime_context().gcs_address
    ours = [psutil.Process()] + psutil.Process().children(recursive=True)
    pids = {p.pid for p in ours}
    listening = sorted({
        c.laddr.ip for c in psutil.net_connections("inet") if c.status == "LISTEN" and c.pid in pids
    })
print(json.dumps({"gcs": gcs, "listening": listening}))
"""


def test_local_is_a_fresh_loopback_runtime_even_with_another_head_running(tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)  # the other head binds as Ray does by default
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_HEAD], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        other_gcs = json.loads(other.stdout.readline())
        ours_env = {**env, "RAY_ADDRESS": other_gcs}  # what a stale or live "current cluster" amounts to
        started = time.monotonic()
        completed = subprocess.run(
            [sys.executable, "-c", OURS], capture_output=True, text=True, timeout=240, env=ours_env
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        found = json.loads(completed.stdout.strip().splitlines()[-1])
        assert found["gcs"] != other_gcs
        assert found["gcs"].startswith("127.0.0.1:")
        assert found["listening"] and set(found["listening"]) <= {"127.0.0.1", "::ffff:127.0.0.1"}, found[
            "listening"
        ]
        assert time.monotonic() - started < 200
    finally:
        other.stdin.close()
        other.wait(timeout=60)
