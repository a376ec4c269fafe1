"""Structure control in every memory tier that runs on the CPU (core/guides/control.py, core/tiers.py).

The tiers that keep LoRAs separate (cpu, full) load the Control LoRA as a PEFT adapter; the others (fp8
storage, block and leaf offload, partial streaming, ``--fuse-lora``) merge it into the 16-bit weights
with the stack's LoRAs before they are cast or placed. Each tier's controlled result is compared with
the unfused fp32 one, within the bounds its storage costs without control (tests/core/test_tiers.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.options import EngineOptions
from dit360_desktop.panorama.request import GenerationRequest

WIDTH, HEIGHT = 128, 64


@pytest.fixture(scope="module")
def control_lora(tiny_flux_dir, tmp_path_factory):
    from dit360_desktop.testing.tiny_control import build_tiny_control_lora

    return build_tiny_control_lora(
        tmp_path_factory.mktemp("control") / "control.safetensors", tiny_flux_dir / "transformer"
    )


@pytest.fixture(scope="module")
def control_png(tmp_path_factory):
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[..., 0] = np.linspace(0, 255, WIDTH)[None, :]
    pixels[16:40, 20:70] = (200, 30, 90)
    path = tmp_path_factory.mktemp("control-image") / "depth.png"
    Image.fromarray(pixels).save(path)
    return path


def small(**changes) -> GenerationRequest:
    fields = dict(
        prompt="a castle on a hill", width=WIDTH, height=HEIGHT, steps=2, seed=11, device="cpu",
        dtype="fp32",
    )  # fmt: skip
    fields.update(changes)
    return GenerationRequest(**fields)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).norm() / b.float().norm()).item()


@pytest.fixture(scope="module")
def reference(tiny_flux_dir, tiny_lora_dir, control_lora, control_png):
    """(plain, controlled) in the cpu tier, the DiT360 LoRA and the Control LoRA unfused."""
    engine = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False))
    base = small(lora_path=str(tiny_lora_dir), tier="cpu")
    plain = engine.run(base).latent
    controlled = engine.run(base.replace(control_image=str(control_png), control_lora=str(control_lora)))
    return plain, controlled.latent


# (tier, --fuse-lora): latent bound against the unfused fp32 control. fp8 storage costs ~1.3 % on this
# model without control (test_tiers.py asserts 4 %); merged fp32 weights differ by rounding only.
TIERS = {
    ("full", False): 1e-5,
    ("cpu", True): 1e-5,
    ("24gb", False): 1e-5,
    ("24gb-fp8", False): 0.04,
    ("12gb", False): 0.04,
    ("8gb", False): 0.04,
}


@pytest.mark.parametrize(("tier", "fuse"), list(TIERS), ids=[f"{t}{'-fused' if f else ''}" for t, f in TIERS])
def test_control_runs_in_every_tier(
    tiny_flux_dir, tiny_lora_dir, control_lora, control_png, reference, tier, fuse
):
    plain, expected = reference
    engine = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False, fuse_lora=fuse))
    request = small(
        lora_path=str(tiny_lora_dir),
        tier=tier,
        control_image=str(control_png),
        control_lora=str(control_lora),
    )
    result = engine.run(request)
    assert result.metadata["memory_tier"]["tier"] == tier
    assert relative_error(result.latent, expected) < TIERS[(tier, fuse)]
    # The control acts (it moves the result far more than the tier's own rounding).
    assert relative_error(result.latent, plain) > 10 * relative_error(result.latent, expected)
    transformer = engine.model.components.transformer
    if engine.tier.fuses_lora:
        # Merged: x_embedder widened, no PEFT layer left.
        assert not any("lora" in name for name, _ in transformer.named_modules())
    assert transformer.config.in_channels == 128


def test_a_merged_control_changes_with_its_scale_and_goes_away(
    tiny_flux_dir, tiny_lora_dir, control_lora, control_png, reference
):
    plain, expected = reference
    engine = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False))
    base = small(lora_path=str(tiny_lora_dir), tier="24gb-fp8")
    controlled = base.replace(control_image=str(control_png), control_lora=str(control_lora))
    full = engine.run(controlled).latent
    assert relative_error(full, expected) < 0.04
    half = engine.run(controlled.replace(control_scale=0.5)).latent
    assert relative_error(half, full) > 1e-3
    # Dropping the control reloads fresh weights: the plain fp8 result, x_embedder back to its width.
    without = engine.run(base).latent
    assert engine.model.components.transformer.config.in_channels == 64
    assert relative_error(without, plain) < 0.04


def test_a_step_range_in_a_merging_tier_is_refused_with_the_reason(
    tiny_flux_dir, tiny_lora_dir, control_lora, control_png
):
    engine = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False))
    request = small(
        lora_path=str(tiny_lora_dir), tier="12gb", control_image=str(control_png),
        control_lora=str(control_lora), control_end=0.6,
    )  # fmt: skip
    with pytest.raises(RequestError, match="acts on every step") as raised:
        engine.run(request)
    assert raised.value.field == "control_end"
