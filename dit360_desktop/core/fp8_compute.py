"""fp8 compute: the transformer's matmuls in float8 on Hopper (H100/H200) and newer GPUs.

torchao's ``Float8DynamicActivationFloat8WeightConfig`` with rowwise (``PerRow``) scales replaces each
Linear weight of the transformer blocks with a float8_e4m3 tensor and one scale per output row, and
quantises the activations per row on the fly; the matmul runs on the fp8 tensor cores (``torch._scaled_mm``),
at twice the dense bf16 throughput. The LoRAs are merged into the 16-bit weights first
(``TierPlan.fuses_lora``): a rank-64 delta added to fp8 weights would mostly round away.

Unlike fp8 *storage* (``tiers``: weights kept in fp8, upcast to bf16 for each layer), this changes the
arithmetic, so the result differs from bf16 by more than rounding of the weights; see
docs/performance-tiers.md for the measured deviation. Refused where it cannot run: torchao's rowwise
float8 kernels need CUDA compute capability 8.9 (Ada) or more, and this option is offered for 9.0
(Hopper) and newer, where it was planned and measured.
"""

from __future__ import annotations

import logging

import torch

from dit360_desktop.panorama.errors import UnsupportedBackendError

log = logging.getLogger(__name__)

MIN_CAPABILITY = (9, 0)


def fp8_compute_refusal(device: torch.device) -> str | None:
    """Why fp8 compute cannot run on ``device``, or None when it can."""
    if device.type != "cuda":
        return (
            "--fp8-compute needs an NVIDIA Hopper GPU (H100/H200, compute capability 9.0) or newer; "
            f"this run uses {device.type}."
        )
    capability = torch.cuda.get_device_capability(device)
    if capability < MIN_CAPABILITY:
        name = torch.cuda.get_device_name(device)
        return (
            f"--fp8-compute needs compute capability 9.0 (Hopper) or newer; {name} has "
            f"{capability[0]}.{capability[1]}. Use the fp8 storage tiers (24gb-fp8, 12gb) instead."
        )
    return None


def check_fp8_compute(device: torch.device) -> None:
    """Raise ``UnsupportedBackendError`` when fp8 compute cannot run on ``device`` or torchao is missing."""
    reason = fp8_compute_refusal(device)
    if reason is not None:
        raise UnsupportedBackendError(reason)
    try:
        import torchao  # noqa: F401
    except ImportError as e:
        raise UnsupportedBackendError(
            "--fp8-compute needs torchao: install it with `pip install 'dit360-desktop[fp8]'`."
        ) from e


def _quantisable(module: torch.nn.Module, _name: str = "") -> bool:
    # torch._scaled_mm wants both matrix sides to be multiples of 16.
    return (
        isinstance(module, torch.nn.Linear) and module.in_features % 16 == 0 and module.out_features % 16 == 0
    )


def quantise_transformer(transformer: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move the transformer to ``device`` with its blocks' Linear layers in fp8 (rowwise scales).

    Block by block: only one block's 16-bit weights visit the GPU at a time, so the 23.8 GB bf16
    transformer is never whole on a 24 GB card. Embedders, the final norm and projection stay 16-bit.
    """
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, quantize_

    config = Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
    blocks = [*transformer.transformer_blocks, *transformer.single_transformer_blocks]
    for block in blocks:
        block.to(device)
        quantize_(block, config, filter_fn=_quantisable)
    log.info("fp8 compute: quantised the Linear layers of %d blocks (rowwise float8)", len(blocks))
    return transformer.to(device)
