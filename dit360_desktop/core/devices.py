"""Device and dtype choice, and how much memory the engine holds."""

from __future__ import annotations

import gc
import os

import torch

from dit360_desktop.panorama.errors import RequestError

_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RequestError("device", "CUDA was requested but no CUDA GPU is available; choose auto or cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise RequestError("device", "MPS was requested but this Mac has no MPS device; choose auto or cpu")
    return torch.device(name)


def resolve_dtype(name: str, device: torch.device) -> torch.dtype:
    if name != "auto":
        return _DTYPES[name]
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.bfloat16
    return torch.float32


def memory_in_use(device: torch.device) -> int:
    """Bytes held on the device (GPU) or by this process (CPU)."""
    if device.type == "cuda":
        return int(torch.cuda.memory_allocated(device))
    if device.type == "mps":
        return int(torch.mps.current_allocated_memory())
    import psutil

    return int(psutil.Process(os.getpid()).memory_info().rss)


def free_memory(device: torch.device) -> None:
    """Give the allocator's cached blocks back after the engine dropped tensors (a failed run, an unload)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()
