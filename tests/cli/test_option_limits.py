"""Every numeric option is checked when it is parsed: finite, in range, whole and a multiple of 16 where
needed, and the refusal quotes what was typed (exit 2, before anything runs). Sizes that are legal but
cannot fit in this machine's memory are refused before the work, with the memory they need.

Through the real command (``dit360_desktop.cli.main``); one row per case of the sweep and its class.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.cli import main
from dit360_desktop.panorama import limits

PLACE = ("place", "--photo", "photo.png", "--canvas-only", "canvas.png")
EXPORT = ("history", "export", "1", "--format", "perspective", "--out", "view.jpg")
BATCH = ("batch", "jobs.jsonl", "--cluster", "local")
EDIT = ("edit", "--image", "pano.png", "--mask", "mask.png", "--prompt", "x")

ROWS = [
    (PLACE, "--yaw", "nan"),
    (PLACE, "--yaw", "inf"),
    (PLACE, "--yaw", "-181"),
    (PLACE, "--pitch", "91"),
    (PLACE, "--pitch", "1e300"),
    (PLACE, "--roll", "nan"),
    (PLACE, "--fov", "5"),
    (PLACE, "--fov", "1e999"),
    (PLACE, "--feather", "-5"),
    (PLACE, "--feather", "100000"),
    (PLACE, "--feather", "2.5"),
    (PLACE, "--width", "0"),
    (PLACE, "--width", "100"),
    (PLACE, "--height", "40000"),
    (EDIT, "--width", "0"),
    (EDIT, "--steps", "0"),
    (EDIT, "--guidance", "nan"),
    (EDIT, "--tau", "101"),
    (EDIT, "--strength", "-0.1"),
    (EDIT, "--true-cfg", "inf"),
    (EDIT, "--seed", "-1"),
    (EDIT, "--lora-scale", "nan"),
    (("generate", "--prompt", "x"), "--width", "100"),
    (("generate", "--prompt", "x"), "--steps", "1e9"),
    (EXPORT, "--yaw", "nan"),
    (EXPORT, "--pitch", "-90.5"),
    (EXPORT, "--fov", "0"),
    (EXPORT, "--size", "0x100"),
    (EXPORT, "--size", "100x99999"),
    (EXPORT, "--quality", "0"),
    (("history", "export", "1", "--format", "cubemap", "--out", "f"), "--face-size", "8"),
    (("history", "export", "1", "--format", "exr", "--out", "f.exr"), "--highlights", "nan"),
    (("history", "list"), "--limit", "0"),
    (BATCH, "--cpus-per-worker", "-1"),
    (BATCH, "--cpus-per-worker", "nan"),
    (BATCH, "--gpus-per-worker", "-1"),
    (BATCH, "--workers", "0"),
    (BATCH, "--retries", "-1"),
    (BATCH, "--save-threads", "0"),
    (("upscale", "pano.png", "--scale", "2", "--output", "o.png"), "--tile", "-1"),
    (("upscale", "pano.png", "--scale", "2", "--output", "o.png"), "--detail", "0.7"),
    (("upscale", "pano.png", "--scale", "2", "--output", "o.png"), "--margin", "nan"),
    (("repair", "pano.png", "--seam"), "--strength", "0"),
    (("repair", "pano.png", "--seam"), "--band", "-8"),
    (("repair", "pano.png", "--seam"), "--feather", "1e6"),
]


@pytest.mark.parametrize(("command", "option", "value"), ROWS, ids=[f"{r[0][0]} {r[1]} {r[2]}" for r in ROWS])
def test_a_bad_number_is_refused_when_parsed(command, option, value, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # nothing the command might write lands elsewhere; nothing runs anyway
    with pytest.raises(SystemExit) as caught:
        main([*command, option, value])
    err = capsys.readouterr().err
    assert caught.value.code == 2
    assert f"argument {option}" in err and repr(value) in err, err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []


def test_good_numbers_pass(tmp_path):
    from dit360_desktop.cli import build_parser

    args = build_parser().parse_args(
        ["place", "--photo", "p.png", "--yaw", "-180", "--pitch", "90", "--fov", "170", "--width", "4096"]
    )
    assert (args.yaw, args.pitch, args.fov, args.width) == (-180.0, 90.0, 170.0, 4096)
    assert build_parser().parse_args([*BATCH, "--gpus-per-worker", "0.25"]).gpus_per_worker == 0.25


@pytest.fixture
def little_memory(monkeypatch):
    monkeypatch.setattr(limits, "available_memory", lambda: 256 * 2**20)


def test_a_view_larger_than_memory_is_refused_with_what_it_needs(little_memory, tmp_path, capsys):
    from dit360_desktop.history.library import Library
    from dit360_desktop.panorama.request import GenerationRequest
    from dit360_desktop.panorama.result import Result

    request = GenerationRequest(prompt="a", seed=1, width=128, height=64)
    with Library.open(tmp_path / "lib") as lib:
        entry = lib.save(Result(Image.new("RGB", (128, 64)), request, {}))
    out = tmp_path / "view.jpg"
    code = main([*EXPORT[:2], str(entry.id), "--library", str(tmp_path / "lib"), *EXPORT[3:6], str(out),
                 "--size", "16384x16384"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--size: a 16384×16384 view needs about 9.1 GiB" in err and "0.2 GiB available" in err
    assert not out.exists()


def test_a_canvas_larger_than_memory_is_refused(little_memory, tmp_path, capsys):
    Image.fromarray(np.full((90, 120, 3), 200, np.uint8)).save(tmp_path / "photo.png")
    code = main(["place", "--photo", str(tmp_path / "photo.png"), "--width", "8192",
                 "--canvas-only", str(tmp_path / "c.png")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "--width" in err and "8192×4096 canvas needs about" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]


def test_an_upscale_larger_than_memory_is_refused_before_any_model(little_memory, tmp_path, capsys):
    Image.new("RGB", (2048, 1024), (10, 20, 30)).save(tmp_path / "pano.png")
    code = main(["upscale", str(tmp_path / "pano.png"), "--scale", "4", "--output", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "×4 of the 2048×1024 pano.png (a 8192×4096 result) needs about" in err
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize(
    ("extra", "names", "never"),
    [
        ((), "--image: the panorama is 16×8 pixels", "height:"),
        (("--width", "80"), "--width 80 gives a height of 40", "height:"),
        (("--height", "8192"), "--height 8192 gives a width of 16384", "width:"),
    ],
    ids=["tiny-image", "width-without-height", "height-without-width"],
)
def test_size_messages_name_what_the_person_gave(extra, names, never, tmp_path, capsys):
    Image.new("RGB", (16, 8)).save(tmp_path / "pano.png")
    Image.new("L", (16, 8), 255).save(tmp_path / "mask.png")
    argv = [
        "edit",
        "--image",
        str(tmp_path / "pano.png"),
        "--mask",
        str(tmp_path / "mask.png"),
        "--prompt",
        "x",
    ]
    try:
        code = main([*argv, *extra])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and names in err, err
    # The old message named a side computed from the picture: "height: must be between 64 and 8192 (got 32)".
    assert f"{never} must be between" not in err and "(got 32)" not in err
