"""A depth model whose weights give NaN is a model problem said in words (exit 3, the app's "model could
not be used" with the model manager offered), never "unexpected failure"."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.ui.common.jobs import DepthJob, ErrorKind


@pytest.fixture(scope="module")
def damaged_depth_dir(tiny_depth_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with its head's weights set to NaN (a damaged download that still loads)."""
    from safetensors.numpy import load_file, save_file

    folder = tmp_path_factory.mktemp("damaged") / "Depth-Anything-V2-Damaged"
    shutil.copytree(tiny_depth_dir, folder)
    weights = next(folder.glob("*.safetensors"))
    tensors = load_file(weights)
    name = next(k for k in tensors if k.startswith("head.") and k.endswith("weight"))
    tensors[name] = np.full_like(tensors[name], np.nan)
    save_file(tensors, weights, metadata={"format": "pt"})
    return folder


def test_the_cli_says_the_model_is_damaged_and_exits_3(damaged_depth_dir, tmp_path, capsys) -> None:
    from dit360_desktop.cli import main

    image = tmp_path / "pano.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 64, 3), dtype=np.uint8)).save(image)
    for argv in (
        ["depth", str(image), "--output", str(tmp_path / "d.exr")],
        ["export-3d", str(image), "--glb", str(tmp_path / "m.glb")],
    ):
        code = main([*argv, "--depth-model", str(damaged_depth_dir), "--quiet"])
        err = capsys.readouterr().err
        assert code == 3, err
        assert "unexpected failure" not in err and "weights are probably damaged" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pano.png"]


def test_the_worker_reports_a_model_error_not_an_internal_one(
    qtbot, depth_worker, room_entry, damaged_depth_dir
) -> None:
    _folder, source = room_entry
    failed = []
    depth_worker.job_failed.connect(lambda job, report: failed.append((job, report)))
    job_id = depth_worker.enqueue_depth(
        DepthJob(source.path, damaged_depth_dir), GenerationRequest(prompt="A")
    )
    qtbot.waitUntil(lambda: bool(failed), timeout=120_000)
    job, report = failed[0]
    assert job == job_id and report.kind is ErrorKind.MODEL_INVALID
    assert "weights are probably damaged" in report.message
