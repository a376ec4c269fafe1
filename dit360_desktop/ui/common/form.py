"""The draft request: one observable object the generation panels bind to.

Like krita-ai-diffusion's document model, the request is built from this model (``to_request``), never
read back out of widgets, and a stored request goes back in through ``load``/``recall``. The form knows
every ``GenerationRequest`` field from ``dataclasses.fields``, so a field added to the request is carried
(round trip, settings, re-use) without changes here. No Qt: it is tested without widgets.

Two values are the form's own: ``prepend_prefix`` (the panorama sentence is put before the prompt when the
request is built, so ``prompt`` holds what the user typed) and ``seed_locked`` (keep the seed for the next
runs instead of drawing a new one).
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.request import MAX_SEED, PANORAMA_PREFIX, GenerationRequest
from dit360_desktop.settings import Settings

REQUEST_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(GenerationRequest))
FORM_FIELDS: tuple[str, ...] = ("prepend_prefix", "seed_locked")
# Fields that describe this computer or this session rather than the picture (files, devices, the LoRA
# the settings point at): stored parameters (a PNG's metadata, a history entry) and the settings file do
# not set them. A new field is recalled unless it is listed here.
LOCAL_FIELDS = frozenset(
    {"init_image", "fit", "mask_image", "lora_path", "device", "dtype", "rewrap_each_step"}
)

Listener = Callable[[Any], None]

_TYPE_NAMES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "None": (type(None),),
}


def _accepts(annotation: str, value: Any) -> bool:
    """Whether ``value`` fits a field annotation written as text (``from __future__ import annotations``)."""
    kinds: tuple[type, ...] = ()
    for name in annotation.replace(" ", "").split("|"):
        if name not in _TYPE_NAMES:
            return True  # a type this check does not know: validate() has the last word
        kinds += _TYPE_NAMES[name]
    # bool is an int to Python; a stored true must not become a step count of 1.
    if isinstance(value, bool) and bool not in kinds:
        return False
    return isinstance(value, kinds)


_ANNOTATIONS = {f.name: str(f.type) for f in dataclasses.fields(GenerationRequest)}


def _field_defaults() -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(GenerationRequest):
        if f.default is not dataclasses.MISSING:
            values[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            values[f.name] = f.default_factory()
        else:
            values[f.name] = ""  # the prompt: required by the request, empty in a fresh form
    return values


def split_prefix(prompt: str) -> tuple[bool, str]:
    """(had the panorama sentence, the rest) for a prompt as the engine received it."""
    if prompt.startswith(PANORAMA_PREFIX + " "):
        return True, prompt[len(PANORAMA_PREFIX) + 1 :]
    return False, prompt


def join_prefix(prepend: bool, text: str) -> str:
    if not prepend or not text or text.startswith(PANORAMA_PREFIX):
        return text
    return f"{PANORAMA_PREFIX} {text}"


class GenerationForm:
    """Every request field plus ``prepend_prefix`` and ``seed_locked``; listeners hear each change."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {**_field_defaults(), "prepend_prefix": True, "seed_locked": False}
        self._listeners: dict[str, list[Listener]] = {}
        self._any: list[Callable[[str, Any], None]] = []

    # ---- values and change notification ----------------------------------------------------------

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def set(self, name: str, value: Any) -> None:
        if name not in self._values:
            raise KeyError(f"{name} is not a field of the generation form")
        if self._values[name] == value and type(self._values[name]) is type(value):
            return
        self._values[name] = value
        self._notify(name)

    def _notify(self, name: str) -> None:
        value = self._values[name]
        for listener in list(self._listeners.get(name, ())):
            listener(value)
        for listener in list(self._any):
            listener(name, value)

    def update(self, values: Mapping[str, Any]) -> None:
        """Change several fields, then notify: listeners never see a half-applied change (a new width
        with the old height)."""
        changed = []
        for name, value in values.items():
            if name not in self._values:
                raise KeyError(f"{name} is not a field of the generation form")
            old = self._values[name]
            if old != value or type(old) is not type(value):
                self._values[name] = value
                changed.append(name)
        for name in changed:
            self._notify(name)

    def subscribe(self, name: str, listener: Listener, *, now: bool = True) -> None:
        """Call ``listener(value)`` on every change of ``name`` (and once now, to show the current value)."""
        if name not in self._values:
            raise KeyError(f"{name} is not a field of the generation form")
        self._listeners.setdefault(name, []).append(listener)
        if now:
            listener(self._values[name])

    def on_change(self, listener: Callable[[str, Any], None]) -> None:
        self._any.append(listener)

    # ---- requests in and out ---------------------------------------------------------------------

    def to_request(self) -> GenerationRequest:
        """The request the form describes, as it stands (not validated; ``validate()`` names bad fields)."""
        values = {name: self._values[name] for name in REQUEST_FIELDS}
        values["prompt"] = join_prefix(self._values["prepend_prefix"], values["prompt"])
        return GenerationRequest(**values)

    def request_for_run(self) -> GenerationRequest:
        """``to_request`` with the seed the run uses: the locked one, or a new one the form then shows."""
        if not self._values["seed_locked"] or self._values["seed"] is None:
            self.set("seed", secrets.randbelow(MAX_SEED + 1))
        return self.to_request()

    def load(self, request: GenerationRequest) -> None:
        """Show ``request`` exactly: every field, the panorama sentence turned back into the option."""
        values = {name: getattr(request, name) for name in REQUEST_FIELDS}
        values["prepend_prefix"], values["prompt"] = split_prefix(request.prompt)
        self.update(values)

    def recall(self, fields: Mapping[str, Any]) -> list[str]:
        """Take stored parameters (a PNG's metadata, a history entry): known, well-typed, non-local fields.

        A recalled seed is locked, so the next run repeats it. Returns the request fields that were taken.
        """
        values = _acceptable(fields)
        taken = list(values)
        if "prompt" in values:
            values["prepend_prefix"], values["prompt"] = split_prefix(values["prompt"])
        if values.get("seed") is not None:
            values["seed_locked"] = True
        self.update(values)
        return taken

    # ---- the settings file -------------------------------------------------------------------------

    def save_settings(self, settings: Settings) -> None:
        """Into ``settings``: the prompt as typed and every field but the local ones, the two options."""
        settings.last_parameters = {n: self._values[n] for n in REQUEST_FIELDS if n not in LOCAL_FIELDS}
        settings.prepend_panorama_prefix = self._values["prepend_prefix"]
        settings.seed_locked = self._values["seed_locked"]

    def restore_settings(self, settings: Settings) -> None:
        """The form as the last session left it; the seed only when it was locked, else a new one."""
        values = _acceptable(settings.last_parameters)
        if not (settings.seed_locked and isinstance(values.get("seed"), int)):
            values["seed"] = secrets.randbelow(MAX_SEED + 1)
        values["lora_path"] = settings.lora_path  # chosen in the settings, never stored with a picture
        values["prepend_prefix"] = settings.prepend_panorama_prefix
        values["seed_locked"] = settings.seed_locked
        self.update(values)


def _acceptable(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The known, non-local request fields of ``fields`` whose values have the field's type."""
    values: dict[str, Any] = {}
    for name, value in fields.items():
        annotation = _ANNOTATIONS.get(name)
        if annotation is None or name in LOCAL_FIELDS or not _accepts(annotation, value):
            continue
        value = float(value) if annotation == "float" else value
        if _valid(name, value):
            # The request's own normalisation: JSON lists of pairs become the field's tuples again.
            values[name] = getattr(dataclasses.replace(_PROBE, **{name: value}), name)
    return values


_PROBE = GenerationRequest("probe")


def _valid(name: str, value: Any) -> bool:
    """Whether ``GenerationRequest.validate`` (the one place that knows the ranges) accepts ``value``."""
    try:
        dataclasses.replace(_PROBE, **{name: value}).validate()
    except RequestError as e:
        return e.field != name
    return True
