"""`dit360 edit` and `dit360 place` end to end on the tiny model, and their exit codes for bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.cli import main

WIDTH, HEIGHT = 128, 64


def write_inputs(tmp_path, *, mask=None, size=(WIDTH, HEIGHT)):
    yy, xx = np.mgrid[0 : size[1], 0 : size[0]]
    pano = np.stack([128 + 80 * np.sin(xx / 9), 128 + 80 * np.cos(yy / 7), 128 + 0 * xx], -1).astype(np.uint8)
    Image.fromarray(pano).save(tmp_path / "pano.png")
    if mask is None:
        mask = np.zeros((HEIGHT, WIDTH), np.uint8)
        mask[16:48, 100:] = 255
        mask[16:48, :20] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return tmp_path / "pano.png", tmp_path / "mask.png"


def common(tiny_flux_dir):
    return ["--model", str(tiny_flux_dir), "--steps", "2", "--seed", "4", "--device", "cpu", "--lora", "none"]


def edit_args(tiny_flux_dir, pano, mask, *extra):
    return [
        "edit",
        "--image",
        str(pano),
        "--mask",
        str(mask),
        "--prompt",
        "a red barn",
        *common(tiny_flux_dir),
        "--quiet",
        *extra,
    ]


def test_edit_blend_writes_png_and_latent_with_the_edit_parameters(tiny_flux_dir, tmp_path, capsys):
    pano, mask = write_inputs(tmp_path)
    out, latent = tmp_path / "out.png", tmp_path / "out.safetensors"
    code = main(
        edit_args(
            tiny_flux_dir, pano, mask, "--output", str(out), "--save-latent", str(latent), "--no-history"
        )
    )
    assert code == 0, capsys.readouterr().err
    assert Image.open(out).size == (WIDTH, HEIGHT)
    from dit360_desktop.core.latents import load_latent
    from dit360_desktop.panorama.imageio import read_metadata

    meta = read_metadata(out)
    request = meta.dit360["request"]
    assert (request["edit_method"], request["feather"], request["strength"]) == ("blend", 8, 0.8)
    assert request["mask_image"] == str(mask)
    assert "Edit method: blend" in meta.parameters and "Feather: 8" in meta.parameters
    tensor = load_latent(latent)
    assert tuple(tensor.shape) == (1, 16, HEIGHT // 8, WIDTH // 8)
    # Kept pixels far from the mask are the input's.
    assert np.array_equal(np.asarray(Image.open(out))[:, 50:70], np.asarray(Image.open(pano))[:, 50:70])


def test_edit_reference_runs_with_the_published_defaults(tiny_flux_dir, tmp_path, capsys):
    pano, mask = write_inputs(tmp_path)
    out = tmp_path / "out.png"
    code = main(
        edit_args(
            tiny_flux_dir,
            pano,
            mask,
            "--method",
            "reference",
            "--tau",
            "40",
            "--output",
            str(out),
            "--no-history",
        )
    )
    assert code == 0, capsys.readouterr().err
    from dit360_desktop.panorama.imageio import read_metadata

    request = read_metadata(out).dit360["request"]
    assert (request["edit_method"], request["tau"], request["guidance"]) == ("reference", 40.0, 3.5)


@pytest.mark.parametrize(
    ("mask", "fragment"),
    [
        (np.zeros((HEIGHT, WIDTH), np.uint8), "nothing to regenerate"),
        (np.full((64, 64), 255, np.uint8), "same aspect ratio"),
    ],
    ids=["all-black", "aspect"],
)
def test_bad_masks_exit_2(tiny_flux_dir, tmp_path, capsys, mask, fragment):
    pano, mask_path = write_inputs(tmp_path, mask=mask)
    assert main(edit_args(tiny_flux_dir, pano, mask_path, "--no-history")) == 2
    assert fragment in capsys.readouterr().err


def test_unreadable_mask_exits_2(tiny_flux_dir, tmp_path, capsys):
    pano, _ = write_inputs(tmp_path)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"%PDF-1.4 not an image")
    assert main(edit_args(tiny_flux_dir, pano, broken, "--no-history")) == 2
    assert "PDF" in capsys.readouterr().err


def test_panorama_that_is_not_2_to_1_offers_fit(tiny_flux_dir, tmp_path, capsys):
    pano, _ = write_inputs(tmp_path, size=(96, 64))
    mask = np.full((64, 96), 255, np.uint8)
    Image.fromarray(mask).save(tmp_path / "mask.png")
    assert main(edit_args(tiny_flux_dir, pano, tmp_path / "mask.png", "--no-history")) == 2
    err = capsys.readouterr().err
    assert "not a 2:1 panorama" in err and "--fit" in err and "dit360 place" in err


def test_place_canvas_only_writes_canvas_and_mask_without_a_model(tmp_path, capsys):
    photo = np.full((90, 120, 3), 200, np.uint8)
    Image.fromarray(photo).save(tmp_path / "photo.jpg")
    canvas = tmp_path / "canvas.png"
    code = main(
        [
            *("place", "--photo", str(tmp_path / "photo.jpg"), "--yaw", "90", "--fov", "50"),
            *("--width", "256", "--height", "128", "--canvas-only", str(canvas)),
        ]
    )
    assert code == 0, capsys.readouterr().err
    placed = np.asarray(Image.open(canvas))
    mask = np.asarray(Image.open(tmp_path / "canvas.mask.png"))
    assert placed.shape == (128, 256, 3) and mask.shape == (128, 256)
    # yaw 90° is three quarters across; the photo is 50° ≈ 36 px wide there, with a 2 px ramp at 256 wide.
    assert mask[64, 192] == 0 and mask[64, 64] == 255 and 0 < mask[64, 176] < 255
    assert np.abs(placed[64, 192].astype(int) - 200).max() <= 1
    assert "Field of view: --fov 50°" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "fragment"), [(["--fov", "5", "--prompt", "a beach"], "between 10 and 170°"), ([], "--prompt")]
)
def test_place_bad_options_exit_2(tmp_path, capsys, extra, fragment):
    Image.fromarray(np.full((90, 120, 3), 200, np.uint8)).save(tmp_path / "photo.png")
    try:
        code = main(["place", "--photo", str(tmp_path / "photo.png"), *extra])
    except SystemExit as exit_:  # options are refused by argparse, before anything runs
        code = exit_.code
    assert code == 2
    assert fragment in capsys.readouterr().err


def test_place_outpaints_the_rest(tiny_flux_dir, tmp_path, capsys):
    Image.fromarray(np.full((90, 120, 3), 200, np.uint8)).save(tmp_path / "photo.png")
    out = tmp_path / "out.png"
    code = main(
        [
            *("place", "--photo", str(tmp_path / "photo.png"), "--prompt", "a beach", "--fov", "60"),
            *(
                "--width",
                str(WIDTH),
                "--height",
                str(HEIGHT),
                "--output",
                str(out),
                "--no-history",
                "--quiet",
            ),
            *common(tiny_flux_dir),
        ]
    )
    assert code == 0, capsys.readouterr().err
    from dit360_desktop.panorama.imageio import read_metadata

    meta = read_metadata(out).dit360
    assert meta["edit"]["outpaint"] is True
    assert meta["request"]["mask_image"].endswith(".mask.png")
    assert Image.open(meta["request"]["init_image"]).size == (WIDTH, HEIGHT)
