"""A Result holds its request once; file_metadata() is the one writer of what a file records, and files
written before that (with the request also inside the metadata dict) read alike."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dit360_desktop.panorama import imageio
from dit360_desktop.panorama.parameters import format_a1111_parameters
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import (
    FILE_KEYS,
    Result,
    carried_metadata,
    file_metadata,
    stored_request,
)

REQUEST = GenerationRequest(
    prompt="This is a panorama image. A harbour", seed=42, width=64, height=32, steps=9
)


def _image() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 64, 3), dtype=np.uint8), "RGB")


def test_the_request_is_serialised_from_result_request_first_then_the_run() -> None:
    result = Result(_image(), REQUEST, {"models": {"base": {"name": "flux"}}, "seed": 42, "warnings": []})
    record = result.file_metadata({"created_at": "2026-01-01T00:00:00+00:00"})
    assert list(record) == ["request", "seed", "models", "warnings", "created_at"]
    assert record["request"] == REQUEST.to_dict() and record["seed"] == 42
    assert GenerationRequest.from_dict(record["request"]) == REQUEST
    # The metadata dict is not the place of the request, and it is not changed by writing.
    assert "request" not in result.metadata and result.metadata["seed"] == 42


def test_the_seed_always_comes_from_the_request() -> None:
    record = file_metadata(REQUEST, {"seed": 7})
    assert record["seed"] == 42 == record["request"]["seed"]


def test_a_result_refuses_metadata_that_carries_a_request_copy() -> None:
    with pytest.raises(ValueError, match="one copy"):
        Result(_image(), REQUEST, {"request": REQUEST.replace(seed=1).to_dict()})


def test_the_png_records_the_request_and_the_a1111_text_reads_it(tmp_path: Path) -> None:
    result = Result(_image(), REQUEST, {"models": {"base": {"name": "flux"}}})
    path = imageio.save_png(result.image, tmp_path / "p.png", result.file_metadata())
    meta = imageio.read_metadata(path)
    assert meta.dit360 == json.loads(json.dumps(result.file_metadata()))
    assert meta.parameters == format_a1111_parameters(result.file_metadata())
    assert "Seed: 42" in meta.parameters and "Steps: 9" in meta.parameters


def test_metadata_of_an_older_file_starts_a_derived_result_without_its_own_keys(tmp_path: Path) -> None:
    """A file written before Result.request became the one copy: the request inside the metadata dict,
    next to the library's and a batch job's keys."""
    old = {
        "request": REQUEST.to_dict(),
        "seed": 42,
        "models": {"base": {"name": "flux"}},
        "versions": {"app": "0.9"},
        "created_at": "2025-05-01T10:00:00+00:00",
        "lineage": {"parent": "images/a.png"},
        "job_id": "job-3",
        "cluster": {"attempt": 1},
        "repair": {"applied": ["seam"]},
    }
    path = imageio.save_png(_image(), tmp_path / "old.png", old)
    stored = imageio.read_metadata(path).dit360
    assert stored == old
    carried = carried_metadata(stored)
    assert carried == {
        "models": {"base": {"name": "flux"}},
        "versions": {"app": "0.9"},
        "repair": {"applied": ["seam"]},
    }
    assert not set(carried) & set(FILE_KEYS)
    upscaled = REQUEST.replace(width=128, height=64)
    derived = Result(_image(), upscaled, {**carried, "upscale": {"scale": 2}})
    record = derived.file_metadata()
    assert record["request"]["width"] == 128 and record["seed"] == 42 and "job_id" not in record
    assert carried_metadata(None) == {}


def test_a_task_on_a_file_starts_from_its_whole_recorded_request() -> None:
    recorded = REQUEST.replace(negative_prompt="fog", true_cfg_scale=1.5, init_image="/tmp/a.png").to_dict()
    start = stored_request({"request": recorded, "seed": 42})
    assert start == REQUEST.replace(negative_prompt="fog", true_cfg_scale=1.5)
    assert start.init_image is None and start.mask_image is None
    # A request without a seed takes the file's; nothing usable gives None (the caller's defaults).
    unseeded = {**REQUEST.to_dict(), "seed": None}
    assert stored_request({"request": unseeded, "seed": 9}).seed == 9
    assert stored_request({"request": unseeded, "seed": True}).seed is None
    assert stored_request({"seed": 9}) is None and stored_request(None) is None
    assert stored_request({"request": "a prompt"}) is None
