"""`dit360 generate` and `dit360 decode` end to end on the tiny model, with their exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.cli import main


def base_args(tiny_flux_dir, tmp_path, *extra):
    return [
        "generate",
        "--prompt",
        "a snowy forest",
        "--model",
        str(tiny_flux_dir),
        "--width",
        "128",
        "--height",
        "64",
        "--steps",
        "2",
        "--seed",
        "3",
        "--device",
        "cpu",
        "--lora",
        "none",
        "--quiet",
        *extra,
    ]


def test_generate_writes_png_latent_and_history(tiny_flux_dir, tmp_path, capsys):
    out = tmp_path / "pano.png"
    latent = tmp_path / "pano.safetensors"
    library = tmp_path / "library"
    args = ["--output", str(out), "--save-latent", str(latent), "--library", str(library)]
    code = main(base_args(tiny_flux_dir, tmp_path, *args, "--seamless-decode", "off"))
    assert code == 0
    assert Image.open(out).size == (128, 64)
    from dit360_desktop.panorama.imageio import read_metadata

    meta = read_metadata(out)
    assert meta.dit360["request"]["seed"] == 3
    assert meta.gpano["ProjectionType"] == "equirectangular"
    assert "Seed: 3" in meta.parameters
    assert list(library.rglob("*.png"))

    from dit360_desktop.core.latents import load_latent

    tensor = load_latent(latent)
    assert tuple(tensor.shape) == (1, 16, 8, 16)

    decoded = tmp_path / "decoded.png"
    assert (
        main(
            [
                "decode",
                str(latent),
                "--model",
                str(tiny_flux_dir),
                "--seamless-decode",
                "off",
                "--output",
                str(decoded),
                "--device",
                "cpu",
            ]
        )
        == 0
    )
    assert np.array_equal(np.asarray(Image.open(decoded)), np.asarray(Image.open(out)))


def test_no_history_writes_only_the_output(tiny_flux_dir, tmp_path, isolated_home):
    out = tmp_path / "only.png"
    assert main(base_args(tiny_flux_dir, tmp_path, "--output", str(out), "--no-history")) == 0
    assert out.exists()
    assert not list(isolated_home.rglob("*.png"))


def test_bad_request_exits_2_without_traceback(tiny_flux_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as refused:  # refused when parsed (cli/arg_types.py)
        main(base_args(tiny_flux_dir, tmp_path, "--width", "130", "--no-history"))
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert "width" in err and "multiple of 16" in err and "Traceback" not in err


def test_bad_init_image_exits_2(tiny_flux_dir, tmp_path, capsys):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    code = main(base_args(tiny_flux_dir, tmp_path, "--init-image", str(bad), "--no-history"))
    assert code == 2
    assert "broken.png" in capsys.readouterr().err


def test_missing_model_exits_3_with_instructions(tmp_path, capsys):
    code = main(
        ["generate", "--prompt", "x", "--width", "128", "--height", "64", "--lora", "none", "--quiet"]
    )
    assert code == 3
    assert "dit360 models download" in capsys.readouterr().err


def test_ctrl_c_exits_130_and_leaves_no_file(tiny_flux_dir, tmp_path):
    out = tmp_path / "never.png"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    args = base_args(tiny_flux_dir, tmp_path, "--output", str(out), "--no-history")
    args[args.index("--steps") + 1] = "200"
    args[args.index("--width") + 1] = "512"
    args[args.index("--height") + 1] = "256"
    args.remove("--quiet")
    proc = subprocess.Popen(
        [sys.executable, "-m", "dit360_desktop.cli", *args], stderr=subprocess.PIPE, text=True, env=env
    )
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        if "step 2/" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert not out.exists()
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("value", ["maybe", "2"])
def test_on_off_arguments_are_validated(value, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["generate", "--prompt", "x", "--seamless-decode", value])
    assert caught.value.code == 2


def test_disk_full_while_saving_exits_6_and_writes_nothing(tiny_flux_dir, tmp_path, monkeypatch, capsys):
    import errno

    import dit360_desktop.panorama.imageio as imageio

    def full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(imageio, "save_png", full)
    out = tmp_path / "full.png"
    code = main(base_args(tiny_flux_dir, tmp_path, "--output", str(out), "--no-history"))
    assert code == 6
    assert "No space left" in capsys.readouterr().err
    assert not out.exists()


def test_speed_and_tier_options_reach_the_engine(tiny_flux_dir, tmp_path, monkeypatch):
    from dit360_desktop.core import engine as engine_module
    from dit360_desktop.panorama.options import EngineOptions

    made = {}
    original = engine_module.PanoramaEngine

    class Recording(original):
        def __init__(self, model_dir, options=None):
            made["options"] = options
            super().__init__(model_dir, options)

        def run(self, request, *args, **kwargs):
            made["tier"] = request.tier
            return super().run(request, *args, **kwargs)

    monkeypatch.setattr(engine_module, "PanoramaEngine", Recording)
    out = tmp_path / "pano.png"
    extra = ["--output", str(out), "--no-history", "--tier", "cpu", "--fuse-lora", "--attention", "native"]
    assert main(base_args(tiny_flux_dir, tmp_path, *extra)) == 0
    assert made["options"] == EngineOptions(fuse_lora=True, attention="native") and made["tier"] == "cpu"
    assert Image.open(out).size == (128, 64)
