"""fp8 compute (torchao float8 rowwise): refused where it cannot run, and where it fits in the tier plans.

The quantised matmuls need an fp8-capable GPU; ``tests/benchmarks/gpu_tiers.py`` runs them there.
"""

from __future__ import annotations

import sys

import pytest
import torch

from dit360_desktop.core import fp8_compute
from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.core.tiers import plan_tier
from dit360_desktop.panorama.errors import UnsupportedBackendError
from dit360_desktop.panorama.options import EngineOptions
from dit360_desktop.panorama.request import GenerationRequest

CUDA = torch.device("cuda")


def test_the_engine_refuses_fp8_compute_on_the_cpu_before_loading(tiny_flux_dir):
    engine = PanoramaEngine(tiny_flux_dir, EngineOptions(previews=False, fp8_compute=True))
    request = GenerationRequest("a lake", width=128, height=64, steps=1, device="cpu")
    with pytest.raises(UnsupportedBackendError, match=r"Hopper.*this run uses cpu"):
        engine.run(request)
    assert not engine.is_loaded


def test_a_gpu_older_than_hopper_is_refused_naming_its_compute_capability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 6))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA GeForce RTX 3090")
    with pytest.raises(UnsupportedBackendError) as caught:
        fp8_compute.check_fp8_compute(CUDA)
    assert "RTX 3090 has 8.6" in str(caught.value) and "9.0" in str(caught.value)
    assert caught.value.exit_code == 2


def test_without_torchao_the_refusal_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    monkeypatch.setitem(sys.modules, "torchao", None)  # import torchao raises ImportError
    with pytest.raises(UnsupportedBackendError, match=r"dit360-desktop\[fp8\]"):
        fp8_compute.check_fp8_compute(CUDA)


GIB = 1 << 30


@pytest.mark.parametrize(
    ("tier", "transformer", "offload"),
    [
        ("full", "fp8-compute", None),
        ("24gb", "fp8-compute", None),  # fp8 weights fit whole: nothing streamed
        ("24gb-fp8", "fp8-compute", None),  # replaces fp8 storage
        ("12gb", "fp8", "block_level"),  # offloaded tiers keep fp8 storage, with a note
        ("8gb", "fp8", "leaf_level"),
    ],
)
def test_fp8_compute_in_the_tier_plans(tier, transformer, offload):
    plan = plan_tier(tier, CUDA, dtype="bf16", fp8_compute=True, memory=(80 * GIB, 80 * GIB))
    assert (plan.transformer, plan.offload) == (transformer, offload)
    assert plan.fuses_lora, "the LoRAs are merged into 16-bit weights before quantising"
    if transformer != "fp8-compute":
        assert any("fp8 compute is not used in the" in note for note in plan.notes)
    assert plan.describe()["transformer"] == transformer


def test_a_gguf_transformer_keeps_its_own_quantisation(tmp_path):
    plan = plan_tier("full", CUDA, dtype="bf16", fp8_compute=True, gguf_file=tmp_path / "q8.gguf")
    assert plan.transformer == "gguf" and not plan.fuses_lora
    assert any("GGUF" in note for note in plan.notes)


def test_linear_layers_whose_sides_are_not_multiples_of_16_stay_16_bit():
    assert fp8_compute._quantisable(torch.nn.Linear(64, 3072))
    assert not fp8_compute._quantisable(torch.nn.Linear(64, 24))
    assert not fp8_compute._quantisable(torch.nn.LayerNorm(64))


def test_blocks_are_quantised_rowwise_and_the_rest_stays_16_bit(tiny_flux_dir, monkeypatch):
    """Runs where torchao is installed (the ``fp8`` extra); on a CPU its hardware refusal is lifted."""
    pytest.importorskip("torchao")
    import torchao.float8.inference as float8_inference
    import torchao.quantization.quant_api as quant_api

    from dit360_desktop.core.loading import load_transformer

    device = CUDA if torch.cuda.is_available() else torch.device("cpu")
    if device.type == "cpu":
        monkeypatch.setattr(quant_api, "_check_hardware_support", lambda *a, **k: None)
        monkeypatch.setattr(float8_inference, "_check_hardware_support", lambda *a, **k: None)
    transformer = load_transformer(tiny_flux_dir, torch.bfloat16)
    fp8_compute.quantise_transformer(transformer, device)
    q = transformer.transformer_blocks[0].attn.to_q.weight
    assert type(q).__name__ == "Float8Tensor" and q.qdata.dtype == torch.float8_e4m3fn
    assert q.scale.numel() == q.shape[0], "one scale per output row"
    assert (
        type(transformer.proj_out.weight) is torch.nn.Parameter
        and transformer.proj_out.weight.dtype == torch.bfloat16
    )
    assert type(transformer.x_embedder.weight) is torch.nn.Parameter
