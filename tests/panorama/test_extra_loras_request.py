"""The extra_loras request field: validation naming the field, JSON forms, A1111 <lora:name:scale> tags."""

from __future__ import annotations

import json

import pytest

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.parameters import format_a1111_parameters, parse_a1111_parameters
from dit360_desktop.panorama.request import GenerationRequest


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("style.safetensors", "list of (path, scale) pairs"),
        ((("style.safetensors",),), "item 0 must be a (path, scale) pair"),
        ((("", 1.0),), "item 0: the path must be a non-empty string"),
        ((("a.safetensors", "high"),), "item 0: the scale must be a number"),
        ((("a.safetensors", float("nan")),), "the scale must be a number"),
        ((("a.safetensors", True),), "the scale must be a number"),
        ((("a.safetensors", 1.0), ("b.safetensors", 9.0)), "item 1: the scale must be between -2.0 and 4.0"),
        ((("a.safetensors", 1.0), ("a.safetensors", 0.5)), "item 1: a.safetensors is listed twice"),
        (tuple((f"{i}.safetensors", 1.0) for i in range(17)), "at most 16"),
    ],
)
def test_bad_extra_loras_name_the_field(value, fragment):
    with pytest.raises(RequestError) as caught:
        GenerationRequest("a lake", extra_loras=value).validate()
    assert caught.value.field == "extra_loras"
    assert fragment in str(caught.value)


def test_extra_loras_round_trip_through_json_in_every_stored_form():
    request = GenerationRequest("a lake", extra_loras=(("/l/style.safetensors", 0.5), ("/l/turbo", 1)))
    stored = json.loads(json.dumps(request.to_dict()))
    assert stored["extra_loras"] == [
        {"path": "/l/style.safetensors", "scale": 0.5},
        {"path": "/l/turbo", "scale": 1},
    ]
    assert GenerationRequest.from_dict(stored) == request
    as_pairs = {**stored, "extra_loras": [["/l/style.safetensors", 0.5], ["/l/turbo", 1]]}
    assert GenerationRequest.from_dict(as_pairs).extra_loras == request.extra_loras
    older = {k: v for k, v in stored.items() if k != "extra_loras"}
    assert GenerationRequest.from_dict(older).extra_loras == ()


def test_a1111_text_names_each_extra_lora_as_a_tag_and_lists_its_hash():
    metadata = {
        "request": {"prompt": "a lake", "steps": 8, "seed": 1, "width": 2048, "height": 1024},
        "models": {
            "lora": {"name": "DiT360", "sha256": "a" * 64, "scale": 1.0},
            "extra_loras": [
                {"name": "turbo.safetensors", "sha256": "b" * 64, "scale": 0.125},
                {"name": "ink", "sha256": "c" * 64, "scale": -0.5},
            ],
        },
    }
    text = format_a1111_parameters(metadata)
    assert text.splitlines()[0] == "a lake <lora:turbo:0.125> <lora:ink:-0.5>"
    assert 'Lora hashes: "DiT360: aaaaaaaaaaaa, turbo: bbbbbbbbbbbb, ink: cccccccccccc"' in text
    parsed = parse_a1111_parameters(text)
    assert parsed["prompt"] == "a lake <lora:turbo:0.125> <lora:ink:-0.5>", "kept, as A1111 keeps them"
    assert parsed["loras"] == [("turbo", 0.125), ("ink", -0.5)]


def test_a1111_tags_come_from_the_request_when_no_file_was_recorded():
    metadata = {
        "request": {"prompt": "a lake", "extra_loras": [{"path": "/x/y/Style.safetensors", "scale": 2}]}
    }
    assert format_a1111_parameters(metadata).splitlines()[0] == "a lake <lora:Style:2>"
