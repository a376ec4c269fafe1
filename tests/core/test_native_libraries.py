"""torch's shared libraries load ahead of ``import torch`` (core/native_libraries.py), through a call that
lets other threads run; the import then finds them loaded and works as ever (issue 21, item 12)."""

from __future__ import annotations

import json
import subprocess
import sys

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
