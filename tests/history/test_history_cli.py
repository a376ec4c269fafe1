from __future__ import annotations

import json
from pathlib import Path

import pytest
from history_factory import make_result
from PIL import Image

from dit360_desktop.cli import main
from dit360_desktop.history.library import Library


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "library"
    with Library.open(folder) as lib:
        first = lib.save(make_result("Foggy harbour at dawn", seed=10, width=128, height=64))
        lib.save(make_result("Autumn forest trail", seed=11, width=128, height=64))
        lib.set_favorite(first.id, True)
        lib.set_tags(first.id, ["sea"])
    return folder


def _json_out(capsys: pytest.CaptureFixture[str], argv: list[str]):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_list_search_favourites_and_json(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = _json_out(capsys, ["history", "list", "--library", str(folder), "--json"])
    assert [r["prompt"] for r in rows] == ["Autumn forest trail", "Foggy harbour at dawn"]
    assert rows[1]["favorite"] is True and rows[1]["tags"] == ["sea"] and rows[1]["seed"] == 10
    rows = _json_out(capsys, ["history", "list", "--library", str(folder), "--search", "harb", "--json"])
    assert [r["seed"] for r in rows] == [10]
    rows = _json_out(capsys, ["history", "list", "--library", str(folder), "--favorites", "--json"])
    assert [r["seed"] for r in rows] == [10]

    assert main(["history", "list", "--library", str(folder)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 2 and "Autumn forest trail" in lines[0] and "[sea]" in lines[1]
    assert "2 of 2 entries" in err


def test_show_text_and_json(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (entry,) = _json_out(
        capsys, ["history", "list", "--library", str(folder), "--search", "forest", "--json"]
    )
    data = _json_out(capsys, ["history", "show", str(entry["id"]), "--library", str(folder), "--json"])
    assert data["params"]["prompt"] == "Autumn forest trail" and data["metadata"]["versions"] == {
        "app": "0.1.0"
    }
    assert main(["history", "show", str(entry["id"]), "--library", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "param.steps" in out and "28" in out and "time.denoising" in out
    assert main(["history", "show", "999", "--library", str(folder)]) == 2
    assert "no library entry with id 999" in capsys.readouterr().err


def test_export_formats(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (entry,) = _json_out(
        capsys, ["history", "list", "--library", str(folder), "--search", "harbour", "--json"]
    )
    base = ["history", "export", str(entry["id"]), "--library", str(folder)]

    assert main([*base, "--format", "jpeg-gpano", "--quality", "80", "--out", str(tmp_path / "a.jpg")]) == 0
    assert Image.open(tmp_path / "a.jpg").format == "JPEG"
    assert main([*base, "--format", "cubemap", "--face-size", "32", "--out", str(tmp_path / "cube")]) == 0
    assert sorted(p.name for p in (tmp_path / "cube").iterdir()) == [
        "nx.png",
        "ny.png",
        "nz.png",
        "px.png",
        "py.png",
        "pz.png",
    ]
    assert (
        main([*base, "--format", "cubemap-cross", "--face-size", "32", "--out", str(tmp_path / "x.png")]) == 0
    )
    assert Image.open(tmp_path / "x.png").size == (128, 96)
    view = tmp_path / "view.jpg"
    argv = [
        *base,
        "--format",
        "perspective",
        "--yaw",
        "45",
        "--pitch",
        "-10",
        "--fov",
        "70",
        "--size",
        "64x48",
    ]
    assert main([*argv, "--out", str(view)]) == 0
    assert Image.open(view).size == (64, 48)
    capsys.readouterr()

    assert main([*base, "--format", "png", "--yaw", "10", "--out", str(tmp_path / "b.png")]) == 2
    assert "--yaw only apply to --format perspective" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # refused when parsed (cli/arg_types.py)
        main([*base, "--format", "perspective", "--fov", "400", "--out", str(view)])
    assert refused.value.code == 2
    assert "argument --fov" in capsys.readouterr().err


def test_rescan_and_delete(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], temp_trash
) -> None:
    assert main(["history", "rescan", "--library", str(folder)]) == 0
    assert "2 image(s) in the folder" in capsys.readouterr().out
    (entry,) = _json_out(
        capsys, ["history", "list", "--library", str(folder), "--search", "forest", "--json"]
    )
    assert main(["history", "delete", str(entry["id"]), "--library", str(folder)]) == 0
    assert "moved to the trash" in capsys.readouterr().out
    assert (temp_trash / "files" / Path(entry["path"]).name).is_file()
    rows = _json_out(capsys, ["history", "list", "--library", str(folder), "--json"])
    assert [r["seed"] for r in rows] == [10]
