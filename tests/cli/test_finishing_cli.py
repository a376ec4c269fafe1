"""`dit360 qa`, `upscale`, `repair` and the new `history export` formats from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.cli import main


def parse_refused(argv: list[str]) -> int:
    """The exit code of options refused when parsed (cli/arg_types.py): argparse exits with 2."""
    with pytest.raises(SystemExit) as refused:
        main(argv)
    return refused.value.code


def smooth_panorama(height: int = 64) -> np.ndarray:
    width = 2 * height
    yaw = (np.arange(width) + 0.5) / width * 2 * np.pi
    pitch = (0.5 - (np.arange(height) + 0.5) / height) * np.pi
    r = 0.5 + 0.4 * np.cos(pitch)[:, None] * np.sin(yaw)[None, :]
    g = 0.5 + 0.4 * np.sin(pitch)[:, None] + 0 * yaw[None, :]
    b = 0.5 + 0.4 * np.cos(pitch)[:, None] * np.cos(yaw)[None, :]
    return np.rint(np.stack([r, g, b], -1) * 255).astype(np.uint8)


def seamed_panorama(height: int = 64) -> np.ndarray:
    image = smooth_panorama(height).astype(np.float64)
    image += np.linspace(0, 60, image.shape[1])[None, :, None]
    return np.clip(image, 0, 255).astype(np.uint8)


def test_qa_json_reports_a_known_seam(tmp_path, capsys) -> None:
    path = tmp_path / "seam.png"
    Image.fromarray(seamed_panorama()).save(path)
    assert main(["qa", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["width"] == 128 and data["height"] == 64
    assert data["seam_score"] > 5
    assert data["poor"] is True
    assert data["verdicts"][0].startswith("Visible seam")


def test_qa_text_says_good_for_a_seamless_image(tmp_path, capsys) -> None:
    path = tmp_path / "good.png"
    Image.fromarray(smooth_panorama()).save(path)
    assert main(["qa", str(path)]) == 0
    out = capsys.readouterr().out
    assert "seam score" in out and "Good:" in out


def test_qa_bad_input_file(tmp_path, capsys) -> None:
    path = tmp_path / "not-an-image.png"
    path.write_text("hello")
    assert main(["qa", str(path)]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("size", [(4, 2)])
def test_qa_too_small(tmp_path, capsys, size) -> None:
    path = tmp_path / "tiny.png"
    Image.new("RGB", size).save(path)
    assert main(["qa", str(path)]) == 2
    assert "too small" in capsys.readouterr().err


def _library_with_entry(tmp_path, pixels=None):
    from dit360_desktop.history.library import Library
    from dit360_desktop.panorama.request import GenerationRequest
    from dit360_desktop.panorama.result import Result

    pixels = smooth_panorama() if pixels is None else pixels
    height, width = pixels.shape[:2]
    request = GenerationRequest(
        prompt="This is a panorama image. A lit hall", seed=5, width=width, height=height
    )
    result = Result(image=Image.fromarray(pixels), request=request, metadata={})
    folder = tmp_path / "library"
    with Library.open(folder) as library:
        entry = library.save(result)
    return folder, entry.id


def test_history_export_exr_and_hdr(tmp_path, capsys) -> None:
    OpenEXR = pytest.importorskip("OpenEXR")
    from dit360_desktop.panorama.hdr import srgb_to_linear

    folder, entry_id = _library_with_entry(tmp_path)
    out = tmp_path / "pano.exr"
    code = main(
        ["history", "export", str(entry_id), "--library", str(folder), "--format", "exr", "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    with OpenEXR.File(str(out)) as exr:
        values = exr.channels()["RGB"].pixels
    assert np.array_equal(values, srgb_to_linear(smooth_panorama()).astype(np.float32).astype(np.float16))
    hdr_out = tmp_path / "pano.hdr"
    args = [
        "history",
        "export",
        str(entry_id),
        "--library",
        str(folder),
        "--format",
        "hdr",
        "--out",
        str(hdr_out),
    ]
    assert main([*args, "--highlights", "3"]) == 0
    assert hdr_out.read_bytes().startswith(b"#?RADIANCE")
    assert parse_refused([*args, "--highlights", "12"]) == 2
    assert "argument --highlights" in capsys.readouterr().err
    faces = tmp_path / "faces"
    base = ["history", "export", str(entry_id), "--library", str(folder), "--format", "cubemap"]
    code = main([*base, "--face-format", "exr", "--face-size", "16", "--out", str(faces)])
    assert code == 0
    assert sorted(p.name for p in faces.iterdir()) == sorted(
        f"{n}.exr" for n in ("px", "nx", "py", "ny", "pz", "nz")
    )


@pytest.fixture(scope="module")
def tiny_sr(tmp_path_factory):
    pytest.importorskip("spandrel")
    from dit360_desktop.testing.tiny_sr import build_tiny_sr

    return build_tiny_sr(tmp_path_factory.mktemp("sr") / "tiny-x4.safetensors")


def test_upscale_x2_with_gpano_of_the_new_size(tmp_path, tiny_sr, capsys) -> None:
    from dit360_desktop.panorama import imageio, qa

    source = tmp_path / "pano.png"
    imageio.save_png(Image.fromarray(smooth_panorama(32)), source, {"seed": 7})
    out = tmp_path / "pano-x2.png"
    args = ["upscale", str(source), "--scale", "2", "--sr-model", str(tiny_sr), "--tile", "24", "--quiet"]
    assert main([*args, "--device", "cpu", "--output", str(out)]) == 0, capsys.readouterr().err
    image = np.asarray(Image.open(out))
    assert image.shape == (64, 128, 3)
    meta = imageio.read_metadata(out)
    assert meta.gpano["FullPanoWidthPixels"] in (128, "128")
    assert meta.gpano["FullPanoHeightPixels"] in (64, "64")
    assert meta.dit360["seed"] == 7
    assert meta.dit360["upscale"]["scale"] == 2 and meta.dit360["upscale"]["source_size"] == [64, 32]
    assert qa.seam_score(image) < 1.5


def test_upscale_without_a_model_says_what_to_do(tmp_path, capsys) -> None:
    source = tmp_path / "pano.png"
    Image.fromarray(smooth_panorama(32)).save(source)
    assert main(["upscale", str(source), "--scale", "4", "--output", str(tmp_path / "o.png")]) == 3
    err = capsys.readouterr().err
    assert (
        "No super-resolution model is installed" in err and "models download realesrgan-general-x4v3" in err
    )


def test_upscale_refuses_pickles_and_bad_options(tmp_path, capsys) -> None:
    source = tmp_path / "pano.png"
    Image.fromarray(smooth_panorama(32)).save(source)
    pickle = tmp_path / "RealESRGAN_x4plus.pth"
    pickle.write_bytes(b"\x80\x04K\x01.")
    out = str(tmp_path / "o.png")
    assert main(["upscale", str(source), "--scale", "4", "--sr-model", str(pickle), "--output", out]) == 3
    assert "not a .safetensors file" in capsys.readouterr().err
    assert parse_refused(["upscale", str(source), "--scale", "4", "--tile", "-1", "--output", out]) == 2
    assert not (tmp_path / "o.png").exists()


def test_repair_seam_records_an_edit_of_the_library_entry(tmp_path, tiny_flux_dir, capsys) -> None:
    from dit360_desktop.history.library import Library
    from dit360_desktop.panorama import qa

    folder, entry_id = _library_with_entry(tmp_path, seamed_panorama(64))
    with Library.open(folder) as library:
        source = library.get(entry_id).path
    before = qa.seam_score(np.asarray(Image.open(source)))
    out = tmp_path / "repaired.png"
    args = ["repair", str(source), "--seam", "--model", str(tiny_flux_dir), "--lora", "none", "--steps", "2"]
    args += ["--seed", "1", "--device", "cpu", "--library", str(folder), "--output", str(out), "--quiet"]
    assert main(args) == 0, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "seam score" in err
    repaired = np.asarray(Image.open(out))
    assert repaired.shape == (64, 128, 3)
    assert qa.seam_score(repaired) < before
    with Library.open(folder) as library:
        children = library.children(entry_id)
        assert len(children) == 1 and children[0].parent_id == entry_id
        assert children[0].metadata["repair"]["applied"] == ["seam"]


def test_repair_needs_a_choice_and_a_fitting_image(tmp_path, capsys) -> None:
    path = tmp_path / "pano.png"
    Image.fromarray(smooth_panorama(32)).save(path)
    assert main(["repair", str(path), "--no-history"]) == 2
    assert "--seam, --poles or both" in capsys.readouterr().err
    odd = tmp_path / "odd.png"
    Image.new("RGB", (120, 60)).save(odd)
    assert main(["repair", str(odd), "--seam", "--no-history"]) == 2


def test_upscale_with_the_detail_stage(tmp_path, tiny_sr, tiny_flux_dir, capsys) -> None:
    from dit360_desktop.panorama import imageio

    source = tmp_path / "pano.png"
    imageio.save_png(Image.fromarray(smooth_panorama(32)), source, None)
    out = tmp_path / "pano-x4.png"
    args = ["upscale", str(source), "--scale", "4", "--sr-model", str(tiny_sr), "--tile", "32", "--quiet"]
    args += ["--detail", "0.3", "--detail-window", "128", "--model", str(tiny_flux_dir), "--lora", "none"]
    args += ["--steps", "2", "--seed", "1", "--device", "cpu", "--output", str(out)]
    assert main(args) == 0, capsys.readouterr().err
    meta = imageio.read_metadata(out).dit360
    assert meta["upscale"]["detail"]["strength"] == 0.3 and meta["upscale"]["detail"]["window"] == 128
    assert np.asarray(Image.open(out)).shape == (128, 256, 3)


def test_upscale_detail_out_of_range(tmp_path, capsys) -> None:
    source = tmp_path / "pano.png"
    Image.fromarray(smooth_panorama(32)).save(source)
    argv = ["upscale", str(source), "--scale", "2", "--detail", "0.9", "--output", str(tmp_path / "o.png")]
    assert parse_refused(argv) == 2
    assert "argument --detail" in capsys.readouterr().err
