"""DiT360 Desktop: seamless 360° panoramas from FLUX.1-dev with the DiT360 LoRA."""

__version__ = "0.1.0"
