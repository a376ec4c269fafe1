"""The viewer looks up every OpenGL function it calls while it sets up (ui/viewer/gl_entry_points.py), so
no later call waits on the C library's loader lock while torch's libraries load (issue 21, item 12)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dit360_desktop.ui.viewer.gl_entry_points import VIEWER_GL_MODULES, gl_names

pytestmark = pytest.mark.gl

PACKAGE = Path(__file__).resolve().parents[3] / "dit360_desktop"

# A fresh interpreter: PyOpenGL's look-ups are global to a process, so earlier tests would hide a miss.
AFTER_SET_UP = """
import json, sys
from PySide6.QtWidgets import QApplication
from dit360_desktop.ui.viewer.gl_support import prepare_application_opengl
prepare_application_opengl()
app = QApplication([])
from dit360_desktop.ui.viewer import create_viewer
from dit360_desktop.ui.viewer.gl_entry_points import is_resolved, viewer_gl_functions
from dit360_desktop.ui.viewer.gl_renderer import PanoramaRenderer

unresolved = []
initialize = PanoramaRenderer.initialize
def checked(self):
    initialize(self)
    unresolved.extend(n for n, f in viewer_gl_functions().items() if not is_resolved(f))
    app.quit()
PanoramaRenderer.initialize = checked
viewer = create_viewer()
viewer.resize(320, 180)
viewer.show()
app.exec()
print(json.dumps({"functions": len(viewer_gl_functions()), "unresolved": unresolved}))
"""


def test_every_viewer_gl_function_is_looked_up_at_set_up() -> None:
    env = {**os.environ, "DIT360_HOME": os.environ.get("DIT360_HOME", "")}
    done = subprocess.run(
        [sys.executable, "-c", AFTER_SET_UP], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # The viewer calls some sixty GL functions; an empty list would pass the check below vacuously.
    assert report["functions"] >= 40
    # glShaderSource and glGetCompressedTexImage are bound when PyOpenGL imports; the rest are lazy.
    assert report["unresolved"] == []


def test_the_module_list_names_every_module_that_calls_gl() -> None:
    calling = {
        "dit360_desktop." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        for path in PACKAGE.rglob("*.py")
        if re.search(r"\bGL\.gl[A-Z]", path.read_text(encoding="utf-8"))
    }
    assert calling == set(VIEWER_GL_MODULES)


def test_names_come_from_nested_code_too() -> None:
    # qa_overlay calls GL inside a function that imports it locally; gl_renderer inside methods.
    assert "glGenVertexArrays" in gl_names("dit360_desktop.ui.viewer.gl_renderer")
    assert "glPixelStorei" in gl_names("dit360_desktop.ui.viewer.qa_overlay")


def test_no_gl_call_at_a_modules_top_level() -> None:
    # gl_names reads the functions' code; a call made while a module imports would not be seen.
    for name in VIEWER_GL_MODULES:
        path = PACKAGE.joinpath(*name.split(".")[1:]).with_suffix(".py")
        top_level = [line for line in path.read_text(encoding="utf-8").splitlines() if line[:1].strip()]
        assert not [line for line in top_level if re.search(r"\bGL\.gl[A-Z]", line)], name
