"""`dit360 generate` with structure control (cli/guides.py), end to end on the tiny model."""

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


@pytest.fixture
def panorama(tmp_path):
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[16:48, 20:60] = 255
    pixels[:, 120:] = 200  # a bright band that crosses the seam
    pixels[:, :6] = 200
    path = tmp_path / "pano.png"
    Image.fromarray(pixels).save(path)
    return path


def args_for(tiny_flux_dir, *extra):
    return [
        "generate", "--prompt", "a snowy forest", "--model", str(tiny_flux_dir),
        "--width", str(WIDTH), "--height", str(HEIGHT), "--steps", "2", "--seed", "3",
        "--device", "cpu", "--lora", "none", "--quiet", "--no-history", *extra,
    ]  # fmt: skip


def test_control_image_and_lora(tiny_flux_dir, control_lora, panorama, tmp_path):
    plain, guided = tmp_path / "plain.png", tmp_path / "guided.png"
    assert main(args_for(tiny_flux_dir, "--output", str(plain))) == 0
    code = main(
        args_for(
            tiny_flux_dir, "--output", str(guided), "--control-image", str(panorama),
            "--control-lora", str(control_lora), "--control-scale", "0.8", "--control-range", "0:0.6",
        )
    )  # fmt: skip
    assert code == 0
    assert not np.array_equal(np.asarray(Image.open(plain)), np.asarray(Image.open(guided)))
    stored = read_metadata(guided).dit360["request"]
    assert stored["control_image"] == str(panorama)
    assert stored["control_scale"] == 0.8
    assert (stored["control_start"], stored["control_end"]) == (0.0, 0.6)


def test_control_from_canny_is_written_beside_the_output(tiny_flux_dir, control_lora, panorama, tmp_path):
    out = tmp_path / "out" / "canny.png"
    out.parent.mkdir()
    code = main(
        args_for(
            tiny_flux_dir, "--output", str(out), "--control-from", "canny", str(panorama),
            "--control-lora", str(control_lora),
        )
    )  # fmt: skip
    assert code == 0
    edges = np.asarray(Image.open(out.parent / "control-canny-pano.png"))
    assert edges.shape == (HEIGHT, WIDTH, 3)
    # The box's outline is found, and the band that crosses the seam has no edge at the seam itself.
    assert edges[16:48, 19:22].max() == 255
    assert edges[:, :3].max() == 0 and edges[:, -3:].max() == 0


def test_control_from_canny_without_opencv_exits_3_with_the_sentence(
    tiny_flux_dir, control_lora, panorama, tmp_path, capsys, monkeypatch
):
    import sys

    from dit360_desktop.panorama.edges import MISSING_OPENCV

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 raises ImportError
    out = tmp_path / "out" / "canny.png"
    out.parent.mkdir()
    code = main(
        args_for(
            tiny_flux_dir, "--output", str(out), "--control-from", "canny", str(panorama),
            "--control-lora", str(control_lora),
        )
    )  # fmt: skip
    assert code == 3
    assert capsys.readouterr().err == f"error: {MISSING_OPENCV}\n"
    assert list(out.parent.iterdir()) == []


def test_control_lora_for_another_base_exits_3(tiny_flux_dir, panorama, tmp_path, capsys):
    from dit360_desktop.testing.tiny_control import build_bfl_control_lora

    bfl = build_bfl_control_lora(tmp_path / "flux1-depth-dev-lora.safetensors")
    out = tmp_path / "never.png"
    code = main(
        args_for(
            tiny_flux_dir, "--output", str(out), "--control-image", str(panorama), "--control-lora", str(bfl)
        )
    )
    err = capsys.readouterr().err
    assert code == 3
    assert "another base model" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--control-range", "0.6:0.4"], "--control-range"),
        (["--control-range", "0:1.5"], "--control-range"),
        (["--control-scale", "nan"], "--control-scale"),
    ],
)
def test_bad_control_options_exit_2(tiny_flux_dir, extra, named, capsys):
    with pytest.raises(SystemExit) as refused:
        main(args_for(tiny_flux_dir, *extra))
    assert refused.value.code == 2
    assert named in capsys.readouterr().err


def test_control_image_without_lora_exits_2(tiny_flux_dir, panorama, capsys):
    assert main(args_for(tiny_flux_dir, "--control-image", str(panorama))) == 2
    assert "control_lora" in capsys.readouterr().err


