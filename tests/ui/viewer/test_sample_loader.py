"""The sample panorama's cache goes through the app's atomic writer."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from dit360_desktop.panorama.errors import NotARegularFileError
from dit360_desktop.ui.viewer import sample_loader


def test_the_cache_round_trips_and_leaves_no_temp_file(tmp_path) -> None:
    path = tmp_path / "cache" / "sample.npy"
    array = np.random.default_rng(3).integers(0, 256, (16, 32, 3), dtype=np.uint8)
    sample_loader._store(path, array)
    assert np.array_equal(sample_loader._load_cached(path, 32, 16), array)
    assert sorted(p.name for p in path.parent.iterdir()) == ["sample.npy"]


def test_a_fifo_where_the_cache_goes_is_left_alone(tmp_path) -> None:
    path = tmp_path / "sample.npy"
    os.mkfifo(path)
    with pytest.raises(NotARegularFileError):
        sample_loader._store(path, np.zeros((16, 32, 3), np.uint8))
    assert stat.S_ISFIFO(path.stat().st_mode)
    assert [p.name for p in tmp_path.iterdir()] == ["sample.npy"]


def test_the_loader_still_shows_the_sample_when_the_cache_cannot_be_written(qtbot, tmp_path, monkeypatch):
    path = tmp_path / "sample.npy"
    os.mkfifo(path)
    monkeypatch.setattr(sample_loader, "_cache_path", lambda width, height: path)
    loader = sample_loader.SampleLoader(size=(64, 32))
    with qtbot.waitSignal(loader.ready, timeout=30_000) as shown:
        loader.start()
    assert shown.args[0].shape == (32, 64, 3)
    assert stat.S_ISFIFO(path.stat().st_mode)
