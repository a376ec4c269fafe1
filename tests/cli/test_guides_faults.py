"""The guides' faults through the real ``dit360 generate`` (docs/guides.md): a sentence and the documented
exit code, no traceback, no file. The Control LoRA for another base (exit 3) and the regions file's exit-2
cases are in test_generate_guides_cli.py."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.cli import main
from dit360_desktop.panorama.imageio import read_metadata

WIDTH, HEIGHT = 128, 64


@pytest.fixture(scope="module")
def control_lora(tiny_flux_dir, tmp_path_factory):
    from dit360_desktop.testing.tiny_control import build_tiny_control_lora

    return build_tiny_control_lora(
        tmp_path_factory.mktemp("control") / "control.safetensors", tiny_flux_dir / "transformer"
    )


def args_for(tiny_flux_dir, out, *extra):
    return [
        "generate", "--prompt", "a snowy forest", "--model", str(tiny_flux_dir),
        "--width", str(WIDTH), "--height", str(HEIGHT), "--steps", "2", "--seed", "3",
        "--device", "cpu", "--lora", "none", "--no-history", "--output", str(out), *extra,
    ]  # fmt: skip


def test_redux_for_another_base_exits_3(tiny_flux_dir, tmp_path, capsys):
    from dit360_desktop.testing.tiny_redux import build_tiny_redux

    other = build_tiny_redux(tmp_path / "redux-other", text_dim=48)
    photo = tmp_path / "photo.png"
    Image.new("RGB", (64, 48), (20, 120, 200)).save(photo)
    out = tmp_path / "never.png"
    code = main(
        args_for(tiny_flux_dir, out, "--quiet", "--reference", str(photo), "--redux-model", str(other))
    )
    assert code == 3
    err = capsys.readouterr().err
    assert "another base model" in err and "Traceback" not in err
    assert not out.exists() and not (tmp_path / "never.guides").exists()


def test_a_square_control_image_is_fitted_with_a_notice(tiny_flux_dir, control_lora, tmp_path, caplog):
    square = tmp_path / "square.png"
    Image.new("RGB", (96, 96), (90, 40, 200)).save(square)
    out = tmp_path / "fitted.png"
    code = main(
        args_for(tiny_flux_dir, out, "--control-image", str(square), "--control-lora", str(control_lora))
    )
    assert code == 0
    notice = "The control image (96×96) is not 128:64; it was fitted by crop."
    assert notice in caplog.messages
    assert notice in read_metadata(out).dit360["warnings"]


def test_a_control_strip_exits_2_naming_the_field(tiny_flux_dir, control_lora, tmp_path, capsys):
    strip = tmp_path / "strip.png"
    Image.new("RGB", (1024, 32), (90, 40, 200)).save(strip)
    out = tmp_path / "never.png"
    code = main(
        args_for(
            tiny_flux_dir, out, "--quiet", "--control-image", str(strip), "--control-lora", str(control_lora)
        )
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "control_image" in err and "too far from the panorama" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("size", "code", "said"),
    [((64, 64), 0, "The mask of region 1 (64×64) was stretched to 2:1."), ((1024, 16), 2, "regions[0].mask")],
)
def test_a_region_mask_of_another_aspect(tiny_flux_dir, tmp_path, capsys, caplog, size, code, said):
    mask = np.zeros(size[::-1], np.uint8)
    mask[:, : size[0] // 2] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    regions = tmp_path / "regions.json"
    regions.write_text(json.dumps([{"prompt": "a red dragon", "mask": "mask.png"}]))
    out = tmp_path / "out.png"
    assert main(args_for(tiny_flux_dir, out, "--regions", str(regions))) == code
    err = capsys.readouterr().err
    assert said in err + "\n".join(caplog.messages) and "Traceback" not in err
    assert out.exists() == (code == 0)
