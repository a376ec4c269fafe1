"""A table of bad inputs: each must end in a documented exit code and one sentence, never a traceback.

Adding a case is one row: the arguments, an optional function that damages a copy of the tiny model
(or makes a bad file), the exit code and words the message must contain.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from dit360_desktop.cli import main

VAE_WEIGHTS = "vae/diffusion_pytorch_model.safetensors"
TRANSFORMER_WEIGHTS = "transformer/diffusion_pytorch_model.safetensors"


@dataclass(frozen=True)
class Case:
    name: str
    args: tuple[str, ...]  # {model}, {tmp} and {lora} are filled in
    code: int
    words: tuple[str, ...]
    damage: Callable[[Path, Path], None] | None = None  # (model copy, tmp folder)
    generate: bool = True  # a `generate` run on the tiny model (else the args are the whole command)


def _kohya_sd15_lora(_model: Path, tmp: Path) -> None:
    # The key names of a kohya LoRA for Stable Diffusion 1.5's UNet and text encoder.
    tensors = {
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 320),
        "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(320, 4),
        "lora_unet_down_blocks_0_attentions_0_proj_in.alpha": torch.tensor(4.0),
        "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight": torch.zeros(4, 768),
        "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight": torch.zeros(3072, 4),
    }
    save_file(tensors, str(tmp / "sd15_style.safetensors"))


def _lora_with_disagreeing_ranks(model: Path, tmp: Path) -> None:
    from dit360_desktop.testing.tiny_flux import build_tiny_lora

    folder = build_tiny_lora(tmp / "lora", model / "transformer")
    tensors = load_file(str(folder / "adapter_model.safetensors"))
    key = sorted(k for k in tensors if "lora_A" in k)[0]
    tensors[key] = torch.zeros(tensors[key].shape[0] + 2, tensors[key].shape[1])  # a rank its B lacks
    save_file(tensors, str(tmp / "damaged_lora.safetensors"))


def _config_with_a_word(model: Path, _tmp: Path) -> None:
    config_path = model / "transformer" / "config.json"
    config = json.loads(config_path.read_text())
    config["num_layers"] = "many"
    config_path.write_text(json.dumps(config))


def _nan_vae(model: Path, _tmp: Path) -> None:
    path = model / VAE_WEIGHTS
    tensors = {k: torch.full_like(v, float("nan")) for k, v in load_file(str(path)).items()}
    save_file(tensors, str(path))


def _latent_file(_model: Path, tmp: Path) -> None:
    save_file({"latent": torch.zeros(1, 16, 8, 16)}, str(tmp / "l.safetensors"))


def _output_is_a_folder(_model: Path, tmp: Path) -> None:
    (tmp / "out.png").mkdir()


def _library_is_a_file(_model: Path, tmp: Path) -> None:
    (tmp / "library").write_text("a file")


def _jobs_file(_model: Path, tmp: Path) -> None:
    (tmp / "jobs.jsonl").write_text('{"prompt": "a harbour", "width": 128, "height": 64}\n')


def _jobs_file_with_a_bad_line(_model: Path, tmp: Path) -> None:
    (tmp / "jobs.jsonl").write_text('{"prompt": "a harbour"}\n{not json\n')


def _garbage_image(_model: Path, tmp: Path) -> None:
    (tmp / "garbage.png").write_bytes(bytes(range(256)) * 2)


def _pickle_sr_model(_model: Path, tmp: Path) -> None:
    Image.new("RGB", (64, 32), (40, 80, 120)).save(tmp / "pano.png")
    (tmp / "x4.pth").write_bytes(b"\x80\x02}q\x00.")  # a pickle's first bytes


def _square_image(_model: Path, tmp: Path) -> None:
    Image.new("RGB", (64, 64), (40, 80, 120)).save(tmp / "square.png")


CASES = [
    Case("attention flash", ("--attention", "flash"), 2, ("flash", "It can run: auto, native")),
    Case("attention _flash_3", ("--attention", "_flash_3"), 2, ("_flash_3", "It can run")),
    Case("attention cudnn", ("--attention", "_native_cudnn"), 2, ("_native_cudnn", "It can run")),
    Case("kohya SD1.5 LoRA", ("--lora", "{tmp}/sd15_style.safetensors"), 3, ("sd15_style", "UNet"),
         _kohya_sd15_lora),
    Case("LoRA whose A and B disagree in rank", ("--lora", "{tmp}/damaged_lora.safetensors"), 3,
         ("damaged_lora.safetensors", "disagree in shape"), _lora_with_disagreeing_ranks),
    Case("config value of the wrong type", (), 3, ("config.json", "num_layers", "many"), _config_with_a_word),
    Case("all-NaN VAE", (), 3, ("VAE", "NaN"), _nan_vae),
    Case("output is a folder", ("--output", "{tmp}/out.png"), 2, ("--output", "folder"), _output_is_a_folder),
    Case("library is a file", ("--library", "{tmp}/library"), 2, ("--library", "not a folder"),
         _library_is_a_file),
    Case("missing init image", ("--init-image", "{tmp}/nope.png"), 2, ("nope.png",)),
    Case("latent without .safetensors", ("--save-latent", "{tmp}/x.bin"), 2, ("--save-latent",)),
    Case("stall timeout 0", ("models", "download", "--stall-timeout", "0"), 2, ("--stall-timeout",),
         generate=False),
    Case("negative retries", ("models", "download", "--retries", "-5"), 2, ("--retries",), generate=False),
    Case("ftp endpoint", ("models", "download", "--endpoint", "ftp://mirror.example"), 2, ("--endpoint",),
         generate=False),
    Case("endpoint that is no URL", ("models", "verify", "--endpoint", "mirror"), 2, ("--endpoint",),
         generate=False),
    Case("unknown history entry", ("history", "show", "999", "--library", "{tmp}/lib"), 2, ("999",),
         generate=False),
    Case("decode onto a folder", ("decode", "{tmp}/l.safetensors", "--model", "{model}", "--output", "{tmp}"),
         2, ("--output", "folder"), _latent_file, generate=False),
    Case("decode a missing latent", ("decode", "{tmp}/none.safetensors", "--output", "{tmp}/d.png"), 2,
         ("none.safetensors",), generate=False),
    Case("batch: a line that is not JSON", ("batch", "{tmp}/jobs.jsonl", "--cluster", "local"), 2,
         ("jobs.jsonl", "line 2", "not valid JSON"), _jobs_file_with_a_bad_line, generate=False),
    Case("batch: missing jobs file", ("batch", "{tmp}/none.jsonl", "--cluster", "local"), 2,
         ("none.jsonl", "does not exist"), generate=False),
    Case("batch: malformed --cluster", ("batch", "{tmp}/jobs.jsonl", "--cluster", "ray://head:port"), 2,
         ("ray://head:port", "not a cluster address"), _jobs_file, generate=False),
    Case("qa: unreadable image", ("qa", "{tmp}/garbage.png"), 2, ("garbage.png", "not a recognisable image"),
         _garbage_image, generate=False),
    Case("upscale: --sr-model not safetensors",
         ("upscale", "{tmp}/pano.png", "--scale", "2", "--sr-model", "{tmp}/x4.pth",
          "--output", "{tmp}/up.png"),
         3, ("x4.pth", "not a .safetensors"), _pickle_sr_model, generate=False),
    Case("repair: not a 2:1 image",
         ("repair", "{tmp}/square.png", "--seam", "--model", "{model}", "--device", "cpu", "--no-history"), 2,
         ("square.png", "not a 2:1"), _square_image, generate=False),
]  # fmt: skip


def _generate_args(model: Path) -> list[str]:
    return [
        "generate", "--prompt", "a harbour", "--model", str(model), "--width", "128", "--height", "64",
        "--steps", "2", "--seed", "1", "--device", "cpu", "--lora", "none", "--quiet", "--no-history",
    ]  # fmt: skip


def _model_copy(tiny_flux_dir: Path, tmp_path: Path, damage: Callable[[Path, Path], None] | None) -> Path:
    if damage is None:
        return tiny_flux_dir
    model = tmp_path / "FLUX.1-dev"
    shutil.copytree(tiny_flux_dir, model)
    return model


def _command(case: Case, model: Path, tmp_path: Path) -> list[str]:
    filled = [a.format(model=model, tmp=tmp_path) for a in case.args]
    if not case.generate:
        return filled
    args = _generate_args(model)
    if "--library" in filled:
        args.remove("--no-history")
    if "--lora" in filled:
        at = args.index("--lora")
        del args[at : at + 2]
    return [*args, *filled]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input_gives_a_sentence_and_its_exit_code(case: Case, tiny_flux_dir, tmp_path, capsys) -> None:
    model = _model_copy(tiny_flux_dir, tmp_path, case.damage)
    if case.damage is not None:
        case.damage(model, tmp_path)
    try:
        code = main(_command(case, model, tmp_path))
    except SystemExit as exit_:  # argparse refuses an option before any handler runs
        code = exit_.code
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output
    assert code == case.code, output
    for word in case.words:
        assert word in output, output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_weights_that_are_a_fifo_are_refused_without_hanging(tiny_flux_dir, tmp_path) -> None:
    model = _model_copy(tiny_flux_dir, tmp_path, lambda *_: None)
    weights = model / TRANSFORMER_WEIGHTS
    weights.unlink()
    os.mkfifo(weights)
    # A separate process: before the fix, opening the FIFO blocked forever.
    proc = subprocess.run(
        [sys.executable, "-m", "dit360_desktop.cli", *_generate_args(model)],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 3, proc.stderr
    assert "FIFO" in proc.stderr and str(weights) in proc.stderr and "Traceback" not in proc.stderr
