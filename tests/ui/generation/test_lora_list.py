"""The extra-LoRA list: the model without widgets, then the widget bound to the form."""

from __future__ import annotations

import os
from pathlib import Path

from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.generation.lora_list import LoraEntry, LoraListModel, LoraListWidget, lora_files_in


def test_rows_that_are_on_are_the_forms_extra_loras() -> None:
    form = GenerationForm()
    model = LoraListModel(form)
    assert model.add("/l/style.safetensors") and model.add("/l/turbo.safetensors", 0.5)
    assert not model.add("/l/style.safetensors"), "a LoRA is listed once"
    assert form["extra_loras"] == (("/l/style.safetensors", 1.0), ("/l/turbo.safetensors", 0.5))
    model.set_enabled(0, False)
    model.set_scale(1, 0.75)
    assert form.to_request().extra_loras == (("/l/turbo.safetensors", 0.75),)
    assert model.entries[0] == LoraEntry("/l/style.safetensors", 1.0, enabled=False), "off is kept"
    model.set_enabled(0, True)
    assert [p for p, _ in form["extra_loras"]] == ["/l/style.safetensors", "/l/turbo.safetensors"]
    model.remove(0)
    assert form["extra_loras"] == (("/l/turbo.safetensors", 0.75),)


def test_a_recalled_request_replaces_the_rows_that_are_on() -> None:
    form = GenerationForm()
    model = LoraListModel(form)
    model.add("/l/old.safetensors")
    model.add("/l/kept-off.safetensors")
    model.set_enabled(1, False)
    stored = GenerationRequest("a lake", extra_loras=(("/l/ink.safetensors", 0.4),)).to_dict()
    form.recall(stored)  # JSON form: a list of {"path", "scale"}
    assert form["extra_loras"] == (("/l/ink.safetensors", 0.4),)
    assert model.entries == [
        LoraEntry("/l/ink.safetensors", 0.4),
        LoraEntry("/l/kept-off.safetensors", 1.0, enabled=False),
    ]


def test_models_folder_lists_loras_but_not_model_weights(tmp_path: Path) -> None:
    (tmp_path / "loras" / "turbo").mkdir(parents=True)
    (tmp_path / "loras" / "ink.safetensors").write_bytes(b"x")
    (tmp_path / "loras" / "turbo" / "hyper-8step.safetensors").write_bytes(b"x")
    flux = tmp_path / "FLUX.1-dev"
    (flux / "vae").mkdir(parents=True)
    (flux / "model_index.json").write_text("{}")
    (flux / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"x")
    assert [p.name for p in lora_files_in(tmp_path)] == ["ink.safetensors", "hyper-8step.safetensors"]


def test_widget_rows_follow_the_form_and_edit_it(qtbot, tmp_path: Path) -> None:
    (tmp_path / "loras").mkdir()
    (tmp_path / "loras" / "ink.safetensors").write_bytes(b"x")
    form = GenerationForm()
    widget = LoraListWidget(form, folder=lambda: tmp_path)
    qtbot.addWidget(widget)
    widget.resize(380, 160)
    widget.show()
    assert widget.empty.isVisible() and not widget.rows
    form.set("extra_loras", (("/l/style.safetensors", 0.5), ("/l/turbo.safetensors", 1.0)))
    assert [row.toggle.text() for row in widget.rows] == ["style", "turbo"]
    assert widget.rows[0].scale.value() == 0.5 and not widget.empty.isVisible()
    first = widget.rows[0]
    widget.rows[0].scale.setValue(1.25)
    assert widget.rows[0] is first, "a scale edit keeps the row (and the focus in its spin box)"
    assert form["extra_loras"][0] == ("/l/style.safetensors", 1.25)
    widget.rows[1].toggle.setChecked(False)
    assert form["extra_loras"] == (("/l/style.safetensors", 1.25),)
    widget._fill_menu()
    texts = [action.text() for action in widget.menu.actions()]
    assert "ink.safetensors" in texts and "Add a LoRA file…" in texts
    next(a for a in widget.menu.actions() if a.text() == "ink.safetensors").trigger()
    assert form["extra_loras"][-1] == (str(tmp_path / "loras" / "ink.safetensors"), 1.0)
    if os.environ.get("DIT360_SCREENSHOTS"):
        widget.grab().save(os.environ["DIT360_SCREENSHOTS"])
    widget.rows[0].remove.click()
    assert [p for p, _ in form["extra_loras"]] == [str(tmp_path / "loras" / "ink.safetensors")]


def test_params_panel_has_the_lora_list_and_the_fast_draft_box(qtbot) -> None:
    from dit360_desktop.panorama.request import DEFAULT_STEP_CACHE
    from dit360_desktop.ui.generation.params_panel import ParamsPanel

    form = GenerationForm()
    panel = ParamsPanel(form)
    qtbot.addWidget(panel)
    assert panel.lora_list.model.form is form
    assert not panel.fast_draft.isChecked()
    panel.fast_draft.setChecked(True)
    assert form.to_request().step_cache == DEFAULT_STEP_CACHE
    form.set("step_cache", "taylorseer")  # a re-used request with another method keeps it
    assert panel.fast_draft.isChecked() and form["step_cache"] == "taylorseer"
    panel.fast_draft.setChecked(False)
    assert form["step_cache"] == "off"


def test_add_a_file_opens_the_dialog_and_adds_the_choice(qtbot, tmp_path: Path, monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    chosen = tmp_path / "turbo.safetensors"
    starts: list[str] = []

    def fake_dialog(parent, title, start, filters):
        starts.append(start)
        return str(chosen), filters

    monkeypatch.setattr(QFileDialog, "getOpenFileName", fake_dialog)
    (tmp_path / "loras").mkdir()
    form = GenerationForm()
    widget = LoraListWidget(form, folder=lambda: tmp_path)
    qtbot.addWidget(widget)
    widget._fill_menu()
    actions = {action.text(): action for action in widget.menu.actions()}
    actions["Add a LoRA file…"].trigger()
    actions["Browse the models folder…"].trigger()
    assert starts[1] == str(tmp_path / "loras"), "browsing starts in <models>/loras"
    assert form["extra_loras"] == ((str(chosen), 1.0),), "the same file is listed once"
