"""Self-test checks for the features a bundle ships beyond generation: Upscale, EXR, depth and 3D.

Each runs the feature's real code on tiny data: a random-weight Real-ESRGAN Compact model through
spandrel's loader and the seam-aware tiled upscaler; a half-float EXR written by our exporter and read
back by OpenEXR; a tiny Depth Anything V2 (transformers) distance map turned into a GLB mesh. Depth and
3D need no extra library, so they are always checked. A frozen bundle lists the optional features it was
built with in ``dit360_build.json`` (written by ``packaging/dit360.spec``); a feature listed there must
work, and one left out of the build is reported as such. Run from source, a feature whose library is not
installed is reported, not failed.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import tempfile
from pathlib import Path

from dit360_desktop.panorama.features import FEATURE_MODULES
from dit360_desktop.selftest.checks import CheckContext, CheckFailed

BUILD_INFO = "dit360_build.json"


def bundled_features() -> set[str] | None:
    """The features the frozen bundle was built with; None when running from source."""
    root = getattr(sys, "_MEIPASS", None)
    if root is None:
        return None
    try:
        info = json.loads((Path(root) / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CheckFailed(f"the bundle's {BUILD_INFO} is missing or unreadable ({e})") from e
    return set(info.get("features", ()))


def _absent(feature: str, context: CheckContext) -> str | None:
    """Why ``feature`` is not checked here, or None when it must work."""
    bundled = bundled_features()
    missing = [m for m in FEATURE_MODULES[feature] if importlib.util.find_spec(m) is None]
    context.facts["modules_missing"] = missing
    if bundled is not None and feature not in bundled:
        return f"not in this bundle (built without {', '.join(FEATURE_MODULES[feature])})"
    if missing and bundled is None:
        return f"not installed here ({', '.join(missing)} missing)"
    if missing:
        raise CheckFailed(f"the bundle was built with {feature} but {', '.join(missing)} cannot be found")
    return None


def check_upscale(context: CheckContext) -> str:
    reason = _absent("upscale", context)
    if reason:
        context.facts["skipped"] = True
        return reason
    import numpy as np

    from dit360_desktop.core.upscale.model import load_sr_model
    from dit360_desktop.core.upscale.pipeline import upscale_pixels
    from dit360_desktop.testing.tiny_sr import build_tiny_sr

    height, width = 32, 64
    ramp = np.linspace(0, 255, width, dtype=np.float32)
    pixels = np.stack([np.tile(ramp, (height, 1))] * 3, axis=-1).astype(np.uint8)
    with tempfile.TemporaryDirectory(prefix="dit360-selftest-sr-") as scratch:
        sr = load_sr_model(build_tiny_sr(Path(scratch) / "tiny-x4.safetensors"), device="cpu")
        out, _ = upscale_pixels(pixels, sr, 4, tile=32)
    context.facts.update({"architecture": sr.architecture, "scale": sr.scale, "shape": list(out.shape)})
    if out.shape != (4 * height, 4 * width, 3) or out.dtype != np.uint8:
        raise CheckFailed(f"the ×4 upscale of a {width}×{height} image gave {out.shape} {out.dtype}")
    if float(out.std()) == 0.0:
        raise CheckFailed("the upscaled image is blank")
    return f"{sr.architecture} ×{sr.scale} via spandrel: {width}×{height} → {out.shape[1]}×{out.shape[0]}"


def check_exr(context: CheckContext) -> str:
    reason = _absent("exr", context)
    if reason:
        context.facts["skipped"] = True
        return reason
    import numpy as np
    import OpenEXR

    from dit360_desktop.panorama.hdr import save_exr, to_linear

    pixels = np.zeros((8, 16, 3), dtype=np.uint8)
    pixels[..., 0] = np.arange(16, dtype=np.uint8)[None, :] * 16
    pixels[..., 2] = 200
    linear = to_linear(pixels)
    with tempfile.TemporaryDirectory(prefix="dit360-selftest-exr-") as scratch:
        path = save_exr(linear, Path(scratch) / "probe.exr")
        with OpenEXR.File(str(path)) as exr:
            back = np.asarray(exr.channels()["RGB"].pixels, dtype=np.float64)
    error = float(np.abs(back - linear).max()) if back.shape == linear.shape else float("inf")
    context.facts.update({"shape": list(back.shape), "max_error": error})
    # Half floats keep 11 significant bits: 1e-3 relative near 1.0.
    if error > 2e-3:
        raise CheckFailed(f"the EXR read back differs from what was written (max error {error:.3g})")
    return f"half-float EXR written and read back by OpenEXR {OpenEXR.__version__} (max error {error:.1e})"


def check_depth(context: CheckContext) -> str:
    """Depth Anything V2 (transformers' own classes) on a tiny model, then a GLB mesh read back."""
    import numpy as np

    from dit360_desktop.core.depth.estimate import estimate_distance
    from dit360_desktop.core.depth.model import load_depth_model
    from dit360_desktop.core.depth.views import cube_views
    from dit360_desktop.panorama.mesh3d import write_glb
    from dit360_desktop.testing.tiny_depth import build_tiny_depth

    height, width = 32, 64
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = np.linspace(0, 255, width, dtype=np.float32).astype(np.uint8)[None, :]
    pixels[..., 1] = np.linspace(0, 255, height, dtype=np.float32).astype(np.uint8)[:, None]
    with tempfile.TemporaryDirectory(prefix="dit360-selftest-depth-") as scratch:
        model = load_depth_model(build_tiny_depth(Path(scratch) / "tiny-depth"), device="cpu")
        depth = estimate_distance(pixels, model, views=cube_views(model.view_size))
        glb = Path(scratch) / "probe.glb"
        write_glb(glb, pixels, depth.distance, metric=depth.metric, stride=4)
        head = glb.read_bytes()[:12]
    distance = depth.distance
    context.facts.update({"shape": list(distance.shape), "glb_header": head[:4].decode("latin-1")})
    if distance.shape != (height, width) or not np.all(np.isfinite(distance)) or not np.all(distance > 0):
        raise CheckFailed(f"the distance map is {distance.shape} with non-finite or non-positive values")
    if head[:4] != b"glTF" or int.from_bytes(head[4:8], "little") != 2:
        raise CheckFailed(f"the GLB export does not start with a glTF 2 header ({head!r})")
    return f"Depth Anything V2 (tiny) distance {width}×{height} and a glTF 2 mesh"


FEATURE_CHECKS = (("upscale", check_upscale), ("exr", check_exr), ("depth", check_depth))
