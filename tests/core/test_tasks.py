"""The engine's task table, its one denoising loop, and its public seams (core/tasks, core/loaded_model)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dit360_desktop
from dit360_desktop.core.editing.blend import KnownRegionPin
from dit360_desktop.core.editing.reference import ReferenceCoupling
from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.core.sampler import Denoiser
from dit360_desktop.core.tasks import table
from dit360_desktop.core.tasks.blend_edit import BlendEditTask
from dit360_desktop.core.tasks.generate import GenerateTask
from dit360_desktop.core.tasks.reference_edit import ReferenceEditTask
from dit360_desktop.core.tasks.repair import RepairTask
from dit360_desktop.core.tasks.upscale import DetailUpscaleTask, UpscaleTask
from dit360_desktop.panorama.errors import ModelMissingError, RequestError
from dit360_desktop.panorama.events import DoneEvent
from dit360_desktop.panorama.options import EngineOptions
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.panorama.result import Result
from dit360_desktop.panorama.task_requests import RepairOptions, RepairRequest, UpscaleRequest

WIDTH, HEIGHT = 128, 64
PACKAGE = Path(dit360_desktop.__file__).parent


def small(**changes) -> GenerationRequest:
    fields = dict(prompt="a beach", width=WIDTH, height=HEIGHT, steps=2, seed=3, device="cpu", dtype="fp32")
    return GenerationRequest(**{**fields, **changes})


def edit_files(tmp_path: Path) -> dict[str, str]:
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(tmp_path / "pano.png")
    mask = np.zeros((HEIGHT, WIDTH), np.uint8)
    mask[16:48, 32:96] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    return {"init_image": str(tmp_path / "pano.png"), "mask_image": str(tmp_path / "mask.png")}


def every_kind(tmp_path: Path) -> dict[str, object]:
    files = edit_files(tmp_path)
    template = small()
    return {
        "generate": small(),
        "blend-edit": small(**files),
        "reference-edit": small(**files, edit_method="reference"),
        "repair": RepairRequest(Path(files["init_image"]), template, tmp_path, RepairOptions()),
        "upscale": UpscaleRequest(Path(files["init_image"]), 2, tmp_path / "sr.safetensors", template),
        "upscale-detail": UpscaleRequest(
            Path(files["init_image"]), 2, tmp_path / "sr.safetensors", template, detail=0.2
        ),
    }


def test_each_kind_is_run_by_its_task(tmp_path):
    expected = {
        "generate": GenerateTask,
        "blend-edit": BlendEditTask,
        "reference-edit": ReferenceEditTask,
        "repair": RepairTask,
        "upscale": UpscaleTask,
        "upscale-detail": DetailUpscaleTask,
    }
    requests = every_kind(tmp_path)
    # Rows other tasks add (depth …) have their own tests.
    assert set(expected) == set(requests) and set(expected) <= set(table.TASKS)
    for kind, request in requests.items():
        assert request.kind == kind
        assert type(table.task_for(request)) is expected[kind], kind
    assert table.task_for(small()).needs == ("flux",)
    assert table.task_for(requests["upscale"]).needs == ()


def test_an_unknown_kind_is_a_request_error():
    class Odd:
        kind = "odd"

    with pytest.raises(RequestError, match="no engine task runs 'odd'"):
        table.task_for(Odd())


class RecordingTask:
    """Stands in for a table row: records what the engine hands it."""

    needs = ()

    def __init__(self) -> None:
        self.calls = []

    def run(self, models, request, emit, cancel):
        self.calls.append((dict(models), request))
        return Result(image=Image.new("RGB", (2, 1)), request=small(), metadata={})


def test_the_engine_dispatches_every_kind_through_the_table(tmp_path, monkeypatch):
    requests = every_kind(tmp_path)
    recorders = {kind: RecordingTask() for kind in requests}
    monkeypatch.setattr(table, "TASKS", recorders)
    # No FLUX folder at all: tasks that need nothing load nothing.
    engine = PanoramaEngine(None)
    events = []
    for request in requests.values():
        engine.run(request, on_event=events.append)
    for kind, recorder in recorders.items():
        assert len(recorder.calls) == 1, kind
        models, request = recorder.calls[0]
        assert models == {} and request.kind == kind
    # The engine drew the generation's seed before the task ran.
    assert recorders["generate"].calls[0][1].seed == 3
    assert sum(isinstance(event, DoneEvent) for event in events) == len(requests)


def test_a_task_on_a_model_provider_gets_it_loaded_once(tmp_path, monkeypatch):
    class Provider:
        loads = 0
        unloads = 0

        def load(self, request, emit, cancel):
            Provider.loads += 1
            return "depth model"

        def unload(self):
            Provider.unloads += 1

    class DepthTask(RecordingTask):
        needs = ("depth",)

    class DepthRequest:
        kind = "depth"

        def validate(self):
            return []

    task = DepthTask()
    monkeypatch.setattr(table, "TASKS", {"depth": task})
    monkeypatch.setattr(table, "MODELS", {"depth": Provider})
    engine = PanoramaEngine(None)
    engine.run(DepthRequest())
    engine.run(DepthRequest())
    assert [models for models, _ in task.calls] == [{"depth": "depth model"}] * 2
    assert Provider.loads == 2  # the provider decides whether a second load is a no-op
    engine.unload()
    assert Provider.unloads == 1


def test_a_flux_task_without_a_model_folder_names_the_problem():
    with pytest.raises(ModelMissingError, match=r"FLUX\.1-dev"):
        PanoramaEngine(None).run(small())


def test_load_returns_the_public_loaded_model(tiny_flux_dir):
    engine = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False))
    model = engine.load(device="cpu", dtype="fp32")
    assert model is engine.model
    assert model.device == torch.device("cpu") and model.dtype == torch.float32
    assert model.plan.name == "cpu" and model.previewer is None
    assert model.components.transformer is not None and model.components.vae is not None
    # Loading again with the same placement keeps the model.
    assert engine.load(device="cpu", dtype="fp32") is model
    geometry = model.geometry(small())
    noise = model.seeded_noise(7, geometry, torch.float32)
    assert noise.shape == (1, 16, HEIGHT // 8, WIDTH // 8)
    assert torch.equal(noise, model.seeded_noise(7, geometry, torch.float32))
    padded = model.padded_noise(7, geometry, torch.float32)
    assert padded.shape == (1, geometry.rows * (geometry.cols + 2), 64)
    assert torch.equal(model.unpadded_latent(padded, geometry), noise)


def spy_on_the_loop(monkeypatch) -> list[tuple]:
    calls: list[tuple] = []
    original = Denoiser.run

    def recording(self, inputs, scheduler, timesteps, **kwargs):
        calls.append((inputs.tokens.shape[0], tuple(kwargs.get("hooks", ())), kwargs.get("preview_item", 0)))
        return original(self, inputs, scheduler, timesteps, **kwargs)

    monkeypatch.setattr(Denoiser, "run", recording)
    return calls


def count_transformer_calls(engine: PanoramaEngine, monkeypatch) -> list[int]:
    """Batch size of every transformer call, and whether it came from inside the one loop."""
    batches: list[int] = []
    transformer = engine.model.components.transformer
    forward = transformer.forward

    def counting(*args, **kwargs):
        batches.append(kwargs["hidden_states"].shape[0])
        return forward(*args, **kwargs)

    monkeypatch.setattr(transformer, "forward", counting)
    return batches


def test_the_reference_edit_runs_in_the_one_denoising_loop(tiny_flux_dir, tmp_path, monkeypatch):
    engine = PanoramaEngine(tiny_flux_dir)
    engine.load(device="cpu", dtype="fp32")
    batches = count_transformer_calls(engine, monkeypatch)
    calls = spy_on_the_loop(monkeypatch)
    request = small(**edit_files(tmp_path), edit_method="reference", steps=3)
    result = engine.run(request)
    assert len(calls) == 1
    items, hooks, preview_item = calls[0]
    # Both items in one state, the couplings as the loop's hook, the edited item previewed.
    assert items == 2 and preview_item == 1
    assert [type(hook) for hook in hooks] == [ReferenceCoupling]
    # Every transformer call was one of the loop's steps (γ = 1 inversion needs none).
    assert batches == [2, 2, 2]
    assert result.metadata["edit"]["method"] == "reference"


def test_generation_and_the_blend_edit_use_the_same_loop(tiny_flux_dir, tmp_path, monkeypatch):
    engine = PanoramaEngine(tiny_flux_dir)
    calls = spy_on_the_loop(monkeypatch)
    engine.run(small())
    engine.run(small(**edit_files(tmp_path)))
    assert [(items, [type(hook) for hook in hooks]) for items, hooks, _ in calls] == [
        (1, []),
        (1, [KnownRegionPin]),
    ]


def test_a_repair_runs_its_edits_on_the_loaded_model(tiny_flux_dir, tmp_path):
    engine = PanoramaEngine(tiny_flux_dir)
    pano = tmp_path / "pano.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)).save(pano)
    request = RepairRequest(
        pano, small(prompt="a field"), tmp_path, RepairOptions(seam=True, band=64, feather=8)
    )
    events = []
    result = engine.run(request, on_event=events.append)
    assert result.metadata["repair"]["seam_before"] > 0
    assert result.metadata["edit"]["method"] == "blend"
    assert result.request.mask_image == str(tmp_path / "repair.mask.png")
    # One run: one Done event, however many edits the repair made inside it.
    assert sum(isinstance(event, DoneEvent) for event in events) == 1


def engine_private_names() -> set[str]:
    """Underscore attributes and methods of PanoramaEngine and LoadedModel, read from their modules."""
    names = set()
    for module in ("core/engine.py", "core/loaded_model.py"):
        tree = ast.parse((PACKAGE / module).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name in ("PanoramaEngine", "LoadedModel"):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.FunctionDef) and _private(inner.name):
                        names.add(inner.name)
                    own = isinstance(inner, ast.Attribute) and _is_self(inner.value)
                    if own and _private(inner.attr):
                        names.add(inner.attr)
    return names


def _is_self(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id in ("self", "cls")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_nothing_outside_the_engine_modules_uses_their_underscore_names():
    private = engine_private_names()
    # The scan sees what it should: these are the engine's own state.
    assert {"_model", "_plan", "_load_with_fallback", "_run"} <= private
    owners = {PACKAGE / "core/engine.py", PACKAGE / "core/loaded_model.py"}
    offences = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path in owners:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            # An object's own attribute of the same name is its own business.
            if isinstance(node, ast.Attribute) and node.attr in private and not _is_self(node.value):
                offences.append(f"{path.relative_to(PACKAGE)}:{node.lineno} .{node.attr}")
            if isinstance(node, ast.ImportFrom) and node.module in (
                "dit360_desktop.core.engine",
                "dit360_desktop.core.loaded_model",
            ):
                offences += [
                    f"{path.relative_to(PACKAGE)}:{node.lineno} imports {alias.name}"
                    for alias in node.names
                    if _private(alias.name)
                ]
    assert offences == []


def test_the_scan_catches_an_offence(tmp_path):
    """The AST check above can fail: the pattern it looks for is found in a sample."""
    private = engine_private_names()
    sample = ast.parse("def f(engine):\n    return engine._plan, engine.model\n")
    found = [
        node.attr for node in ast.walk(sample) if isinstance(node, ast.Attribute) and node.attr in private
    ]
    assert found == ["_plan"]


def test_hooks_reach_every_part_of_the_loop(tiny_flux_dir):
    """What guided composition will use: a context around the loop, per-step state, the transformer's input
    (control latents, so it must see the CFG batch), attention kwargs, and the state after each step."""
    from dit360_desktop.core.sampler import DenoiseHook, DenoiseInputs
    from dit360_desktop.panorama.events import CancelToken

    engine = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False))
    model = engine.load(device="cpu", dtype="fp32")
    request = small(negative_prompt="blurry", true_cfg_scale=2.0, steps=3)
    geometry = model.geometry(request)
    cond, uncond = model.encode(request)
    tokens = model.padded_noise(request.seed, geometry, torch.float32)
    ids = model.padded_ids(geometry, torch.float32)
    schedule = model.schedule(request, geometry)
    seen: list = []

    class Probe(DenoiseHook):
        def attach(self, transformer):
            import contextlib

            @contextlib.contextmanager
            def held():
                seen.append("attach")
                yield
                seen.append("detach")

            return held()

        def before_step(self, step, state):
            seen.append(("before", step.index, step.total))

        def model_input(self, state):
            seen.append(("input", state.shape[0]))
            return state

        def attention_kwargs(self, step, negative):
            # "scale" is the LoRA scale FLUX's forward reads from these kwargs; 1.0 changes nothing.
            return {"scale": 1.0}

        def after_step(self, step, previous, velocity, stepped):
            seen.append(("after", step.index))
            # Whatever a hook returns is the state: pin the pad columns to the previous state's.
            return torch.where(torch.arange(stepped.shape[1])[None, :, None] == 0, previous, stepped)

    transformer = model.components.transformer
    forward = transformer.forward

    def recording(*args, **kwargs):
        seen.append(("kwargs", kwargs["joint_attention_kwargs"]))
        return forward(*args, **kwargs)

    transformer.forward = recording
    inputs = DenoiseInputs.for_request(tokens, ids, cond, uncond, request, geometry)
    model.start_run()
    out = model.denoise(inputs, schedule, lambda event: None, CancelToken(), geometry, hooks=[Probe()])
    assert seen[0] == "attach" and seen[-1] == "detach"
    assert [entry for entry in seen if entry[0] == "kwargs"] == [("kwargs", {"scale": 1.0})] * 3
    steps = [entry for entry in seen[1:-1] if entry[0] in ("before", "after")]
    assert steps == [
        ("before", 0, 3),
        ("after", 0),
        ("before", 1, 3),
        ("after", 1),
        ("before", 2, 3),
        ("after", 2),
    ]
    # True CFG runs as one batch of two: the hook sees (and must expand control latents to) that batch.
    assert [entry for entry in seen if entry[0] == "input"] == [("input", 2)] * 3
    assert torch.equal(out[:, 0], tokens[:, 0])
