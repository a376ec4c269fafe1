"""The FLUX.1 diffusers folder: its components, and the library class that loads each weight component.

Written once for the engine's loader (``core/loading.py``) and the import-time shape check
(``models/shape_check.py``). The classes are named, not imported: this layer stays free of torch, and each
user imports the library itself (``getattr(importlib.import_module(library), name)``).
"""

from __future__ import annotations

FLUX_COMPONENTS = (
    "scheduler",
    "tokenizer",
    "tokenizer_2",
    "text_encoder",
    "text_encoder_2",
    "transformer",
    "vae",
)

# Weight component -> (library, class), in the order the loader loads them (the text encoders first, so
# their memory is placed before the transformer's).
FLUX_WEIGHT_CLASSES: dict[str, tuple[str, str]] = {
    "text_encoder": ("transformers", "CLIPTextModel"),
    "text_encoder_2": ("transformers", "T5EncoderModel"),
    "transformer": ("diffusers", "FluxTransformer2DModel"),
    "vae": ("diffusers", "AutoencoderKL"),
}

# The FLUX.1-Redux-dev folder's sub-folders (``core/guides/redux.py``, ``models/redux.py``): the Redux
# image embedder, and the SigLIP vision encoder with its image processor.
REDUX_PARTS = ("image_embedder", "image_encoder", "feature_extractor")
# The Redux parts that hold weights, with the class that loads each (as FluxPriorReduxPipeline does).
REDUX_WEIGHT_CLASSES: dict[str, tuple[str, str]] = {
    "image_encoder": ("transformers", "SiglipVisionModel"),
    "image_embedder": ("diffusers", "ReduxImageEncoder"),
}
REDUX_PIPELINE_CLASS = "FluxPriorReduxPipeline"
