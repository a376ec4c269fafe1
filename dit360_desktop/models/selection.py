"""Which model and LoRA a run uses: the one rule shared by the app, the CLI and the self-test.

The engine only takes explicit paths; deciding what is installed (the model manager's registry, then the
user's Hugging Face cache) happens here, one layer above it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dit360_desktop.models.registry import installed_model_paths, unusable_reason
from dit360_desktop.panorama.errors import ModelInvalidError, ModelMissingError

log = logging.getLogger(__name__)

NO_LORA = "none"


def resolve_base_model(explicit: str | Path | None) -> Path:
    """The folder given, else the installed or HF-cached FLUX.1-dev; ModelMissingError when there is none."""
    if explicit is not None:
        folder = Path(explicit).expanduser()
        if not folder.exists():
            raise ModelMissingError(f"The model folder {folder} does not exist.")
        return folder
    installed = installed_model_paths()
    if installed is None or installed.base is None:
        reason = unusable_reason("base")
        if reason is not None:
            raise ModelInvalidError(f"FLUX.1-dev is registered but cannot be used: {reason}.")
        raise ModelMissingError("FLUX.1-dev is not installed.")
    return installed.base


def default_lora_path() -> Path | None:
    installed = installed_model_paths()
    return installed.lora if installed is not None else None


def resolve_lora(value: str | Path | None) -> str | None:
    """The LoRA a request runs with: the one given, none for "none", else the installed DiT360 LoRA.

    Without any installed LoRA the base model runs alone (a warning, not an error): FLUX.1-dev still
    makes pictures, and the user may be testing the base model on purpose.
    """
    if value is not None:
        text = str(value)
        return None if text.lower() == NO_LORA else str(Path(text).expanduser())
    found = default_lora_path()
    if found is None:
        log.warning("No DiT360 LoRA is installed; generating with the base FLUX.1-dev model only.")
    return str(found) if found is not None else None
