"""Step caching, the opt-in "fast draft": diffusers' own cache hooks skip part of the transformer's work
on steps where its output changes little, so a panorama takes fewer full passes and is no longer exact.

- ``fbc``: First-Block Cache (ParaAttention's dynamic caching). Every step runs the first block; when its
  residual moved less than ``threshold`` (relative mean absolute change) since the last full pass, the
  other blocks are skipped and their cached residual is added instead.
- ``taylorseer``: TaylorSeer (arXiv 2503.06923), diffusers' "lite" variant. After
  ``disable_cache_before_step`` full steps, only every ``cache_interval``-th step runs the blocks; the
  others skip them and extrapolate the final projection's output with a first-order Taylor series from
  the last full passes. (The default variant, which extrapolates each attention layer and still runs the
  feed-forward layers, was slower than no cache on the CPU test model.)
- ``magcache``: MagCache. Skips blocks while the error accumulated from the model's magnitude ratios
  (diffusers' ``FLUX_MAG_RATIOS``, calibrated on FLUX.1 for 28 steps, interpolated to the step count)
  stays under ``threshold``; the first 20 % of the steps always run.

The hooks keep per-call state, so every transformer call runs inside ``transformer.cache_context(name)``
(``sampler.Denoiser`` does that) and the state is reset before each run.
"""

from __future__ import annotations

import logging

import torch

from dit360_desktop.panorama.request import STEP_CACHE_CHOICES

log = logging.getLogger(__name__)

# The settings each method runs with; the defaults are diffusers' own except TaylorSeer's factor dtype.
FBC_THRESHOLD = 0.05
TAYLORSEER_INTERVAL = 5
TAYLORSEER_WARMUP = 3
MAGCACHE_THRESHOLD = 0.06

LABELS = {
    "fbc": f"First-Block Cache (threshold {FBC_THRESHOLD})",
    "taylorseer": f"TaylorSeer (full pass every {TAYLORSEER_INTERVAL} steps after {TAYLORSEER_WARMUP})",
    "magcache": f"MagCache (FLUX ratios, threshold {MAGCACHE_THRESHOLD})",
}
_KEY_ATTRIBUTE = "_dit360_step_cache"


def cache_config(method: str, steps: int, dtype: torch.dtype):
    """The diffusers cache config for ``method`` at ``steps`` transformer passes."""
    if method == "fbc":
        from diffusers.hooks import FirstBlockCacheConfig

        return FirstBlockCacheConfig(threshold=FBC_THRESHOLD)
    if method == "taylorseer":
        from diffusers.hooks import TaylorSeerCacheConfig

        # The Taylor factors in the compute dtype: bf16 factors (the default) would round an fp32 run.
        return TaylorSeerCacheConfig(
            cache_interval=TAYLORSEER_INTERVAL,
            disable_cache_before_step=TAYLORSEER_WARMUP,
            max_order=1,
            taylor_factors_dtype=dtype,
            use_lite_mode=True,
        )
    if method == "magcache":
        from diffusers.hooks import MagCacheConfig
        from diffusers.hooks.mag_cache import FLUX_MAG_RATIOS

        return MagCacheConfig(
            threshold=MAGCACHE_THRESHOLD, mag_ratios=FLUX_MAG_RATIOS, num_inference_steps=steps
        )
    raise ValueError(f"step cache must be one of {', '.join(STEP_CACHE_CHOICES)}, not {method!r}")


def configure_step_cache(transformer, method: str, steps: int, dtype: torch.dtype) -> str | None:
    """Enable ``method`` ("off": none) on the transformer for a run of ``steps`` passes, with fresh state.

    Returns the note a result carries when the cache is on (the panorama is not exact), else None.
    """
    if method not in STEP_CACHE_CHOICES:
        raise ValueError(f"step cache must be one of {', '.join(STEP_CACHE_CHOICES)}, not {method!r}")
    config = None if method == "off" else cache_config(method, steps, dtype)
    wanted = None if config is None else repr(config)  # every setting, MagCache's step count included
    current = getattr(transformer, _KEY_ATTRIBUTE, None) if transformer.is_cache_enabled else None
    if current != wanted:
        if transformer.is_cache_enabled:
            transformer.disable_cache()
        if config is not None:
            transformer.enable_cache(config)
            log.info("Step cache: %s", LABELS[method])
        setattr(transformer, _KEY_ATTRIBUTE, wanted)
    if wanted is None:
        return None
    # As diffusers' pipelines do after each run: no state of the previous panorama carries over.
    transformer._reset_stateful_cache()
    return f"Fast draft: {LABELS[method]} skips part of the transformer's work; the panorama is not exact."
