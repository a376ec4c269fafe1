"""A picture that carries only the A1111 text (no DiT360 JSON) still restores an edit's settings."""

from __future__ import annotations

import pytest
from PIL import Image, PngImagePlugin

from dit360_desktop.panorama.imageio import read_metadata
from dit360_desktop.panorama.parameters import format_a1111_parameters
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.ui.common.form import GenerationForm
from dit360_desktop.ui.generation.drop import request_fields_from_metadata


def _a1111_only_png(tmp_path, request: GenerationRequest):
    """A PNG as another tool would pass it on: the parameters text chunk and nothing of ours."""
    text = format_a1111_parameters({"request": request.to_dict(), "seed": request.seed})
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", text)
    path = tmp_path / "shared.png"
    Image.new("RGB", (64, 32), (90, 120, 150)).save(path, pnginfo=info)
    return path


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"edit_method": "reference", "tau": 35.0, "source_prompt": "a plain field, noon"},
            {"edit_method": "reference", "tau": 35.0, "source_prompt": "a plain field, noon"},
        ),
        ({"edit_method": "blend", "feather": 21}, {"edit_method": "blend", "feather": 21}),
    ],
)
def test_edit_settings_come_back_from_the_a1111_text(tmp_path, changes, expected) -> None:
    request = GenerationRequest(
        prompt="This is a panorama image. A red barn in snow",
        seed=812,
        width=64,
        height=32,
        init_image=str(tmp_path / "source.png"),
        mask_image=str(tmp_path / "mask.png"),
        strength=0.9,
        step_cache="fbc",
        **changes,
    )
    meta = read_metadata(_a1111_only_png(tmp_path, request))
    assert meta.dit360 is None and "Edit method" in meta.parameters
    fields = request_fields_from_metadata(meta.dit360, meta.parameters)
    assert {key: fields.get(key) for key in expected} == expected
    assert fields["step_cache"] == "fbc" and fields["seed"] == 812
    form = GenerationForm()
    form.recall(fields)
    restored = form.to_request()
    assert {key: getattr(restored, key) for key in expected} == expected
    assert restored.step_cache == "fbc"
