"""Download messages say each thing once: no "done" twice, no "failed: X: X: ..."."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from hub_emulator import TOKEN, HubEmulator

from dit360_desktop.cli import main
from dit360_desktop.cli.models import _DownloadPrinter
from dit360_desktop.models.downloads import DONE, DOWNLOADING, VERIFYING, FileProgress

BIG = 2_000_000


def test_a_file_is_reported_done_once_although_its_component_is_verified_after_it() -> None:
    stream = io.StringIO()
    printer = _DownloadPrinter(stream)
    for state in (DOWNLOADING, DONE, VERIFYING, DONE):
        printer(FileProgress("flux1-dev", "vae/w.safetensors", state, BIG, BIG))
    assert stream.getvalue().count("done: flux1-dev/vae/w.safetensors") == 1


def test_a_failed_file_is_named_once_per_line_and_reported_once(
    hub: HubEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.add_fault("404", "*vae/diffusion_pytorch_model.safetensors", times=50)
    args = ["--models-dir", str(tmp_path / "m"), "--endpoint", hub.url, "--token", TOKEN, "--retries", "0"]
    code = main(["models", "download", "flux1-dev", *args])
    err = capsys.readouterr().err
    assert code == 5
    failed = [line for line in err.splitlines() if line.startswith("failed:")]
    assert len(failed) == 1, err
    label = "flux1-dev: vae/diffusion_pytorch_model.safetensors"
    assert failed[0].count("vae/diffusion_pytorch_model.safetensors") == 1 and label in failed[0]
