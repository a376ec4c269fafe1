"""Probe Qt in a child process: platform plugin, image-format plugins and an OpenGL context.

A child process because Qt aborts the whole process (``qFatal``) when no platform plugin can be loaded; the
parent turns that crash into a failed check with Qt's own message. Run in a checkout as
``python -m dit360_desktop.selftest.qt_probe``; the frozen entry point runs it for ``--selftest-qt-probe``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROBE_FLAG = "--selftest-qt-probe"
_MARKER = "DIT360_QT_PROBE "
_TIMEOUT_S = 120
# Platforms without a windowing system: OpenGL is reported there, never required.
HEADLESS_PLATFORMS = {"offscreen", "minimal", "vnc", "linuxfb"}
NATIVE_PLUGIN = {"linux": "xcb", "win32": "windows", "darwin": "cocoa"}
REQUIRED_IMAGE_FORMATS = ("png", "jpg", "jpeg")


@dataclass
class ProbeOutcome:
    ok: bool
    summary: str
    facts: dict[str, Any] = field(default_factory=dict)


def probe_command() -> list[str]:
    if getattr(sys, "frozen", False):
        return [sys.executable, PROBE_FLAG]
    return [sys.executable, "-m", "dit360_desktop.selftest.qt_probe"]


def run_probe(*, gui: bool, require_gl: bool) -> ProbeOutcome:
    env = dict(os.environ)
    no_display = (
        sys.platform.startswith("linux")
        and not env.get("QT_QPA_PLATFORM")
        and not env.get("DISPLAY")
        and not env.get("WAYLAND_DISPLAY")
    )
    if no_display:
        # Without this Qt would abort on the missing X server; a headless run still proves the plugins load.
        env["QT_QPA_PLATFORM"] = "offscreen"
    completed = subprocess.run(
        probe_command(), env=env, capture_output=True, text=True, timeout=_TIMEOUT_S, check=False
    )
    facts = _parse(completed.stdout)
    if facts is None:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-6:]
        return ProbeOutcome(
            False,
            f"Qt could not start (exit {completed.returncode}): " + " | ".join(tail),
            {"returncode": completed.returncode, "stderr": completed.stderr[-4000:]},
        )
    facts["no_display"] = no_display
    return _judge(facts, gui=gui, require_gl=require_gl)


def _parse(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(_MARKER):
            return json.loads(line[len(_MARKER) :])
    return None


def _judge(facts: dict[str, Any], *, gui: bool, require_gl: bool) -> ProbeOutcome:
    problems: list[str] = []
    native = NATIVE_PLUGIN.get(_platform_key())
    if native and native not in facts["platform_plugins"]:
        problems.append(f"the {native} platform plugin is missing from {facts['plugins_dir']}")
    missing_formats = [name for name in REQUIRED_IMAGE_FORMATS if name not in facts["image_formats"]]
    if missing_formats:
        problems.append(f"Qt cannot read image formats: {', '.join(missing_formats)}")
    headless = facts["platform"] in HEADLESS_PLATFORMS
    gl_required = require_gl or (gui and not headless)
    facts["gl_required"] = gl_required
    gl = facts["gl"]
    if gl_required and not gl.get("ok"):
        problems.append(f"no usable OpenGL on the {facts['platform']} platform: {gl.get('error')}")
    if gl.get("ok"):
        gl_text = f"OpenGL {gl['version']} ({gl['renderer']})"
    else:
        gl_text = f"OpenGL unavailable ({gl.get('error')}), not required here"
    summary = f"platform {facts['platform']}; {gl_text}"
    if problems:
        return ProbeOutcome(False, "; ".join(problems) + f" [{summary}]", facts)
    return ProbeOutcome(True, summary, facts)


def _platform_key() -> str:
    return "linux" if sys.platform.startswith("linux") else sys.platform


def probe() -> dict[str, Any]:
    """Child side: start a QApplication and report what works. Only run in a fresh process."""
    from PySide6.QtCore import QLibraryInfo
    from PySide6.QtGui import QImageReader
    from PySide6.QtWidgets import QApplication

    plugins_dir = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath))
    platform_plugins = sorted(
        _plugin_name(path)
        for path in (plugins_dir / "platforms").glob("*")
        if path.suffix in {".so", ".dll", ".dylib"}
    )
    app = QApplication([sys.argv[0]])
    facts: dict[str, Any] = {
        "platform": app.platformName(),
        "plugins_dir": str(plugins_dir),
        "platform_plugins": platform_plugins,
        "image_formats": sorted(bytes(name).decode() for name in QImageReader.supportedImageFormats()),
        "gl": _probe_gl(),
    }
    app.quit()
    return facts


def _plugin_name(path: Path) -> str:
    # libqxcb.so / qwindows.dll / libqcocoa.dylib -> xcb / windows / cocoa
    stem = path.name.split(".")[0]
    return stem.removeprefix("lib").removeprefix("q")


def _probe_gl() -> dict[str, Any]:
    from PySide6.QtGui import QOffscreenSurface, QOpenGLContext

    context = QOpenGLContext()
    if not context.create():
        return {"ok": False, "error": "no OpenGL context could be created"}
    surface = QOffscreenSurface()
    surface.setFormat(context.format())
    surface.create()
    if not context.makeCurrent(surface):
        return {"ok": False, "error": "an OpenGL context was created but could not be made current"}
    functions = context.functions()
    gl_version, gl_renderer = 0x1F02, 0x1F01
    facts = {
        "ok": True,
        "version": functions.glGetString(gl_version),
        "renderer": functions.glGetString(gl_renderer),
        "es": context.isOpenGLES(),
        "profile_version": f"{context.format().majorVersion()}.{context.format().minorVersion()}",
        "window": _probe_gl_window(),
    }
    context.doneCurrent()
    if not facts["window"].get("ok"):
        facts["ok"] = False
        facts["error"] = f"an embedded OpenGL window could not render: {facts['window'].get('error')}"
    return facts


def _probe_gl_window() -> dict[str, Any]:
    """Render one frame the way the panorama viewer does: a QOpenGLWindow embedded in a widget through
    a window container (so the bundle must carry QtOpenGL and a platform plugin that embeds windows)."""
    import time

    from PySide6.QtGui import QColor
    from PySide6.QtOpenGL import QOpenGLWindow
    from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

    from dit360_desktop.ui.viewer.gl_support import window_owner

    class ClearWindow(QOpenGLWindow):
        def paintGL(self) -> None:
            functions = self.context().functions()
            functions.glClearColor(0.2, 0.4, 0.8, 1.0)
            functions.glClear(0x00004000)

    host = QWidget()
    owner = window_owner()  # as in the viewer, so Qt and not PySide deletes the GL window
    window = ClearWindow(QOpenGLWindow.UpdateBehavior.NoPartialUpdate, owner)
    QVBoxLayout(host).addWidget(QWidget.createWindowContainer(window, host))
    host.resize(64, 64)
    host.show()
    deadline = time.monotonic() + 5.0
    while not window.isExposed() and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.01)
    try:
        if not window.isExposed():
            return {"ok": False, "error": "the OpenGL window was never shown on screen"}
        window.makeCurrent()
        window.paintGL()
        image = window.grabFramebuffer()
    finally:
        host.close()
        host.deleteLater()
    if image.isNull():
        return {"ok": False, "error": "the framebuffer grab returned no image"}
    colour = QColor(image.pixel(image.width() // 2, image.height() // 2))
    expected = (51, 102, 204)
    actual = (colour.red(), colour.green(), colour.blue())
    if max(abs(a - b) for a, b in zip(actual, expected, strict=True)) > 2:
        return {"ok": False, "error": f"cleared to the wrong colour {colour.name()}"}
    return {"ok": True}


def main() -> int:
    sys.stdout.write(_MARKER + json.dumps(probe()) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
