"""`--extra-lora FILE[:SCALE]` on the command line, and what it refuses (exit 3, naming the file)."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from dit360_desktop.cli import main
from dit360_desktop.cli.generate import extra_lora
from dit360_desktop.testing.tiny_flux import build_tiny_lora


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("style.safetensors", ("style.safetensors", 1.0)),
        ("style.safetensors:0.5", ("style.safetensors", 0.5)),
        ("style.safetensors:-1", ("style.safetensors", -1.0)),
        ("C:\\loras\\style.safetensors", ("C:\\loras\\style.safetensors", 1.0)),
        ("C:\\loras\\style.safetensors:0.25", ("C:\\loras\\style.safetensors", 0.25)),
    ],
)
def test_extra_lora_argument_splits_the_scale_off(value, expected):
    assert extra_lora(value) == expected


def args(tiny_flux_dir, tmp_path, *extra):
    return [
        "generate", "--prompt", "a snowy forest", "--model", str(tiny_flux_dir), "--width", "128",
        "--height", "64", "--steps", "1", "--seed", "3", "--device", "cpu", "--lora", "none", "--quiet",
        "--no-history", "--output", str(tmp_path / "out.png"), *extra,
    ]  # fmt: skip


def test_generate_stacks_extra_loras_and_records_them(tiny_flux_dir, tmp_path):
    from dit360_desktop.panorama.imageio import read_metadata

    style = build_tiny_lora(tmp_path / "style.safetensors", tiny_flux_dir / "transformer", peft_folder=False)
    turbo = build_tiny_lora(tmp_path / "turbo", tiny_flux_dir / "transformer", seed=4)
    code = main(args(tiny_flux_dir, tmp_path, "--extra-lora", f"{style}:0.5", "--extra-lora", str(turbo)))
    assert code == 0
    meta = read_metadata(tmp_path / "out.png")
    assert meta.dit360["request"]["extra_loras"] == [
        {"path": str(style), "scale": 0.5},
        {"path": str(turbo), "scale": 1.0},
    ]
    assert "<lora:style:0.5> <lora:turbo:1>" in meta.parameters


def test_a_lora_for_another_base_model_exits_3_naming_it(tiny_flux_dir, tmp_path, capsys):
    sdxl = tmp_path / "sdxl_ink.safetensors"
    save_file(
        {
            "lora_unet_output_blocks_1_1_proj_in.lora_down.weight": torch.zeros(4, 32),
            "lora_unet_output_blocks_1_1_proj_in.lora_up.weight": torch.zeros(32, 4),
        },
        str(sdxl),
    )
    assert main(args(tiny_flux_dir, tmp_path, "--extra-lora", f"{sdxl}:0.8")) == 3
    error = capsys.readouterr().err
    assert "sdxl_ink.safetensors" in error and "UNet" in error and "Traceback" not in error
    assert not (tmp_path / "out.png").exists()


def test_a_missing_extra_lora_exits_3_before_the_model_loads(tiny_flux_dir, tmp_path, capsys):
    missing = tmp_path / "nowhere.safetensors"
    assert main(args(tiny_flux_dir, tmp_path, "--extra-lora", str(missing))) == 3
    assert "nowhere.safetensors" in capsys.readouterr().err


def test_fp8_compute_is_refused_on_the_cpu_with_exit_2(tiny_flux_dir, tmp_path, capsys):
    assert main(args(tiny_flux_dir, tmp_path, "--fp8-compute")) == 2
    error = capsys.readouterr().err
    assert "--fp8-compute needs an NVIDIA Hopper GPU" in error and "cpu" in error


def test_cache_alone_runs_the_default_fast_draft_and_records_it(tiny_flux_dir, tmp_path):
    from dit360_desktop.panorama.imageio import read_metadata
    from dit360_desktop.panorama.request import DEFAULT_STEP_CACHE

    assert main(args(tiny_flux_dir, tmp_path, "--cache")) == 0
    meta = read_metadata(tmp_path / "out.png")
    assert meta.dit360["request"]["step_cache"] == DEFAULT_STEP_CACHE == "magcache"
    assert "Step cache: magcache" in meta.parameters
    assert any(w.startswith("Fast draft: MagCache") for w in meta.dit360["warnings"])


def test_an_unknown_cache_method_is_a_usage_error(tiny_flux_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(args(tiny_flux_dir, tmp_path, "--cache", "teacache"))
    assert caught.value.code == 2 and "teacache" in capsys.readouterr().err


def test_a_damaged_lora_says_verify_and_repair_only_when_the_model_manager_installed_it(
    tiny_flux_dir, tmp_path, capsys
):
    """The advice that fits every damaged file comes with the error; "verify --repair" is added only for a
    file the model manager can fetch again (a user's own LoRA it cannot)."""
    from dit360_desktop.models.location import configured_models_dir
    from dit360_desktop.models.registry import SOURCE_IN_PLACE, RegistryEntry, update_registry

    folder = tmp_path / "loras"
    style = build_tiny_lora(folder / "style.safetensors", tiny_flux_dir / "transformer", peft_folder=False)
    with style.open("r+b") as handle:
        handle.truncate(style.stat().st_size - 7)
    assert main(args(tiny_flux_dir, tmp_path, "--extra-lora", str(style))) == 3
    err = capsys.readouterr().err
    assert "style.safetensors is damaged or incomplete" in err and "Delete it and download it again." in err
    assert "verify" not in err.lower() and err.count("\n") == 1

    entry = RegistryEntry("dit360-lora", folder, SOURCE_IN_PLACE, True, None, None, {})
    update_registry(configured_models_dir(), entry)
    assert main(args(tiny_flux_dir, tmp_path, "--extra-lora", str(style))) == 3
    assert "Or run `dit360 models verify --repair`" in capsys.readouterr().err
