"""One EngineOptions for every front end: built from the app's settings or from command-line arguments, and
what the engine does with it."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from dit360_desktop.cli import build_parser
from dit360_desktop.cli.generate import engine_options
from dit360_desktop.cluster.worker_models import ModelSource
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.events import StepEvent
from dit360_desktop.panorama.options import EngineOptions
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.settings import Settings

FAST = ["--gguf", "~/flux.gguf", "--compile", "--fuse-lora", "--attention", "native", "--fp8-compute"]
EXPECTED = EngineOptions(
    gguf_file=Path("~/flux.gguf").expanduser(),
    compile=True,
    attention="native",
    fuse_lora=True,
    fp8_compute=True,
)


def test_the_app_builds_them_from_its_settings():
    assert EngineOptions.from_settings(Settings()) == EngineOptions()
    settings = Settings(gguf_file="~/models/flux.gguf", compile_transformer=True, fuse_lora=True)
    options = EngineOptions.from_settings(settings)
    assert options == EngineOptions(gguf_file=Path.home() / "models/flux.gguf", compile=True, fuse_lora=True)
    assert options.gguf_file.is_absolute()


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "--prompt", "x"],
        ["edit", "--image", "pano.png", "--mask", "m.png", "--prompt", "x"],
        ["repair", "pano.png", "--seam"],
        ["upscale", "pano.png", "--scale", "2", "--output", "o.png"],
        ["decode", "l.safetensors", "--output", "o.png"],
        ["batch", "jobs.jsonl", "--cluster", "local"],
    ],
)
def test_every_command_builds_them_from_the_same_arguments(command):
    parser = build_parser()
    assert engine_options(parser.parse_args(command)) == EngineOptions()
    assert engine_options(parser.parse_args([*command, *FAST])) == EXPECTED


def test_the_cluster_workers_get_them_with_their_model_source():
    source = ModelSource(model_dir="/shared/flux", engine_options=EXPECTED)
    # The driver hands the source to each Ray actor by pickling it.
    assert pickle.loads(pickle.dumps(source)).engine_options == EXPECTED
    assert ModelSource().engine_options == EngineOptions()


def test_an_unknown_attention_kernel_names_the_field():
    with pytest.raises(RequestError) as caught:
        EngineOptions(attention="fastest")
    assert caught.value.field == "attention"


def test_the_engine_follows_the_preview_option(tiny_flux_dir):
    from dit360_desktop.core.engine import PanoramaEngine

    request = GenerationRequest(prompt="x", width=128, height=64, steps=2, seed=1, device="cpu")
    for previews in (True, False):
        events = []
        PanoramaEngine(tiny_flux_dir, EngineOptions(previews=previews)).run(request, on_event=events.append)
        steps = [event for event in events if isinstance(event, StepEvent)]
        assert len(steps) == 2
        assert all((event.preview is not None) == previews for event in steps)
