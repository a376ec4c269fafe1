"""``dit360 models``: every action and its exit code, against the emulator."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hub_emulator import LORA_REPO, TOKEN, HubEmulator, RepoFile
from safetensors.torch import save

from dit360_desktop.cli import main
from dit360_desktop.models import downloads
from dit360_desktop.models.registry import installed_model_paths

WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["models", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _net(hub: HubEmulator) -> list[str]:
    return ["--endpoint", hub.url, "--stall-timeout", "0.5", "--retries", "2"]


def test_list_and_where_on_empty_folder(tmp_path: Path, capsys) -> None:
    code, out, _ = _cli(capsys, "list", "--models-dir", str(tmp_path / "m"))
    assert code == 0
    assert "flux1-dev" in out and "missing" in out and "planned" in out and "Tiers:" in out
    code, out, _ = _cli(capsys, "where", "--models-dir", str(tmp_path / "m"))
    assert code == 0 and str(tmp_path / "m") in out and "free" in out


def test_download_verify_repair_flow(hub: HubEmulator, tmp_path: Path, capsys) -> None:
    models = str(tmp_path / "m")
    code, _, err = _cli(capsys, "download", "--models-dir", models, *_net(hub))
    assert code == 3 and "https://huggingface.co/black-forest-labs/FLUX.1-dev" in err  # gated, no token
    code, _, err = _cli(capsys, "download", "--models-dir", models, "--token", TOKEN, *_net(hub))
    assert code == 0, err
    assert "Done: " in err and "flux1-dev" in err and "dit360-lora" in err
    assert TOKEN not in err
    code, out, _ = _cli(capsys, "list", "--models-dir", models)
    assert out.count("ready") >= 2
    assert installed_model_paths(Path(models)).base == Path(models) / "flux1-dev"

    target = Path(models) / "flux1-dev" / WEIGHTS
    data = bytearray(target.read_bytes())
    data[1000] ^= 0x10
    target.write_bytes(bytes(data))
    code, _, err = _cli(capsys, "verify", "--models-dir", models)
    assert code == 4 and WEIGHTS in err and "corrupt" in err
    code, out, _ = _cli(capsys, "list", "--models-dir", models)
    assert "corrupt" in out
    code, out, err = _cli(capsys, "verify", "--repair", "--models-dir", models, "--token", TOKEN, *_net(hub))
    assert code == 0, err
    assert "Repaired 1 file" in out
    code, out, _ = _cli(capsys, "verify", "--models-dir", models)
    assert code == 0 and "verified" in out


def test_import_exit_codes(tmp_path: Path, tiny_flux_dir: Path, capsys) -> None:
    models = str(tmp_path / "m")
    assert _cli(capsys, "import", str(tmp_path / "nope"), "--models-dir", models)[0] == 2
    (tmp_path / "empty").mkdir()
    assert _cli(capsys, "import", str(tmp_path / "empty"), "--models-dir", models)[0] == 2
    code, out, _ = _cli(capsys, "import", str(tiny_flux_dir), "--in-place", "--models-dir", models)
    assert code == 0 and "in-place" in out
    assert installed_model_paths(Path(models)).base == tiny_flux_dir


def test_usage_errors(tmp_path: Path, capsys) -> None:
    models = str(tmp_path / "m")
    assert _cli(capsys, "download", "no-such-thing", "--models-dir", models)[0] == 2
    code, _, err = _cli(capsys, "download", "t5xxl-fp8", "--models-dir", models)
    assert code == 2 and "engine support" in err
    with pytest.raises(SystemExit) as info:
        main(["models", "import"])
    assert info.value.code == 2


def test_disk_full_exit_code(hub: HubEmulator, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(downloads, "free_bytes", lambda _p: 1000)
    code, _, err = _cli(capsys, "download", "dit360-lora", "--models-dir", str(tmp_path / "m"), *_net(hub))
    assert code == 6 and "free" in err and "B" in err
    assert hub.bytes_sent == {}


def test_network_exit_code(tmp_path: Path, capsys, monkeypatch) -> None:
    import huggingface_hub.constants

    from dit360_desktop.models import hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    # A refused connection is retried with backoff; keep the waits short here.
    monkeypatch.setattr(hub, "DEFAULT_METADATA_RETRY", hub.MetadataRetry(backoff_s=0.01, backoff_max_s=0.02))
    code, _, err = _cli(
        capsys,
        "download",
        "dit360-lora",
        "--models-dir",
        str(tmp_path / "m"),
        "--endpoint",
        "http://127.0.0.1:9",
    )
    assert code == 5 and "127.0.0.1:9" in err


def test_not_found_on_mirror_exit_code(hub: HubEmulator, tmp_path: Path, capsys) -> None:
    hub.repos.pop(LORA_REPO)
    code, _, err = _cli(capsys, "download", "dit360-lora", "--models-dir", str(tmp_path / "m"), *_net(hub))
    assert code == 5 and "fenghora/DiT360-Panorama-Image-Generation" in err and hub.url in err


def _big_lora(size: int) -> bytes:
    # A valid FLUX LoRA file of about ``size`` bytes, so the installed component passes every check.
    rows = size // (4 * 64)
    return save(
        {
            "transformer.transformer_blocks.0.attn.to_q.lora_A.weight": torch.randn(64, rows // 2),
            "transformer.transformer_blocks.0.attn.to_q.lora_B.weight": torch.randn(rows // 2, 64),
        }
    )


def test_sigkill_mid_file_then_resume(hub: HubEmulator, tmp_path: Path, tiny_lora_dir: Path) -> None:
    weights = _big_lora(1_500_000)
    name = "adapter_model.safetensors"
    repo = hub.repos[LORA_REPO]
    repo.files[name] = RepoFile(name, weights)
    repo.hashes.clear()
    hub.throttle_bps = 500_000
    models = tmp_path / "m"
    env = {**os.environ, "HF_HUB_OFFLINE": "0", "DIT360_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "dit360_desktop.cli", "models", "download", "dit360-lora"]
    command += ["--models-dir", str(models), "--endpoint", hub.url, "--parallel", "1"]
    part = downloads.partial_path(models, "dit360-lora", name)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (part.exists() and part.stat().st_size > 400_000):
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "the download never started"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    kept = part.stat().st_size
    assert 400_000 < kept < len(weights)
    assert not (models / "dit360-lora" / name).exists()  # nothing unverified at the final path

    hub.throttle_bps = None
    again = subprocess.run(command, env=env, capture_output=True, timeout=120)
    assert again.returncode == 0, again.stderr.decode()
    final = models / "dit360-lora" / name
    assert hashlib.sha256(final.read_bytes()).hexdigest() == hashlib.sha256(weights).hexdigest()
    resumed = [h for h in hub.gets(name) if h.get("Range")]
    assert resumed and resumed[-1]["Range"] == f"bytes={kept}-"
    # Everything fetched, over both runs, is close to the file size: the resume did not start over.
    assert len(weights) <= hub.bytes_sent[name] <= len(weights) + 64_000
