"""fp8 compute against bf16 on the CPU test model: deviation only, same seed (needs torchao installed).

    PYTHONPATH=/path/to/torchao python tests/benchmarks/fp8_compute_cpu.py --steps 28 --json /tmp/fp8.json

The engine refuses fp8 compute off Hopper, and torchao refuses it below CUDA capability 8.9; this script
lifts both refusals for the run, so the same quantisation (float8_e4m3 weights with rowwise scales,
activations quantised per row) runs through PyTorch's CPU ``_scaled_mm``. The rounding is the GPU's, so
the deviation is representative of the arithmetic; the timing is not, and is not reported. The "small"
random FLUX (``testing/tiny_flux.SMALL``) at 256×128 in bf16: random weights, so the figures measure the
arithmetic, not picture quality.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from unittest import mock

import numpy as np


def psnr_db(a: np.ndarray, b: np.ndarray) -> float | None:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return None if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=28)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    import torchao
    import torchao.float8.inference as float8_inference
    import torchao.quantization.quant_api as quant_api

    from dit360_desktop.core import fp8_compute
    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.panorama.options import EngineOptions
    from dit360_desktop.panorama.request import GenerationRequest
    from dit360_desktop.testing.tiny_flux import SMALL, build_tiny_flux

    request = GenerationRequest(
        "This is a panorama image. A lake",
        width=256,
        height=128,
        steps=args.steps,
        seed=1,
        device="cpu",
        dtype="bf16",
        tier="full",
    )
    lifted = (
        mock.patch.object(fp8_compute, "check_fp8_compute", lambda device: None),
        mock.patch.object(quant_api, "_check_hardware_support", lambda *a, **k: None),
        mock.patch.object(float8_inference, "_check_hardware_support", lambda *a, **k: None),
    )
    with tempfile.TemporaryDirectory(prefix="fp8-cpu-") as tmp:
        folder = build_tiny_flux(Path(tmp) / "flux", size=SMALL)
        exact = PanoramaEngine(folder, EngineOptions(previews=False, fuse_lora=True)).run(request)
        with lifted[0], lifted[1], lifted[2]:
            engine = PanoramaEngine(folder, EngineOptions(previews=False, fp8_compute=True))
            fp8 = engine.run(request)
        layer = engine.model.components.transformer.transformer_blocks[0].attn.to_q
        quantised = type(layer.weight).__name__
    report = {
        "steps": args.steps,
        "size": "small 256x128, bf16 compute",
        "random_weights": True,
        "torchao": torchao.__version__,
        "weight_type": quantised,
        "transformer": fp8.metadata["memory_tier"]["transformer"],
        "rel_l2_latent": float((fp8.latent - exact.latent).norm() / exact.latent.norm()),
        "psnr_db": psnr_db(np.asarray(fp8.image), np.asarray(exact.image)),
    }
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
