"""The guide pictures saved with a result (panorama/guide_copies.py, history/saving.py), through the real
``dit360 generate``: copied beside the --output PNG and the library entry, named in the metadata, and
restored from there after the originals are gone and the library folder has moved."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.cli import main
from dit360_desktop.history.library import Library
from dit360_desktop.panorama.guide_copies import guides_folder, restore_guide_paths
from dit360_desktop.panorama.imageio import read_metadata
from dit360_desktop.panorama.request import GenerationRequest

WIDTH, HEIGHT = 128, 64


@pytest.fixture(scope="module")
def control_lora(tiny_flux_dir, tmp_path_factory):
    from dit360_desktop.testing.tiny_control import build_tiny_control_lora

    return build_tiny_control_lora(
        tmp_path_factory.mktemp("control") / "control.safetensors", tiny_flux_dir / "transformer"
    )


@pytest.fixture(scope="module")
def redux(tmp_path_factory):
    from dit360_desktop.testing.tiny_redux import build_tiny_redux

    return build_tiny_redux(tmp_path_factory.mktemp("redux") / "FLUX.1-Redux-dev")


def guides(folder):
    """A control image, a reference photo (JPEG) and a regions file with two masks, in ``folder``."""
    folder.mkdir()
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[16:48, 20:60] = 255
    Image.fromarray(pixels).save(folder / "depth.png")
    Image.fromarray(np.full((40, 60, 3), 120, np.uint8)).save(folder / "photo.jpg", quality=90)
    left = np.zeros((HEIGHT, WIDTH), np.uint8)
    left[:, : WIDTH // 2] = 255
    Image.fromarray(left).save(folder / "left.png")
    Image.fromarray(255 - left).save(folder / "right.png")
    regions = [
        {"prompt": "a red dragon", "mask": "left.png"},
        {"prompt": "a frozen lake", "mask": "right.png"},
    ]
    (folder / "regions.json").write_text(json.dumps(regions))
    return folder


def generate(tiny_flux_dir, control_lora, redux, sources, output, library):
    return main(
        [
            "generate", "--prompt", "a snowy forest", "--model", str(tiny_flux_dir),
            "--width", str(WIDTH), "--height", str(HEIGHT), "--steps", "2", "--seed", "3",
            "--device", "cpu", "--lora", "none", "--quiet", "--output", str(output),
            "--library", str(library),
            "--control-image", str(sources / "depth.png"), "--control-lora", str(control_lora),
            "--reference", str(sources / "photo.jpg"), "--redux-model", str(redux),
            "--regions", str(sources / "regions.json"),
        ]
    )  # fmt: skip


def test_guides_are_kept_beside_the_result_and_restored_after_a_move(
    tiny_flux_dir, control_lora, redux, tmp_path
):
    sources = guides(tmp_path / "sources")
    output, library_dir = tmp_path / "out" / "guided.png", tmp_path / "library"
    output.parent.mkdir()
    assert generate(tiny_flux_dir, control_lora, redux, sources, output, library_dir) == 0

    recorded = read_metadata(output).dit360
    assert recorded["guides"] == {
        "control_image": "control.png",
        "reference_image": "reference.jpg",
        "regions_file": "regions.json",
    }
    # The request records the paths it ran with; the copies sit beside the PNG, byte for byte.
    assert recorded["request"]["control_image"] == str(sources / "depth.png")
    beside = guides_folder(output)
    assert beside == tmp_path / "out" / "guided.guides"
    assert (beside / "control.png").read_bytes() == (sources / "depth.png").read_bytes()
    assert (beside / "reference.jpg").read_bytes() == (sources / "photo.jpg").read_bytes()
    assert (beside / "region-1.png").read_bytes() == (sources / "left.png").read_bytes()
    assert (beside / "region-2.png").read_bytes() == (sources / "right.png").read_bytes()
    assert json.loads((beside / "regions.json").read_text()) == [
        {"prompt": "a red dragon", "mask": "region-1.png"},
        {"prompt": "a frozen lake", "mask": "region-2.png"},
    ]

    with Library.open(library_dir) as library:
        (entry,) = library.search()
        entry_guides = guides_folder(entry.path)
        assert sorted(p.name for p in entry_guides.iterdir()) == sorted(p.name for p in beside.iterdir())

    # The originals go, and the library folder moves: both restore from their copies.
    shutil.rmtree(sources)
    moved = tmp_path / "moved-library"
    shutil.move(library_dir, moved)
    with Library.open(moved) as library:
        (entry,) = library.search()
        assert library.rescan().adopted == 0  # the guide PNGs are not taken for panoramas
        params = entry.params
    moved_guides = guides_folder(entry.path)
    assert str(moved) in str(moved_guides)
    assert params["control_image"] == str(moved_guides / "control.png")
    assert params["reference_image"] == str(moved_guides / "reference.jpg")
    assert params["regions_file"] == str(moved_guides / "regions.json")
    assert entry.guide_notes == ()
    GenerationRequest.from_dict(params).validate()

    fields, notes = restore_guide_paths(recorded["request"], recorded, output)
    assert fields["control_image"] == str(beside / "control.png") and notes == []

    # Re-used, the request runs from the copies alone and makes the same panorama.
    from dit360_desktop.panorama.userimage import load_user_image

    rerun = tmp_path / "rerun.png"
    regions_copy = json.loads((moved_guides / "regions.json").read_text())
    assert regions_copy[0]["mask"] == "region-1.png"
    code = main(
        [
            "generate", "--prompt", "a snowy forest", "--model", str(tiny_flux_dir),
            "--width", str(WIDTH), "--height", str(HEIGHT), "--steps", "2", "--seed", "3",
            "--device", "cpu", "--lora", "none", "--quiet", "--no-history", "--output", str(rerun),
            "--control-image", params["control_image"], "--control-lora", str(control_lora),
            "--reference", params["reference_image"], "--redux-model", str(redux),
            "--regions", params["regions_file"],
        ]
    )  # fmt: skip
    assert code == 0
    assert np.array_equal(np.asarray(load_user_image(rerun)), np.asarray(load_user_image(output)))

    # Deleting the entry takes its guide pictures with it.
    trashed = []
    with Library.open(moved, trash=trashed.append) as library:
        library.delete(entry.id)
    assert moved_guides in trashed


def test_a_missing_copy_at_restore_is_a_sentence(tmp_path):
    png = tmp_path / "pano.png"
    original = tmp_path / "still-here.png"
    Image.new("RGB", (8, 4)).save(original)
    metadata = {"guides": {"control_image": "control.png", "regions_file": "regions.json"}}
    fields = {"control_image": "/gone/depth.png", "control_lora": "/x/lora", "regions_file": str(original)}
    restored, notes = restore_guide_paths(fields, metadata, png)
    # Neither copy exists: the control goes (with its LoRA), the regions fall back to the original.
    assert restored["control_image"] is None and restored["control_lora"] is None
    assert restored["regions_file"] == str(original)
    assert len(notes) == 2
    assert "control image saved with pano.png" in notes[0] and "without it" in notes[0]
    assert "regions file saved with pano.png" in notes[1] and "original file" in notes[1]
    # A name that tries to leave the guides folder is ignored.
    escaped, notes = restore_guide_paths(
        {"control_image": "/a.png"}, {"guides": {"control_image": "../../etc/passwd"}}, png
    )
    assert escaped["control_image"] == "/a.png" and notes == []
