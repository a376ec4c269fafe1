"""The LoRAs on the transformer: DiT360 as the base adapter plus any number of extra FLUX LoRAs.

Each LoRA is a PEFT adapter of its own (diffusers' multi-adapter support); ``set_adapters`` gives each
its scale, and PEFT adds every active adapter's ``scale · B·A`` to the layer's output, so a stack is the
sum of its deltas. Unfused, a new scale is a call away and only a changed file is loaded; fused
(``tiers.fuse_loras``), the whole stack is merged into the 16-bit weights at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dit360_desktop.core.loading import LoraInfo, load_lora

BASE_ADAPTER = "dit360"


@dataclass(frozen=True)
class LoraSlot:
    """One LoRA a request asks for: its adapter name, file or PEFT folder, and scale."""

    adapter: str
    path: Path
    scale: float
    base: bool  # the DiT360 LoRA (``lora_path``), not one of ``extra_loras``

    @property
    def identity(self) -> tuple[str, str]:
        return self.adapter, str(self.path.resolve())


@dataclass(frozen=True)
class AppliedLora:
    info: LoraInfo
    scale: float
    base: bool


def extra_adapter_name(path: Path) -> str:
    # From the resolved path, so the same file keeps its adapter when the list around it changes.
    # PEFT keeps adapters in ModuleDicts, whose keys may not contain dots: hex only.
    digest = hashlib.sha1(str(path.expanduser().resolve()).encode()).hexdigest()[:12]
    return f"extra_{digest}"


def lora_slots(
    lora_path: str | None, lora_scale: float, extra_loras: Iterable[tuple[str, float]]
) -> list[LoraSlot]:
    """The request's LoRAs in order: DiT360 (when set) first, then the extras."""
    slots = []
    if lora_path:
        slots.append(LoraSlot(BASE_ADAPTER, Path(lora_path).expanduser(), float(lora_scale), True))
    for path, scale in extra_loras:
        expanded = Path(path).expanduser()
        slots.append(LoraSlot(extra_adapter_name(expanded), expanded, float(scale), False))
    return slots


class LoraStack:
    """The unfused adapters on one transformer, and the scales last given to ``set_adapters``."""

    def __init__(self) -> None:
        self._loaded: dict[str, tuple[tuple[str, str], LoraInfo, bool]] = {}
        self._weights: tuple | None = None
        self._applied: list[AppliedLora] = []

    @property
    def applied(self) -> list[AppliedLora]:
        return list(self._applied)

    def forget(self) -> None:
        """The transformer was dropped or reloaded: nothing is attached any more."""
        self._loaded.clear()
        self._weights = None
        self._applied = []

    def apply(self, transformer, slots: list[LoraSlot]) -> bool:
        """Attach, drop and rescale adapters so that exactly ``slots`` are active.

        Returns whether the DiT360 LoRA was attached or dropped.
        """
        wanted = {slot.adapter: slot for slot in slots}
        base_changed = False
        for adapter, (identity, _, base) in list(self._loaded.items()):
            slot = wanted.get(adapter)
            if slot is None or slot.identity != identity:
                transformer.delete_adapters(adapter)
                del self._loaded[adapter]
                self._weights = None
                base_changed |= base
        for slot in slots:
            if slot.adapter not in self._loaded:
                # Loading may activate the new adapter alone; the scales are set again below.
                self._weights = None
                info = load_lora(transformer, slot.path, slot.adapter)
                self._loaded[slot.adapter] = (slot.identity, info, slot.base)
                base_changed |= slot.base
        weights = tuple((slot.adapter, slot.scale) for slot in slots)
        if slots and weights != self._weights:
            transformer.set_adapters([a for a, _ in weights], weights=[w for _, w in weights])
            self._weights = weights
        self._applied = [AppliedLora(self._loaded[s.adapter][1], s.scale, s.base) for s in slots]
        return base_changed
