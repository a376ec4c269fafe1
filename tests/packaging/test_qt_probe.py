"""The Qt/OpenGL probe: GL required for the GUI on a real display, reported elsewhere; Qt aborts caught."""

from __future__ import annotations

import pytest

from dit360_desktop.selftest import qt_probe


def _facts(platform: str = "xcb", *, gl_ok: bool = True, plugins=None, formats=None) -> dict:
    gl = {"ok": True, "version": "4.5", "renderer": "llvmpipe"} if gl_ok else {"ok": False, "error": "none"}
    return {
        "platform": platform,
        "plugins_dir": "/bundle/PySide6/Qt/plugins",
        "platform_plugins": plugins if plugins is not None else ["offscreen", "xcb", "windows", "cocoa"],
        "image_formats": formats if formats is not None else ["jpeg", "jpg", "png"],
        "gl": gl,
    }


def test_gui_on_a_display_requires_gl() -> None:
    assert qt_probe._judge(_facts("xcb"), gui=True, require_gl=False).ok
    outcome = qt_probe._judge(_facts("xcb", gl_ok=False), gui=True, require_gl=False)
    assert not outcome.ok
    assert "no usable OpenGL on the xcb platform" in outcome.summary


def test_gl_is_only_reported_offscreen_and_for_the_cli() -> None:
    offscreen = qt_probe._judge(_facts("offscreen", gl_ok=False), gui=True, require_gl=False)
    assert offscreen.ok
    assert "not required here" in offscreen.summary
    assert qt_probe._judge(_facts("xcb", gl_ok=False), gui=False, require_gl=False).ok


def test_require_gl_fails_without_gl_even_offscreen() -> None:
    outcome = qt_probe._judge(_facts("offscreen", gl_ok=False), gui=False, require_gl=True)
    assert not outcome.ok
    assert outcome.facts["gl_required"] is True


def test_missing_native_plugin_and_image_formats_fail() -> None:
    outcome = qt_probe._judge(_facts(plugins=["offscreen"], formats=["png"]), gui=False, require_gl=False)
    assert not outcome.ok
    assert f"the {qt_probe.NATIVE_PLUGIN['linux']} platform plugin is missing" in outcome.summary
    assert "Qt cannot read image formats: jpg, jpeg" in outcome.summary


def test_a_qt_abort_becomes_a_failed_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "no-such-platform")
    outcome = qt_probe.run_probe(gui=True, require_gl=False)
    assert not outcome.ok
    assert outcome.summary.startswith("Qt could not start")
    assert "no-such-platform" in outcome.summary
    assert outcome.facts["returncode"] != 0


def test_offscreen_probe_reports_gl_without_failing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    outcome = qt_probe.run_probe(gui=True, require_gl=False)
    assert outcome.ok, outcome.summary
    assert outcome.facts["platform"] == "offscreen"
    assert outcome.facts["gl_required"] is False
    assert "xcb" in outcome.facts["platform_plugins"]


@pytest.mark.gl
def test_probe_on_xvfb_renders_in_an_embedded_gl_window(monkeypatch: pytest.MonkeyPatch) -> None:
    # pytest-xvfb provides DISPLAY; Mesa's llvmpipe gives a real OpenGL context there.
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    outcome = qt_probe.run_probe(gui=True, require_gl=True)
    assert outcome.ok, outcome.summary
    assert outcome.facts["platform"] == "xcb"
    assert outcome.facts["gl"]["ok"] is True
    assert outcome.facts["gl"]["window"] == {"ok": True}


def test_no_display_falls_back_to_offscreen(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    outcome = qt_probe.run_probe(gui=True, require_gl=False)
    assert outcome.ok, outcome.summary
    assert outcome.facts["no_display"] is True
    assert outcome.facts["platform"] == "offscreen"