def test_reference_image_with_redux(tiny_flux_dir, panorama, tmp_path):
    from dit360_desktop.testing.tiny_redux import build_tiny_redux

    redux = build_tiny_redux(tmp_path / "FLUX.1-Redux-dev")
    out = tmp_path / "referenced.png"
    code = main(
        args_for(
            tiny_flux_dir, "--output", str(out), "--reference", str(panorama), "--redux-model", str(redux),
            "--reference-strength", "0.7",
        )
    )  # fmt: skip
    assert code == 0
    stored = read_metadata(out).dit360["request"]
    assert stored["reference_image"] == str(panorama)
    assert stored["reference_strength"] == 0.7
    assert stored["reference_model"] == str(redux)


def test_reference_without_redux_model_exits_3(tiny_flux_dir, panorama, tmp_path, capsys):
    out = tmp_path / "never.png"
    assert main(args_for(tiny_flux_dir, "--output", str(out), "--reference", str(panorama))) == 3
    err = capsys.readouterr().err
    assert "dit360 models download flux1-redux-dev" in err
    assert "FLUX.1-dev folder" not in err and "Traceback" not in err
    assert not out.exists()


def test_reference_strength_out_of_range_exits_2(tiny_flux_dir, panorama, capsys):
    with pytest.raises(SystemExit) as refused:
        main(args_for(tiny_flux_dir, "--reference", str(panorama), "--reference-strength", "3"))
    assert refused.value.code == 2
    assert "--reference-strength" in capsys.readouterr().err


def write_regions(folder, regions):
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[:, : WIDTH // 2] = 255
    Image.fromarray(mask).save(folder / "left.png")
    path = folder / "regions.json"
    path.write_text(json.dumps(regions) if not isinstance(regions, str) else regions)
    return path


def test_regions_file(tiny_flux_dir, tmp_path):
    regions = write_regions(tmp_path, [{"prompt": "a red dragon", "mask": "left.png"}])
    out = tmp_path / "regions.png"
    assert main(args_for(tiny_flux_dir, "--output", str(out), "--regions", str(regions))) == 0
    stored = read_metadata(out).dit360["request"]
    assert stored["regions_file"] == str(regions.resolve()) and stored["regions_until"] == 0.5


@pytest.mark.parametrize(
    ("regions", "named"),
    [
        ([{"prompt": f"p{i}", "mask": "left.png"} for i in range(9)], "regions: at most 8"),
        ([{"prompt": "", "mask": "left.png"}], "regions[0].prompt"),
        ('[{"prompt": "a", ', "regions: regions.json is not valid JSON"),
    ],
)
def test_bad_regions_exit_2_naming_the_field(tiny_flux_dir, tmp_path, regions, named, capsys):
    path = write_regions(tmp_path, regions)
    out = tmp_path / "never.png"
    assert main(args_for(tiny_flux_dir, "--output", str(out), "--regions", str(path))) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
    assert not out.exists()


def test_control_from_depth_uses_the_depth_task(tiny_flux_dir, control_lora, panorama, tmp_path):
    from dit360_desktop.testing.tiny_depth import build_tiny_depth

    depth_model = build_tiny_depth(tmp_path / "Depth-Anything-V2-Tiny")
    # A textured room-like panorama: the random tiny depth model needs texture for finite distances.
    rng = np.random.default_rng(0)
    pixels = (rng.random((HEIGHT, WIDTH, 3)) * 128 + np.linspace(0, 127, HEIGHT)[:, None, None]).astype(
        np.uint8
    )
    Image.fromarray(pixels).save(panorama)
    out = tmp_path / "out" / "depth-guided.png"
    out.parent.mkdir()
    code = main(
        args_for(
            tiny_flux_dir, "--output", str(out), "--control-from", "depth", str(panorama),
            "--depth-model", str(depth_model), "--control-lora", str(control_lora),
        )
    )  # fmt: skip
    assert code == 0
    control = out.parent / "control-depth-pano.png"
    depth = np.asarray(Image.open(control))
    assert depth.shape == (HEIGHT, WIDTH, 3)
    assert np.array_equal(depth[..., 0], depth[..., 1]) and depth.max() == 255  # grey, 1/distance scaled
    assert read_metadata(out).dit360["request"]["control_image"] == str(control)


def test_control_from_a_missing_panorama_exits_2(tiny_flux_dir, control_lora, tmp_path, capsys):
    code = main(
        args_for(
            tiny_flux_dir, "--control-from", "depth", str(tmp_path / "nope.png"),
            "--control-lora", str(control_lora),
        )
    )  # fmt: skip
    assert code == 2
    assert "--control-from" in capsys.readouterr().err
