"""Settings: round trip, atomic save, corrupt files set aside with a notice, mistyped values ignored."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from dit360_desktop import paths
from dit360_desktop.settings import Settings, load_settings, save_settings, settings_path


def test_defaults_when_no_file_exists() -> None:
    loaded = load_settings()
    assert loaded.settings == Settings()
    assert loaded.notice is None
    assert not settings_path().exists()


def test_round_trip_keeps_every_field() -> None:
    settings = Settings(
        model_dir="/models/FLUX.1-dev",
        lora_path="/models/DiT360",
        library_dir="/pictures/panos",
        models_dir="/models",
        last_parameters={"prompt": "a lake", "steps": 12, "guidance": 3.5},
        prepend_panorama_prefix=False,
        seed_locked=True,
        variations_count=6,
        window_geometry="AQID",
        viewer_mode="flat",
        show_grid=True,
    )
    save_settings(settings)
    assert settings_path().parent == paths.config_dir()
    assert load_settings().settings == settings


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"\xff\xfe\x00garbage", b"[1, 2, 3]", b"", b'{"model_dir": "/x", "steps": '],
    ids=["syntax", "binary", "not-an-object", "empty", "truncated"],
)
def test_corrupt_file_is_set_aside_and_defaults_are_used(content: bytes) -> None:
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    loaded = load_settings()
    assert loaded.settings == Settings()
    assert loaded.notice is not None and "reset" in loaded.notice
    assert not path.exists()
    assert loaded.moved_to is not None and loaded.moved_to.name.startswith("settings.json.corrupt-")
    assert loaded.moved_to.read_bytes() == content
    assert loaded.moved_to.name in loaded.notice
    # The app can save fresh settings next to the kept copy.
    save_settings(Settings(seed_locked=True))
    assert load_settings().settings.seed_locked is True
    assert loaded.moved_to.exists()


def test_two_corrupt_files_in_the_same_second_both_survive() -> None:
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text("{", encoding="utf-8")
    first = load_settings().moved_to
    path.write_text("{{", encoding="utf-8")
    second = load_settings().moved_to
    assert first != second
    assert first.read_text() == "{" and second.read_text() == "{{"


def test_mistyped_values_fall_back_to_defaults_and_unknown_keys_are_ignored() -> None:
    path = settings_path()
    path.parent.mkdir(parents=True)
    path.write_text(
        json.dumps(
            {
                "model_dir": 42,
                "seed_locked": 1,
                "variations_count": True,
                "last_parameters": ["not", "a", "dict"],
                "show_grid": True,
                "a_future_setting": {"x": 1},
            }
        ),
        encoding="utf-8",
    )
    loaded = load_settings()
    assert loaded.notice is None
    expected = Settings(show_grid=True)
    assert loaded.settings == expected


def test_failed_save_leaves_the_previous_file_intact(monkeypatch: pytest.MonkeyPatch) -> None:
    save_settings(Settings(variations_count=3))
    before = settings_path().read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        save_settings(Settings(variations_count=9))
    assert settings_path().read_bytes() == before
    leftovers = [p for p in Path(settings_path().parent).iterdir() if p.name != "settings.json"]
    assert leftovers == []
