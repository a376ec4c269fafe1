"""With --endpoint, no request goes anywhere but that endpoint (huggingface_hub's own side requests
included); the switches are restored after the command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import huggingface_hub.constants
from hub_emulator import TOKEN, HubEmulator

from dit360_desktop.models.hub_switches import network_switches

# Records every host name the process resolves, through Python's audit hooks.
PROBE = """
import json, sys
hosts = []
def hook(event, args):
    if event == "socket.getaddrinfo":
        hosts.append(str(args[0]))
sys.addaudithook(hook)
from dit360_desktop.cli import main
code = main(sys.argv[1:])
sys.stderr.write("HOSTS " + json.dumps(hosts) + "\\n")
sys.exit(code)
"""


def test_download_with_an_endpoint_resolves_no_other_host(hub: HubEmulator, tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "0"}
    env.pop("HF_ENDPOINT", None)
    args = ["models", "download", "dit360-lora", "--models-dir", str(tmp_path / "m"), "--endpoint", hub.url]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args, "--token", TOKEN],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    hosts = json.loads(proc.stderr.rsplit("HOSTS ", 1)[1])
    # The emulator's endpoint, and its "CDN" redirect host (localhost); never huggingface.co.
    assert hosts and set(hosts) <= {"127.0.0.1", "localhost"}, hosts


def test_switches_are_set_inside_and_restored_after(monkeypatch) -> None:
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    before = huggingface_hub.constants.ENDPOINT
    with network_switches(endpoint="http://mirror.example/", offline=False):
        assert huggingface_hub.constants.ENDPOINT == "http://mirror.example"
        assert os.environ["HF_ENDPOINT"] == "http://mirror.example"
        assert huggingface_hub.constants.HF_HUB_DISABLE_TELEMETRY
    assert before == huggingface_hub.constants.ENDPOINT and "HF_ENDPOINT" not in os.environ
    with network_switches(offline=True):
        assert huggingface_hub.constants.HF_HUB_OFFLINE and os.environ["HF_HUB_OFFLINE"] == "1"
