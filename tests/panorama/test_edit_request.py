"""The edit fields of GenerationRequest: validation names the field, and they survive every round trip."""

from __future__ import annotations

import pytest

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.parameters import format_a1111_parameters, parse_a1111_parameters
from dit360_desktop.panorama.request import DEFAULT_TAU, GenerationRequest

EDIT = dict(prompt="a lake", init_image="pano.png", mask_image="mask.png", width=256, height=128)


def test_defaults_are_a_blend_edit_with_the_published_tau() -> None:
    request = GenerationRequest(**EDIT)
    request.validate()
    assert request.is_edit
    assert (request.edit_method, request.tau, request.feather, request.source_prompt) == (
        "blend",
        DEFAULT_TAU,
        8,
        "",
    )
    assert DEFAULT_TAU == 50.0
    assert not GenerationRequest(prompt="a lake").is_edit


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"edit_method": "magic"}, "edit_method", "blend, reference"),
        ({"tau": 101.0}, "tau", "between 0.0 and 100.0"),
        ({"tau": float("nan")}, "tau", "must be a number"),
        ({"feather": -1}, "feather", "between 0 and 256"),
        ({"feather": 2.5}, "feather", "type int"),
        ({"source_prompt": 3}, "source_prompt", "type str"),
        ({"mask_image": ""}, "mask_image", "file path"),
        ({"init_image": None}, "init_image", "panorama to edit"),
        ({"width": 384}, "width", "not 2:1"),
    ],
)
def test_bad_edit_fields_name_the_field(changes, field, fragment) -> None:
    with pytest.raises(RequestError) as info:
        GenerationRequest(**{**EDIT, **changes}).validate()
    assert info.value.field == field
    assert fragment in str(info.value)


def test_edit_fields_round_trip_through_dict() -> None:
    request = GenerationRequest(**EDIT, edit_method="reference", source_prompt="a field", tau=35.0, feather=3)
    again = GenerationRequest.from_dict(request.to_dict())
    assert again == request
    assert again.is_edit


def test_a1111_text_restores_method_tau_strength_and_feather() -> None:
    for method in ("blend", "reference"):
        request = GenerationRequest(
            **EDIT, edit_method=method, tau=35.0, feather=5, strength=0.6, source_prompt="a field, at dusk"
        )
        parsed = parse_a1111_parameters(format_a1111_parameters({"request": request.to_dict(), "seed": 4}))
        assert parsed["edit_method"] == method
        assert parsed["denoising_strength"] == 0.6
        if method == "reference":
            assert parsed["tau"] == 35.0
            assert parsed["source_prompt"] == "a field, at dusk"
            assert "feather" not in parsed
        else:
            assert parsed["feather"] == 5
            assert "tau" not in parsed
