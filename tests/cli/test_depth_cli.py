"""`dit360 depth`, `export-3d` and `stereo` through main(argv): files read back, faults as exit codes."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import numpy as np
import OpenEXR
import pytest
from PIL import Image
from plyfile import PlyData

from dit360_desktop.cli import main
from dit360_desktop.panorama.depthmap import read_distance, save_distance_exr
from dit360_desktop.panorama.qa import seam_score
from dit360_desktop.testing.tiny_depth import build_tiny_depth
from tests.core.depth.synthetic_room import room_panorama


@pytest.fixture(scope="module")
def tiny_depth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_depth(tmp_path_factory.mktemp("depth") / "tiny-depth")


@pytest.fixture
def room(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rgb, distance = room_panorama(128, 64)
    pano = tmp_path / "room.png"
    Image.fromarray(rgb).save(pano)
    depth = save_distance_exr(distance, tmp_path / "room.exr")
    return pano, depth, rgb, distance


def _bad_exr(path: Path, values: np.ndarray) -> Path:
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with OpenEXR.File(header, {"Z": values.astype(np.float32)}) as exr:
        exr.write(str(path))
    return path


def test_depth_writes_a_seamless_exr_and_a_png(room, tiny_depth, tmp_path, capsys) -> None:
    pano = room[0]
    out = tmp_path / "d.exr"
    args = ["depth", str(pano), "--depth-model", str(tiny_depth), "--device", "cpu", "--quiet"]
    assert main([*args, "--output", str(out)]) == 0, capsys.readouterr().err
    distance = read_distance(out)
    # Log distance: see tests/core/depth/test_model.py (random weights span the whole range).
    assert distance.shape == (64, 128) and seam_score(np.log(distance)) <= 1.2
    assert np.median(distance) == pytest.approx(1.0, rel=1e-3)
    assert main([*args, "--output", str(tmp_path / "d.png"), "--size", "64x32"]) == 0
    with Image.open(tmp_path / "d.png") as image:
        assert image.size == (64, 32) and image.mode.startswith("I")
        assert json.loads(image.text["dit360-depth"])["metric"] is False


def test_depth_without_an_installed_model_says_what_to_do(room, tmp_path, capsys) -> None:
    assert main(["depth", str(room[0]), "--output", str(tmp_path / "d.exr")]) == 3
    err = capsys.readouterr().err
    assert "No depth model is installed" in err and "models download depth-anything-v2-small" in err
    assert not (tmp_path / "d.exr").exists()


def test_a_model_of_another_architecture_or_damaged_exits_3(room, tiny_depth, tmp_path, capsys) -> None:
    other = tmp_path / "other"
    shutil.copytree(tiny_depth, other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "model_type": "vit"}))
    out = tmp_path / "d.exr"
    assert main(["depth", str(room[0]), "--depth-model", str(other), "--output", str(out)]) == 3
    assert "holds a vit model, not Depth Anything" in capsys.readouterr().err
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_depth, damaged)
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    assert main(["depth", str(room[0]), "--depth-model", str(damaged), "--output", str(out)]) == 3
    assert "model.safetensors is damaged or incomplete" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("shape", "poison", "words"),
    [
        ((64, 96), None, "twice as wide"),
        ((64, 128), np.nan, "NaN"),
        ((64, 128), np.inf, "infinite"),
        ((64, 128), -2.0, "at or below zero"),
        ((3, 6), 0.0, "at or below zero"),
    ],
)
def test_bad_depth_files_exit_2_and_write_nothing(room, tmp_path, capsys, shape, poison, words) -> None:
    pano = room[0]
    values = np.full(shape, 2.0, np.float32)
    if poison is not None:
        values[-1, -1] = poison
    depth = _bad_exr(tmp_path / "bad.exr", values)
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(["export-3d", str(pano), "--depth", str(depth), "--glb", str(tmp_path / "s.glb")])
    assert code == 2 and words in capsys.readouterr().err
    code = main(
        ["stereo", str(pano), "--depth", str(depth), "--fill", "none", "--output", str(tmp_path / "st.png")]
    )
    assert code == 2 and words in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_export_3d_from_the_model_writes_all_three(room, tiny_depth, tmp_path, capsys) -> None:
    pano = room[0]
    outputs = {"--glb": tmp_path / "s.glb", "--ply": tmp_path / "p.ply", "--splats": tmp_path / "sp.ply"}
    args = ["export-3d", str(pano), "--depth-model", str(tiny_depth), "--device", "cpu", "--quiet"]
    for flag, path in outputs.items():
        args += [flag, str(path)]
    assert main([*args, "--stride", "2"]) == 0, capsys.readouterr().err
    import trimesh

    scene = trimesh.load(outputs["--glb"])
    assert sum(len(g.faces) for g in scene.geometry.values()) > 1000
    assert PlyData.read(str(outputs["--ply"]))["vertex"].count == 64 * 32
    assert PlyData.read(str(outputs["--splats"]))["vertex"].count == 64 * 32


def test_export_3d_with_a_metric_depth_is_in_metres(room, tmp_path, capsys) -> None:
    pano, depth, _rgb, distance = room
    assert main(["export-3d", str(pano), "--depth", str(depth), "--ply", str(tmp_path / "p.ply")]) == 0
    data = PlyData.read(str(tmp_path / "p.ply"))["vertex"].data
    lengths = np.sqrt(data["x"] ** 2 + data["y"] ** 2 + data["z"] ** 2)
    np.testing.assert_allclose(lengths, distance.reshape(-1), rtol=1e-5)


def test_export_3d_needs_an_output_and_checks_suffixes(room, tmp_path, capsys) -> None:
    assert main(["export-3d", str(room[0]), "--depth", str(room[1])]) == 2
    assert "at least one of --glb" in capsys.readouterr().err
    assert main(["export-3d", str(room[0]), "--depth", str(room[1]), "--glb", str(tmp_path / "a.gltf")]) == 2


def test_a_full_disk_during_export_leaves_nothing(room, tmp_path, capsys, monkeypatch) -> None:
    pano, depth = room[0], room[1]
    before = sorted(p.name for p in tmp_path.iterdir())

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    code = main(["export-3d", str(pano), "--depth", str(depth), "--splats", str(tmp_path / "s.ply")])
    assert code == 6 and "disk is full" in capsys.readouterr().err
    code = main(
        ["stereo", str(pano), "--depth", str(depth), "--fill", "none", "--output", str(tmp_path / "st.png")]
    )
    assert code == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_stereo_is_top_bottom_left_on_top(room, tmp_path, capsys) -> None:
    pano, depth, rgb, _distance = room
    out = tmp_path / "st.png"
    args = ["stereo", str(pano), "--depth", str(depth), "--fill", "none"]
    assert main([*args, "--ipd", "0", "--output", str(out)]) == 0
    with Image.open(out) as image:
        assert image.size == (128, 128) and image.mode == "RGBA"
        pixels = np.asarray(image)
        stereo = json.loads(image.text["dit360"])["stereo"]
    np.testing.assert_array_equal(pixels[:64, :, :3], rgb)
    np.testing.assert_array_equal(pixels[64:, :, :3], rgb)
    assert np.all(pixels[..., 3] == 255)
    assert stereo["layout"] == "top-bottom" and stereo["left_eye"] == "top"
    assert main([*args, "--output", str(tmp_path / "st.png")]) == 0
    left = np.asarray(Image.open(out))[:64, :, :3]
    assert np.abs(left.astype(int) - rgb).mean() > 1  # the room is close: the eyes really moved


def test_stereo_refuses_bad_options(room, tmp_path, capsys) -> None:
    pano, depth = room[0], room[1]
    with pytest.raises(SystemExit) as caught:
        main(["stereo", str(pano), "--depth", str(depth), "--ipd", "-1", "--output", str(tmp_path / "s.png")])
    assert caught.value.code == 2
    assert main(["stereo", str(pano), "--depth", str(depth), "--output", str(tmp_path / "s.jpg")]) == 2


def _room_with_a_box(tmp_path: Path) -> tuple[Path, Path]:
    rgb, distance = room_panorama(128, 64)
    distance = distance.copy()
    distance[20:44, 70:80] = 0.8  # a box in front of the wall: each eye sees past its edges
    pano = tmp_path / "box.png"
    Image.fromarray(rgb).save(pano)
    return pano, save_distance_exr(distance, tmp_path / "box.exr")


def test_stereo_fills_the_holes_with_the_dit360_blend_edit(tiny_flux_dir, tmp_path, capsys) -> None:
    pano, depth = _room_with_a_box(tmp_path)
    holes_only = tmp_path / "holes.png"
    base = ["stereo", str(pano), "--depth", str(depth), "--ipd", "0.1", "--quiet"]
    assert main([*base, "--fill", "none", "--output", str(holes_only)]) == 0, capsys.readouterr().err
    transparent = np.asarray(Image.open(holes_only))
    holes = transparent[..., 3] == 0
    assert holes[:64].any() and holes[64:].any()
    filled_path = tmp_path / "filled.png"
    flux = ["--model", str(tiny_flux_dir), "--lora", "none", "--steps", "2", "--seed", "3", "--device", "cpu"]
    assert main([*base, *flux, "--output", str(filled_path)]) == 0, capsys.readouterr().err
    with Image.open(filled_path) as image:
        assert image.mode == "RGB" and image.size == (128, 128)
        filled = np.asarray(image)
        stereo = json.loads(image.text["dit360"])["stereo"]
    assert stereo["fill"] == "dit360" and stereo["filled_eyes"] == 2
    # The holes got new content; far from them (outside the grown, feathered mask) nothing moved.
    from dit360_desktop.core.tasks.stereo import grow_mask

    far = ~np.concatenate([grow_mask(holes[:64], 12), grow_mask(holes[64:], 12)])
    assert np.abs(filled[far].astype(int) - transparent[..., :3][far]).max() <= 2
    assert np.abs(filled[holes].astype(int) - transparent[..., :3][holes]).mean() > 1


def test_stereo_fill_without_flux_exits_3_before_the_work(room, tmp_path, capsys) -> None:
    pano, depth = room[0], room[1]
    out = tmp_path / "st.png"
    assert main(["stereo", str(pano), "--depth", str(depth), "--output", str(out)]) == 3
    assert not out.exists()
