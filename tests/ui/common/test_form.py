"""The generation form without widgets: every request field round-trips, settings, recall, listeners."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from dit360_desktop.panorama import request as request_module
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.request import (
    MAX_SEED,
    PANORAMA_PREFIX,
    PARAMETERS,
    GenerationRequest,
)
from dit360_desktop.settings import Settings, load_settings, save_settings
from dit360_desktop.ui.common.form import FORM_FIELDS, LOCAL_FIELDS, GenerationForm


def _other_value(f: dataclasses.Field, current: Any) -> Any:
    """A valid value of field ``f`` that differs from ``current`` (its default)."""
    spec = PARAMETERS.get(f.name)
    if spec is not None:
        sizes = {"width": 1024, "height": 512}
        value = sizes[f.name] if f.name in sizes else spec.low + spec.step * 3
        value = int(value) if spec.is_int else round(value, 3)
        assert value != current and spec.low <= value <= spec.high
        return value
    if f.name == "seed":
        return 123456789
    if isinstance(current, str):
        # A choice field: its choices are a tuple of strings in the request module (TIERS, FIT_MODES...).
        for choices in vars(request_module).values():
            if isinstance(choices, tuple) and current in choices and all(isinstance(c, str) for c in choices):
                for choice in choices:
                    if choice != current and _accepted(f.name, choice):
                        return choice
    kind = str(f.type)
    if kind == "bool":
        return not current
    if kind.startswith("str"):
        return f"{f.name} value"
    if kind.startswith("tuple[tuple[str, float]"):
        return (("/loras/style.safetensors", 0.5), ("/loras/turbo.safetensors", 1.0))
    raise AssertionError(f"test_form does not know how to vary {f.name}: {f.type}")


def _accepted(name: str, value: Any) -> bool:
    try:
        dataclasses.replace(GenerationRequest("x"), **{name: value}).validate()
    except RequestError as e:
        return e.field != name
    return True


def _everything_changed() -> GenerationRequest:
    base = GenerationRequest(f"{PANORAMA_PREFIX} a salt flat at noon")
    changes = {
        f.name: _other_value(f, getattr(base, f.name))
        for f in dataclasses.fields(GenerationRequest)
        if f.name != "prompt"
    }
    request = dataclasses.replace(base, **changes)
    request.validate()
    for f in dataclasses.fields(GenerationRequest):
        if f.name != "prompt":
            assert getattr(request, f.name) != getattr(GenerationRequest("x"), f.name), f.name
    return request


def test_every_request_field_round_trips() -> None:
    """Fails when a field is added to GenerationRequest that the form does not carry."""
    request = _everything_changed()
    form = GenerationForm()
    form.load(request)
    assert form.to_request() == request
    for f in dataclasses.fields(GenerationRequest):
        assert getattr(form.to_request(), f.name) == getattr(request, f.name), f.name
    # And through a second form, as "re-use parameters" does.
    again = GenerationForm()
    again.load(form.to_request())
    assert again.to_request() == request


@pytest.mark.parametrize(
    "prompt",
    [f"{PANORAMA_PREFIX} a lake", "a lake", f"{PANORAMA_PREFIX}a lake", f"  {PANORAMA_PREFIX} a lake "],
)
def test_the_panorama_sentence_becomes_the_option_and_back(prompt: str) -> None:
    form = GenerationForm()
    form.load(GenerationRequest(prompt))
    assert form.to_request().prompt == prompt
    assert form["prepend_prefix"] == prompt.startswith(f"{PANORAMA_PREFIX} ")


def test_settings_keep_every_picture_field_and_the_options(tmp_path: Path) -> None:
    form = GenerationForm()
    form.load(_everything_changed())
    form.set("seed_locked", True)
    settings = Settings(lora_path="/models/dit360.safetensors")
    form.save_settings(settings)
    path = tmp_path / "settings.json"
    save_settings(settings, path)
    restored = GenerationForm()
    restored.restore_settings(load_settings(path).settings)
    for name in form.to_request().to_dict():
        if name in LOCAL_FIELDS:
            continue
        assert restored[name] == form[name], name
    assert restored["lora_path"] == "/models/dit360.safetensors"
    assert restored["prepend_prefix"] is True and restored["seed_locked"] is True
    assert restored.to_request().prompt == form.to_request().prompt


def test_settings_written_by_the_previous_version_still_open() -> None:
    # The format before the form model: the prompt as typed, the panel's fields, the seed.
    old = Settings.from_dict({
        "last_parameters": {
            "prompt": "ice cave", "negative_prompt": "blur", "seed": 99, "width": 256, "height": 128,
            "steps": 7, "guidance": 3.3, "true_cfg_scale": 1.0, "lora_scale": 1.0, "strength": 0.8,
            "seamless_decode": True, "tier": "24gb",
        },
        "prepend_panorama_prefix": False,
        "seed_locked": True,
    })  # fmt: skip
    form = GenerationForm()
    form.restore_settings(old)
    request = form.request_for_run()
    assert request.prompt == "ice cave" and request.negative_prompt == "blur"
    assert (request.width, request.height, request.steps, request.guidance) == (256, 128, 7, 3.3)
    assert request.seed == 99 and request.tier == "24gb"


def test_an_unlocked_seed_is_drawn_again_for_each_run() -> None:
    form = GenerationForm()
    form.restore_settings(Settings(last_parameters={"prompt": "a", "seed": 5}, seed_locked=False))
    assert form["seed"] != 5 or form["seed_locked"] is False
    seeds = {form.request_for_run().seed for _ in range(5)}
    assert len(seeds) > 1 and all(0 <= s <= MAX_SEED for s in seeds)
    form.update({"seed": 7, "seed_locked": True})
    assert {form.request_for_run().seed for _ in range(3)} == {7}


def test_recall_takes_the_picture_fields_and_refuses_bad_or_local_ones() -> None:
    form = GenerationForm()
    form.update({"init_image": "/tmp/mine.png", "lora_path": "/mine.safetensors", "steps": 20})
    taken = form.recall({
        "prompt": f"{PANORAMA_PREFIX} a harbour", "seed": 42, "steps": True, "guidance": 4,
        "tier": "16gb", "width": 250, "init_image": "/elsewhere/x.png", "lora_path": "/elsewhere/l",
        "device": "cuda", "sampler": "Euler",
    })  # fmt: skip
    assert sorted(taken) == ["guidance", "prompt", "seed"]
    assert form["prompt"] == "a harbour" and form["prepend_prefix"] is True
    assert form["seed"] == 42 and form["seed_locked"] is True
    assert form["guidance"] == 4.0 and isinstance(form["guidance"], float)
    # A bool is no step count, 250 is no multiple of 16, 16gb is no tier: all left as they were.
    assert form["steps"] == 20 and form["width"] == 2048 and form["tier"] == "auto"
    assert form["init_image"] == "/tmp/mine.png" and form["lora_path"] == "/mine.safetensors"
    assert form["device"] == "auto"


def test_listeners_hear_changes_once_and_after_the_whole_update() -> None:
    form = GenerationForm()
    heard: list[tuple[str, Any]] = []
    sizes: list[tuple[int, int]] = []
    form.on_change(lambda name, value: heard.append((name, value)))
    form.subscribe("width", lambda _: sizes.append((form["width"], form["height"])), now=False)
    form.update({"width": 512, "height": 256})
    form.set("width", 512)  # unchanged: nobody is told
    form.set("steps", 12)
    assert heard == [("width", 512), ("height", 256), ("steps", 12)]
    assert sizes == [(512, 256)], "a listener must never see the new width with the old height"
    with pytest.raises(KeyError):
        form.set("no_such_field", 1)
    assert set(FORM_FIELDS) == {"prepend_prefix", "seed_locked"}
