from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from history_factory import make_result

from dit360_desktop.history.library import Library


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = Library.open(tmp_path / "library")
    yield lib
    lib.close()


@pytest.fixture
def result_factory():
    return make_result


@pytest.fixture
def temp_trash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point send2trash's freedesktop backend at a trash folder inside the test's temp dir."""
    import send2trash
    from send2trash import plat_other

    if sys.platform != "linux" or send2trash.send2trash is not plat_other.send2trash:
        pytest.skip("the temp trash is set up for send2trash's freedesktop backend (Linux without gio)")
    data_home = tmp_path / "xdg-data"
    data_home.mkdir()
    # send2trash reads these at import time, and uses the home folder's device to pick the trash.
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(plat_other, "XDG_DATA_HOME", str(data_home).encode())
    monkeypatch.setattr(plat_other, "HOMETRASH_B", str(data_home / "Trash").encode())
    monkeypatch.setattr(plat_other, "HOMETRASH", str(data_home / "Trash"))
    return data_home / "Trash"
