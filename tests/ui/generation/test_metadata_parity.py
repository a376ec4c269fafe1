"""The app and the CLI record the same task alike: one save path (history/saving.py) and one metadata
writer (Result.file_metadata) behind both, checked on the files each front end really writes.

What may differ, and is taken out before the byte comparison: the time the run took ("timings"; an
upscale's "seconds"), and "created_at", which only a library entry has.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dit360_desktop.cli import main as cli_main
from dit360_desktop.history.library import Library
from dit360_desktop.panorama.imageio import read_metadata
from dit360_desktop.panorama.options import EngineOptions
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.settings import Settings
from dit360_desktop.ui.common.jobs import UpscaleJob
from dit360_desktop.ui.gallery.repair_action import repair_request


def _comparable(metadata: dict) -> str:
    kept = {key: value for key, value in metadata.items() if key not in ("timings", "created_at")}
    if "upscale" in kept:
        kept["upscale"] = {key: value for key, value in kept["upscale"].items() if key != "seconds"}
    return json.dumps(kept, ensure_ascii=False)


def _app_run(qtbot, make_worker, model_dir: Path, library_dir: Path, enqueue) -> object:
    """Run one job through the app's worker, built as the app builds it, and return what it finished."""
    worker = make_worker(
        model_dir=model_dir,
        engine_options=EngineOptions.from_settings(Settings()),
        store_factory=lambda: Library.open(library_dir),
    )
    finished = []
    worker.job_finished.connect(finished.append)
    enqueue(worker)
    worker.start()
    qtbot.waitUntil(lambda: len(finished) == 1, timeout=120_000)
    assert finished[0].save_error is None, finished[0].save_error
    return finished[0]


def _cli_generate(tiny_flux_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """A panorama with settings beyond the prompt and size, which a later task must carry over."""
    out = tmp_path / "cli.png"
    library = tmp_path / "cli-library"
    args = ["generate", "--prompt", "This is a panorama image. A quiet bay", "--model", str(tiny_flux_dir)]
    args += ["--width", "128", "--height", "64", "--steps", "2", "--seed", "5", "--device", "cpu"]
    args += ["--negative", "fog", "--true-cfg", "1.5", "--rewrap", "on"]
    args += ["--lora", "none", "--quiet", "--output", str(out), "--library", str(library)]
    assert cli_main(args) == 0
    return out, library


def test_a_generation_is_recorded_alike_by_the_app_and_the_cli(
    qtbot, make_worker, tiny_flux_dir, tmp_path
) -> None:
    cli_out, cli_library = _cli_generate(tiny_flux_dir, tmp_path)
    cli_meta = read_metadata(cli_out).dit360
    with Library.open(cli_library) as library:
        (cli_entry,) = library.search()
    request = GenerationRequest.from_dict(cli_meta["request"])

    app_library = tmp_path / "app-library"
    finished = _app_run(qtbot, make_worker, tiny_flux_dir, app_library, lambda w: w.enqueue(request))
    app_meta = read_metadata(finished.entry.path).dit360

    assert app_meta["request"] == cli_meta["request"] and app_meta["seed"] == 5
    assert set(app_meta["timings"]) == set(cli_meta["timings"]) and "created_at" in app_meta
    assert _comparable(app_meta) == _comparable(cli_meta)
    # The CLI's own library entry is the same record as its --output file.
    assert _comparable(read_metadata(cli_entry.path).dit360) == _comparable(cli_meta)
    assert json.dumps(cli_meta["timings"]) == json.dumps(read_metadata(cli_entry.path).dit360["timings"])


@pytest.fixture
def nearest_sr(monkeypatch, tmp_path) -> Path:
    """A ×2 nearest-neighbour network in place of a spandrel model (not installed in the test venv)."""
    from dit360_desktop.core.upscale import job as upscale_job
    from dit360_desktop.core.upscale.model import SuperResolution

    nearest = SuperResolution(
        module=torch.nn.Upsample(scale_factor=2, mode="nearest"),
        scale=2,
        architecture="nearest ×2",
        path=Path("nearest-x2.safetensors"),
        device=torch.device("cpu"),
        dtype=torch.float32,
    )
    monkeypatch.setattr(upscale_job, "load_sr_model", lambda path, device="auto": nearest)
    path = tmp_path / "nearest-x2.safetensors"
    path.write_bytes(b"")
    return path


def test_an_upscale_is_recorded_alike_by_the_app_and_the_cli(
    qtbot, make_worker, tiny_flux_dir, tmp_path, nearest_sr
) -> None:
    _cli_out, source_library = _cli_generate(tiny_flux_dir, tmp_path)
    with Library.open(source_library) as library:
        (source,) = library.search()

    cli_out = tmp_path / "cli-x2.png"
    args = ["upscale", str(source.path), "--scale", "2", "--sr-model", str(nearest_sr), "--tile", "32"]
    args += ["--device", "cpu", "--lora", "none", "--quiet", "--output", str(cli_out)]
    assert cli_main(args) == 0
    cli_meta = read_metadata(cli_out).dit360

    job = UpscaleJob(source=source.path, scale=2, sr_model=nearest_sr, tile=32)
    finished = _app_run(
        qtbot,
        make_worker,
        tiny_flux_dir,
        source_library,
        lambda w: w.enqueue_upscale(job, repair_request(source)),
    )
    app_meta = read_metadata(finished.entry.path).dit360

    assert app_meta["request"]["width"] == cli_meta["request"]["width"] == 256
    # The source's own settings, not defaults, in both.
    for recorded in (app_meta["request"], cli_meta["request"]):
        assert recorded["negative_prompt"] == "fog" and recorded["true_cfg_scale"] == 1.5
        assert recorded["rewrap_each_step"] is True and recorded["seed"] == 5
    assert app_meta["upscale"]["scale"] == cli_meta["upscale"]["scale"] == 2
    assert "job_id" not in app_meta and app_meta["created_at"] != source.metadata["created_at"]
    assert _comparable(app_meta) == _comparable(cli_meta)
