"""Partial weight streaming: most blocks stay on the GPU, a chosen few live in pinned RAM.

diffusers' group offload is all or nothing: every transformer block visits the GPU each step, so a bf16
FLUX.1-dev streams 22 GiB per step. A 24 GB card only lacks a few GiB, so here only some blocks are
streamed, spread evenly through the network. When a streamed block starts, the next streamed block is
copied on a side CUDA stream; with resident blocks in between, the copy hides behind their compute.

Synchronisation stays on the GPU: the compute stream waits on an event recorded after the copy (no host
``synchronize``), and ``record_stream`` tells the caching allocator that the copied weights are in use on
the compute stream, so their memory is not handed to the next copy while a kernel still reads them.
On devices without CUDA streams (CPU, MPS) the copies run synchronously.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

# The handle's attribute on the streamed model: ``unstream`` and the compile check look for it.
ATTRIBUTE = "_dit360_block_stream"


@dataclass
class _Slot:
    block: nn.Module
    tensors: list[tuple[torch.Tensor, torch.Tensor]]  # (the parameter or buffer, its copy in RAM)
    ready: torch.cuda.Event | None = None
    on_device: bool = False


@dataclass
class BlockStream:
    """The streamed blocks of one model, in execution order, and the hooks that move them."""

    device: torch.device
    slots: list[_Slot]
    stream: torch.cuda.Stream | None
    handles: list = field(default_factory=list)

    @property
    def nbytes(self) -> int:
        return sum(cpu.numel() * cpu.element_size() for slot in self.slots for _, cpu in slot.tensors)

    def load(self, index: int) -> None:
        slot = self.slots[index]
        if slot.on_device:
            return
        if self.stream is None:
            for tensor, cpu in slot.tensors:
                tensor.data = cpu.to(self.device)
        else:
            with torch.cuda.stream(self.stream):
                for tensor, cpu in slot.tensors:
                    tensor.data = cpu.to(self.device, non_blocking=True)
                slot.ready = torch.cuda.Event()
                slot.ready.record(self.stream)
        slot.on_device = True

    def enter(self, index: int) -> None:
        self.load(index)
        slot = self.slots[index]
        if slot.ready is not None:
            compute = torch.cuda.current_stream(self.device)
            compute.wait_event(slot.ready)
            for tensor, _ in slot.tensors:
                tensor.data.record_stream(compute)
            slot.ready = None
        if index + 1 < len(self.slots):
            self.load(index + 1)

    def leave(self, index: int) -> None:
        slot = self.slots[index]
        for tensor, cpu in slot.tensors:
            tensor.data = cpu
        slot.on_device = False
        slot.ready = None

    def remove(self) -> None:
        """Drop the hooks; the streamed blocks stay (in RAM) where ``leave`` put them."""
        for handle in self.handles:
            handle.remove()
        self.handles.clear()
        for index in range(len(self.slots)):
            self.leave(index)


def stream_blocks(
    model: nn.Module, blocks: Sequence[nn.Module], device: torch.device, *, start: nn.Module | None = None
) -> BlockStream:
    """Keep ``blocks`` (in execution order) in RAM and move each to ``device`` just for its forward.

    Every other part of ``model`` is moved to ``device``. ``start`` (default ``model``) is the module
    whose forward prefetches the first streamed block.
    """
    streamed = {id(block) for block in blocks}
    _to_device_except(model, streamed, device)
    pin = device.type == "cuda"
    slots = []
    for block in blocks:
        tensors = []
        for tensor in [*block.parameters(), *block.buffers()]:
            cpu = tensor.data.to("cpu")
            tensor.data = cpu.pin_memory() if pin else cpu
            tensors.append((tensor, tensor.data))
        slots.append(_Slot(block, tensors))
    handle = BlockStream(device, slots, torch.cuda.Stream(device) if pin else None)
    for index, block in enumerate(blocks):
        handle.handles.append(block.register_forward_pre_hook(_hook(handle, "enter", index)))
        handle.handles.append(block.register_forward_hook(_hook(handle, "leave", index)))
    if blocks:
        handle.handles.append((start or model).register_forward_pre_hook(_hook(handle, "load", 0)))
    setattr(model, ATTRIBUTE, handle)
    return handle


def _hook(handle: BlockStream, action: str, index: int):
    def hook(*_) -> None:  # None: a forward hook's return value would replace the args or output
        getattr(handle, action)(index)

    return hook


def unstream(model: nn.Module) -> None:
    """Undo ``stream_blocks`` (all weights end up in RAM; move the model where it should go next)."""
    handle = getattr(model, ATTRIBUTE, None)
    if handle is not None:
        handle.remove()
        delattr(model, ATTRIBUTE)


def is_streamed(model: nn.Module) -> bool:
    return getattr(model, ATTRIBUTE, None) is not None


def module_bytes(module: nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def choose_streamed_blocks(groups: Sequence[Sequence[nn.Module]], resident_bytes: int, total_bytes: int):
    """Blocks to stream so that at most ``resident_bytes`` of a ``total_bytes`` model stay on the device.

    ``groups`` are the model's block lists in execution order, the preferred one last (FLUX: the double
    blocks, then the single blocks, which are smaller and so more evenly spread). Within a group the
    chosen blocks are spaced evenly, so resident blocks run between them while the next one is copied.
    """
    excess = total_bytes - resident_bytes
    chosen: list[nn.Module] = []
    for group in reversed(groups):
        if excess <= 0:
            break
        sizes = [module_bytes(block) for block in group]
        count = min(len(group), math.ceil(excess / max(1, max(sizes))))
        # Evenly spaced, starting half a gap in, so no two streamed blocks are neighbours unless needed.
        picked = sorted({min(len(group) - 1, int((k + 0.5) * len(group) / count)) for k in range(count)})
        chosen[:0] = [group[i] for i in picked]
        excess -= sum(sizes[i] for i in picked)
    if excess > 0:
        raise ValueError("the model does not fit in the resident budget even with every block streamed")
    return chosen


def _to_device_except(module: nn.Module, streamed: set[int], device: torch.device) -> None:
    if id(module) in streamed:
        return
    if not any(id(m) in streamed for m in module.modules()):
        module.to(device)
        return
    for child in module.children():
        _to_device_except(child, streamed, device)
    for tensor in [*module._parameters.values(), *module._buffers.values()]:
        if tensor is not None:
            tensor.data = tensor.data.to(device)
