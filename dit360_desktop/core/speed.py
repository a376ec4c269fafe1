"""Speed options: ``torch.compile`` of the repeated transformer blocks and the attention backend.

FLUX.1-dev repeats two block types (19 double-stream, 38 single-stream). diffusers'
``compile_repeated_blocks`` compiles each block class once and reuses the graph for every instance, so
compiling costs seconds instead of minutes ("regional compilation"). The attention backend is left to
PyTorch's SDPA (which picks FlashAttention-2/cuDNN/memory-efficient kernels itself) unless a faster
dedicated kernel is installed: FlashAttention-3 on Hopper, else FlashAttention-2.
"""

from __future__ import annotations

import importlib.util
import logging

import torch

from dit360_desktop.core.streaming import is_streamed
from dit360_desktop.panorama.request import ATTENTION_CHOICES

log = logging.getLogger(__name__)


def best_attention_backend(device: torch.device, dtype: torch.dtype = torch.bfloat16) -> str:
    """The fastest exact attention backend available for ``device`` ("native" = PyTorch SDPA)."""
    # The FlashAttention kernels take fp16/bf16 only.
    if device.type != "cuda" or dtype not in (torch.float16, torch.bfloat16):
        return "native"
    major, _ = torch.cuda.get_device_capability(device)
    if major == 9 and importlib.util.find_spec("flash_attn_interface") is not None:
        return "_flash_3"
    if importlib.util.find_spec("flash_attn") is not None:
        return "flash"
    return "native"


def apply_speed_options(
    transformer,
    device: torch.device,
    *,
    dtype: torch.dtype = torch.bfloat16,
    compile: bool = False,
    attention_backend: str = "auto",
) -> list[str]:
    """Set the attention backend and optionally compile; returns notes for the user."""
    notes: list[str] = []
    if attention_backend not in ATTENTION_CHOICES:
        raise ValueError(f"attention_backend must be one of {ATTENTION_CHOICES}, not {attention_backend!r}")
    backend = best_attention_backend(device, dtype) if attention_backend == "auto" else attention_backend
    if backend != "native":
        transformer.set_attention_backend(backend)
        log.info("Attention backend: %s", backend)
    if compile:
        if device.type == "mps":
            notes.append("torch.compile is not used on MPS; the transformer runs eagerly.")
        elif is_streamed(transformer):
            # Its hooks swap weights and wait on CUDA events inside the blocks' calls, which dynamo
            # would have to trace; the streaming tier runs eagerly.
            notes.append("torch.compile is not used with streamed blocks (24gb tier); it runs eagerly.")
        else:
            # Offload and casting hooks move weights between calls: let dynamo break the graph there.
            hooked = any(hasattr(module, "_diffusers_hook") for module in transformer.modules())
            transformer.compile_repeated_blocks(fullgraph=not hooked, dynamic=False)
            log.info("Compiling the repeated transformer blocks (fullgraph=%s)", not hooked)
    return notes
