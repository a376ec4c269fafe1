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
from dit360_desktop.panorama.errors import UnsupportedBackendError
from dit360_desktop.panorama.request import ATTENTION_CHOICES

log = logging.getLogger(__name__)


def runnable_attention_backends(device: torch.device, dtype: torch.dtype) -> list[str]:
    """The explicit attention choices this machine can run for ``device`` and ``dtype``."""
    runnable = ["native"]
    # cuDNN and the FlashAttention kernels are CUDA-only and take fp16/bf16 only.
    if device.type != "cuda" or dtype not in (torch.float16, torch.bfloat16):
        return runnable
    if torch.backends.cudnn.is_available():
        runnable.append("_native_cudnn")
    if importlib.util.find_spec("flash_attn") is not None:
        runnable.append("flash")
    major, _ = torch.cuda.get_device_capability(device)
    if major == 9 and importlib.util.find_spec("flash_attn_interface") is not None:
        runnable.append("_flash_3")
    return runnable


def check_attention_backend(name: str, device: torch.device, dtype: torch.dtype) -> None:
    """Raise UnsupportedBackendError, listing what would run, when ``name`` cannot run here."""
    if name == "auto":
        return
    if name not in ATTENTION_CHOICES:
        raise UnsupportedBackendError(
            f"--attention {name!r} is not an attention kernel; choose one of {', '.join(ATTENTION_CHOICES)}."
        )
    runnable = runnable_attention_backends(device, dtype)
    if name not in runnable:
        why = {
            "_native_cudnn": "needs a CUDA GPU with cuDNN and fp16/bf16",
            "flash": "needs a CUDA GPU, fp16/bf16 and the flash-attn package",
            "_flash_3": "needs a Hopper GPU (H100/H200), fp16/bf16 and FlashAttention-3",
        }.get(name, "is not available")
        dtype_name = str(dtype).removeprefix("torch.")
        raise UnsupportedBackendError(
            f"--attention {name} {why}; this machine runs {device.type} with {dtype_name}. "
            f"It can run: auto, {', '.join(runnable)}."
        )


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
    graph_breaks: bool = False,
) -> list[str]:
    """Set the attention backend and optionally compile; returns notes for the user.

    ``graph_breaks``: hooks will be added later that dynamo cannot trace whole (the step cache's).
    """
    notes: list[str] = []
    if attention_backend not in ATTENTION_CHOICES:
        raise ValueError(f"attention_backend must be one of {ATTENTION_CHOICES}, not {attention_backend!r}")
    check_attention_backend(attention_backend, device, dtype)
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
            hooked = graph_breaks or any(
                hasattr(module, "_diffusers_hook") for module in transformer.modules()
            )
            transformer.compile_repeated_blocks(fullgraph=not hooked, dynamic=False)
            log.info("Compiling the repeated transformer blocks (fullgraph=%s)", not hooked)
    return notes
