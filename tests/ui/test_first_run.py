"""The first-run banner over the viewer."""

from __future__ import annotations

from pathlib import Path

from dit360_desktop.models.folder_check import ModelReadiness
from dit360_desktop.ui.first_run import ModelBanner


def test_banner_shows_until_the_models_are_ready(qtbot, tmp_path: Path, tiny_flux_dir: Path) -> None:
    banner = ModelBanner()
    qtbot.addWidget(banner)
    banner.show_readiness(ModelReadiness(None, None, "flux1-dev", "No model is installed yet."))
    assert not banner.isHidden() and banner.message.text() == "No model is installed yet."
    with qtbot.waitSignal(banner.setup_requested) as signal:
        banner.setup_button.click()
    assert signal.args == ["flux1-dev"]
    banner.show_readiness(ModelReadiness(tiny_flux_dir, tiny_flux_dir, None))
    assert banner.isHidden()


def test_banner_checks_the_real_installation(qtbot, tmp_path: Path, tiny_flux_dir: Path) -> None:
    banner = ModelBanner()
    qtbot.addWidget(banner)
    readiness = banner.check(None, tmp_path / "models")
    assert readiness.setup_component == "flux1-dev" and not banner.isHidden()
    assert "No model is installed" in banner.message.text()
    readiness = banner.check(tiny_flux_dir, tmp_path / "models")
    assert readiness.setup_component == "dit360-lora" and "LoRA" in banner.message.text()


def test_dismissed_banner_stays_hidden(qtbot) -> None:
    banner = ModelBanner()
    qtbot.addWidget(banner)
    missing = ModelReadiness(None, None, "flux1-dev", "No model.")
    banner.show_readiness(missing)
    banner.dismiss_button.click()
    banner.show_readiness(missing)
    assert banner.isHidden()
