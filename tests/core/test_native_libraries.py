"""torch's shared libraries load ahead of ``import torch`` (core/native_libraries.py), through a call that
lets other threads run; the import then finds them loaded and works as ever (issue 21, item 12)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")

# A fresh interpreter, so torch is not imported yet.
PRELOAD_THEN_IMPORT = """
import json, sys
from dit360_desktop.core.native_libraries import preload_torch_libraries
loaded = preload_torch_libraries()
maps = open("/proc/self/maps").read()
mapped = {name: name in maps for name in ("libtorch_cpu", "libtorch_python", "libc10")}
torch_before = "torch" in sys.modules
import torch
value = float(torch.arange(4, dtype=torch.float32).sum())
again = preload_torch_libraries()
print(json.dumps({"loaded": loaded, "mapped": mapped, "torch_before": torch_before,
                  "value": value, "again": again}))
"""


def test_libraries_load_before_the_import_and_the_import_uses_them() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PRELOAD_THEN_IMPORT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["loaded"] == ["libtorch_global_deps", "libtorch_python"]
    assert report["mapped"] == {"libtorch_cpu": True, "libtorch_python": True, "libc10": True}
    assert report["torch_before"] is False
    assert report["value"] == 6.0
    # Once torch is in, there is nothing to bring forward.
    assert report["again"] == []


def test_a_torch_without_its_library_folder_is_left_to_the_import(monkeypatch, tmp_path) -> None:
    from dit360_desktop.core import native_libraries

    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.setattr(native_libraries, "torch_library_folder", lambda: None)
    assert native_libraries.preload_torch_libraries() == []
    # A folder without the files: nothing is loaded, nothing is raised.
    monkeypatch.setattr(native_libraries, "torch_library_folder", lambda: tmp_path)
    assert native_libraries.preload_torch_libraries() == []


# One interpreter imports two extension modules and records; a fresh one loads ahead from that record.
RECORD_AFTER_IMPORT = """
import json, sys
from pathlib import Path
import _decimal, _csv
from dit360_desktop.core.native_libraries import record_native_files
record_native_files(Path(sys.argv[1]))
print(json.dumps({"decimal": _decimal.__file__, "csv": _csv.__file__}))
"""

LOAD_AHEAD = """
import json, sys
from pathlib import Path
from dit360_desktop.core import native_libraries
native_libraries.preload_torch_libraries = lambda: []  # torch's own part has its test above
native_libraries.load_ahead(Path(sys.argv[1]))
maps = open("/proc/self/maps").read()
report = {"mapped": {name: name in maps for name in sys.argv[2:]},
          "imported": "_decimal" in sys.modules}
import decimal
report["sum"] = str(decimal.Decimal("1.1") + decimal.Decimal("2.2"))
print(json.dumps(report))
"""


def _run(script: str, *args: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_recorded_extension_modules_load_ahead_of_their_import(tmp_path) -> None:
    record = tmp_path / "native-files.json"
    files = _run(RECORD_AFTER_IMPORT, str(record))
    written = json.loads(record.read_text(encoding="utf-8"))
    assert written["executable"] == sys.executable
    assert {files["decimal"], files["csv"]} <= set(written["extension_modules"])
    assert any("libpython" in f or "libc.so" in f for f in written["shared_objects"])
    report = _run(LOAD_AHEAD, str(record), "_decimal.cpython", "_csv.cpython")
    # Loaded (its file is mapped) but not imported; the import then uses it as ever.
    assert report == {
        "mapped": {"_decimal.cpython": True, "_csv.cpython": True},
        "imported": False,
        "sum": "3.3",
    }


def test_without_a_record_nothing_but_torch_is_brought_forward(tmp_path) -> None:
    report = _run(LOAD_AHEAD, str(tmp_path / "absent.json"), "_decimal.cpython")
    assert report["mapped"] == {"_decimal.cpython": False}


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        json.dumps(
            {"version": 99, "executable": sys.executable, "extension_modules": [], "shared_objects": []}
        ),
        json.dumps(
            {"version": 1, "executable": "/elsewhere/python", "extension_modules": [], "shared_objects": []}
        ),
        json.dumps(
            {"version": 1, "executable": sys.executable, "extension_modules": "x", "shared_objects": []}
        ),
        json.dumps([1, 2]),
    ],
)
def test_a_damaged_or_foreign_record_is_ignored(tmp_path, content) -> None:
    import _decimal

    record = tmp_path / "native-files.json"
    good = {"version": 1, "executable": sys.executable, "extension_modules": [_decimal.__file__]}
    record.write_text(json.dumps({**good, "shared_objects": []}), encoding="utf-8")
    assert _run(LOAD_AHEAD, str(record), "_decimal.cpython")["mapped"] == {"_decimal.cpython": True}
    record.write_text(content, encoding="utf-8")
    assert _run(LOAD_AHEAD, str(record), "_decimal.cpython")["mapped"] == {"_decimal.cpython": False}


def test_only_files_python_would_import_are_loaded(tmp_path) -> None:
    """The record sits in the user's cache folder: a library it names outside the import path, or one
    that does not exist, is never loaded."""
    import _decimal

    stray = tmp_path / "stray" / "_decimal_copy.cpython-311-x86_64-linux-gnu.so"
    stray.parent.mkdir()
    stray.write_bytes(Path(_decimal.__file__).read_bytes())
    record = tmp_path / "native-files.json"
    record.write_text(
        json.dumps(
            {
                "version": 1,
                "executable": sys.executable,
                "extension_modules": [str(stray), str(tmp_path / "gone.cpython-311-x86_64-linux-gnu.so")],
                "shared_objects": [str(tmp_path / "gone.so")],
            }
        ),
        encoding="utf-8",
    )
    assert _run(LOAD_AHEAD, str(record), "_decimal_copy")["mapped"] == {"_decimal_copy": False}
