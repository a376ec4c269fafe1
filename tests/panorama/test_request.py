"""Every RequestError names its field and the allowed range."""

from __future__ import annotations

import pytest

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.request import GenerationRequest


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"prompt": ""}, "prompt", "empty"),
        ({"prompt": "   "}, "prompt", "empty"),
        ({"prompt": 5}, "prompt", "str"),
        ({"prompt": "x" * 5000}, "prompt", "4000"),
        ({"negative_prompt": None}, "negative_prompt", "str"),
        ({"true_cfg_scale": 0.5}, "true_cfg_scale", "between 1.0 and 20.0"),
        ({"true_cfg_scale": float("nan")}, "true_cfg_scale", "number"),
        ({"width": 2050}, "width", "multiple of 16"),
        ({"width": 32}, "width", "between 64 and 8192"),
        ({"height": 100000}, "height", "between 64 and 8192"),
        ({"height": 1024.0}, "height", "int"),
        ({"steps": 0}, "steps", "between 1 and 200"),
        ({"steps": True}, "steps", "int"),
        ({"guidance": -1}, "guidance", "between 0.0 and 30.0"),
        ({"guidance": "high"}, "guidance", "number"),
        ({"seed": -1}, "seed", "between 0 and 4294967295"),
        ({"seed": 2**32}, "seed", "between 0 and 4294967295"),
        ({"init_image": ""}, "init_image", "path"),
        ({"strength": 0.0}, "strength", "between 0.01 and 1.0"),
        ({"strength": 1.5}, "strength", "between 0.01 and 1.0"),
        ({"fit": "zoom"}, "fit", "crop, pad, stretch"),
        ({"lora_path": 3}, "lora_path", "str"),
        ({"lora_scale": 9.0}, "lora_scale", "between -2.0 and 4.0"),
        ({"dtype": "fp8"}, "dtype", "auto, fp32, bf16, fp16"),
        ({"device": "tpu"}, "device", "auto, cpu, cuda, mps"),
        ({"seamless_decode": "yes"}, "seamless_decode", "bool"),
        ({"rewrap_each_step": 1}, "rewrap_each_step", "bool"),
    ],
)
def test_invalid_values_name_the_field_and_range(changes, field, fragment):
    with pytest.raises(RequestError) as caught:
        GenerationRequest(prompt="a lake", **{k: v for k, v in changes.items() if k != "prompt"}).replace(
            **changes
        ).validate()
    assert caught.value.field == field
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(field)


def test_defaults_are_the_published_settings():
    request = GenerationRequest(prompt="a lake")
    assert (request.width, request.height, request.steps, request.guidance) == (2048, 1024, 28, 2.8)
    assert request.seamless_decode is True and request.rewrap_each_step is False
    assert request.validate() == []


def test_unusual_sizes_warn_but_are_allowed():
    assert "not 2:1" in GenerationRequest(prompt="a", width=1024, height=1024).validate()[0]
    assert "trained at 2048×1024" in GenerationRequest(prompt="a", width=1024, height=512).validate()[0]


def test_true_cfg_needs_scale_and_negative_prompt():
    assert not GenerationRequest(prompt="a", true_cfg_scale=3.0).uses_true_cfg
    assert not GenerationRequest(prompt="a", negative_prompt="b").uses_true_cfg
    assert GenerationRequest(prompt="a", negative_prompt="b", true_cfg_scale=3.0).uses_true_cfg


def test_seed_is_drawn_once_and_roundtrips():
    drawn = GenerationRequest(prompt="a").with_seed()
    assert drawn.seed is not None and drawn.with_seed() is drawn
    again = GenerationRequest.from_dict({**drawn.to_dict(), "future_field": 1})
    assert again == drawn


def test_from_dict_without_prompt_is_an_error():
    with pytest.raises(RequestError, match="prompt"):
        GenerationRequest.from_dict({"steps": 4})
