"""Seam-aware super-resolution: roll equivariance, tiled == untiled, padding across the pole, bounded
windows, passes and sizes, and the loader's refusals.

Two networks: spandrel's Real-ESRGAN Compact with tiny random weights, saved as safetensors and loaded
back through spandrel's ModelLoader (``dit360_desktop/testing/tiny_sr.py``; skipped where spandrel is not
installed), and a plain torch convolution stack that exercises the same tiling everywhere.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dit360_desktop.core.upscale.model import SuperResolution, UpscalerUnavailableError, load_sr_model
from dit360_desktop.core.upscale.pipeline import passes_for, resize_wrapped, upscale_pixels
from dit360_desktop.core.upscale.tiling import plan_tiles, pole_wrap_pad, upscale_tiled
from dit360_desktop.panorama.errors import ModelInvalidError, ModelMissingError, UnsafeFileError


def panorama(height: int = 48, seed: int = 0) -> np.ndarray:
    """Smooth, seamless (periodic in x) content with some texture."""
    width = 2 * height
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    t = 2 * np.pi * x / width
    rng = np.random.default_rng(seed)
    phases = rng.uniform(0, 2 * np.pi, 6)
    r = 128 + 60 * np.sin(t + phases[0]) + 30 * np.sin(5 * t + y / 5 + phases[1])
    g = 110 + 50 * np.cos(3 * t + phases[2]) + 0.8 * y
    b = 128 + 45 * np.sin(2 * t + 2 * np.pi * y / height + phases[3])
    return np.clip(np.stack([r, g, b], -1), 0, 255).astype(np.uint8)


class ConvStack(torch.nn.Module):
    """Three 3×3 convolutions (receptive-field radius 3) into a pixel shuffle, plus the nearest upscale."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.scale = scale
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1),
            torch.nn.PReLU(8),
            torch.nn.Conv2d(8, 8, 3, padding=1),
            torch.nn.PReLU(8),
            torch.nn.Conv2d(8, 3 * scale * scale, 3, padding=1),
            torch.nn.PixelShuffle(scale),
        )
        for parameter in self.body.parameters():
            parameter.data *= 2.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + torch.nn.functional.interpolate(x, scale_factor=self.scale, mode="nearest")


def conv_sr(scale: int = 4) -> SuperResolution:
    return SuperResolution(
        module=ConvStack(scale).eval(),
        scale=scale,
        architecture="test conv stack",
        path=Path("conv.safetensors"),
        device=torch.device("cpu"),
        dtype=torch.float32,
    )


@pytest.fixture(scope="module")
def tiny_sr_file(tmp_path_factory) -> Path:
    pytest.importorskip("spandrel")
    from dit360_desktop.testing.tiny_sr import build_tiny_sr

    return build_tiny_sr(tmp_path_factory.mktemp("tiny-sr") / "tiny-x4.safetensors")


@pytest.fixture(params=["spandrel", "conv"])
def sr(request) -> SuperResolution:
    if request.param == "conv":
        return conv_sr(4)
    return load_sr_model(request.getfixturevalue("tiny_sr_file"), device="cpu")


def test_spandrel_loads_the_tiny_model(tiny_sr_file: Path) -> None:
    sr = load_sr_model(tiny_sr_file, device="cpu")
    assert sr.scale == 4 and sr.architecture == "RealESRGAN Compact"
    out = sr(torch.rand(1, 3, 8, 10))
    assert out.shape == (1, 3, 32, 40)


def test_pole_wrap_pad_crosses_the_pole_and_the_seam() -> None:
    image = panorama(16)
    height, width = image.shape[:2]
    padded = pole_wrap_pad(image, 3, 2, 4, 5)
    assert padded.shape == (height + 5, width + 9, 3)
    core = padded[3 : 3 + height, 4 : 4 + width]
    assert np.array_equal(core, image)
    for i in range(3):  # row −1−i is row i at column x + W/2
        assert np.array_equal(padded[2 - i, 4 : 4 + width], np.roll(image[i], width // 2, axis=0))
    for i in range(2):
        assert np.array_equal(
            padded[3 + height + i, 4 : 4 + width], np.roll(image[height - 1 - i], width // 2, axis=0)
        )
    assert np.array_equal(padded[3 : 3 + height, 3], image[:, width - 1])  # column −1 is column W−1
    assert np.array_equal(padded[3 : 3 + height, 4 + width], image[:, 0])  # column W is column 0
    # Corners are the circular continuation of the pole rows, so every pad pixel is on the sphere.
    assert np.array_equal(padded[2, 3], np.roll(image[0], width // 2, axis=0)[width - 1])


def test_tiled_equals_untiled(sr: SuperResolution) -> None:
    image = panorama(48)
    untiled, _ = upscale_pixels(image, sr, 4, tile=0, margin=8)
    tiled, report = upscale_pixels(image, sr, 4, tile=20, margin=8)
    assert report.tiles == len(plan_tiles(48, 96, 20)) > 1
    assert untiled.shape == (192, 384, 3)
    assert np.abs(untiled.astype(int) - tiled).max() <= 1


@pytest.mark.parametrize("shift", [1, 17, 48])
def test_roll_equivariance(sr: SuperResolution, shift: int) -> None:
    image = panorama(48)
    base, _ = upscale_pixels(image, sr, 4, tile=20, margin=8)
    rolled, _ = upscale_pixels(np.roll(image, shift, axis=1), sr, 4, tile=20, margin=8)
    assert np.abs(rolled.astype(int) - np.roll(base, 4 * shift, axis=1)).max() <= 1


def test_the_seam_is_upscaled_like_any_interior_column(sr: SuperResolution) -> None:
    """Rolled by half a turn, the seam is in the middle of the image; rolled back, the result must be the
    same. A plain upscale (the network's own zero padding at the image edge) fails exactly there."""
    image = panorama(48)
    half = image.shape[1] // 2

    def plain(pixels: np.ndarray) -> np.ndarray:
        out = sr(torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255.0)
        return (out[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy().astype(int)

    ours = upscale_pixels(image, sr, 4, tile=20, margin=8)[0].astype(int)
    interior = np.roll(
        upscale_pixels(np.roll(image, half, axis=1), sr, 4, tile=20, margin=8)[0], -4 * half, axis=1
    )
    assert np.abs(ours - interior).max() <= 1
    plain_seam = np.abs(plain(image) - np.roll(plain(np.roll(image, half, axis=1)), -4 * half, axis=1))
    assert plain_seam[:, :4].max() > 5 and plain_seam[:, -4:].max() > 5
    # Its own seam columns differ; far from the edges it matches ours.
    assert np.abs(plain(image)[24:-24, 24:-24] - ours[24:-24, 24:-24]).max() <= 1


def test_pole_padding_is_not_a_plain_reflect() -> None:
    """At the top row the network's context must be the other side of the pole, not the same meridian."""
    image = panorama(32)
    sr = conv_sr(2)
    ours = upscale_tiled(image, sr, 2, tile=0, margin=4)
    # Reference: the untiled network on an explicitly pole-padded image, cropped.
    padded = pole_wrap_pad(image, 4, 4, 4, 4)
    full = sr(torch.from_numpy(padded).permute(2, 0, 1)[None].float() / 255.0)
    full = (full[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()[8:-8, 8:-8]
    assert np.array_equal(ours, full)
    reflect = np.pad(image, ((4, 4), (0, 0), (0, 0)), mode="reflect")
    reflect = np.concatenate([reflect[:, -4:], reflect, reflect[:, :4]], axis=1)
    other = sr(torch.from_numpy(reflect).permute(2, 0, 1)[None].float() / 255.0)
    other = (other[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()[8:-8, 8:-8]
    assert not np.array_equal(ours[:4], other[:4])  # the rows at the pole differ
    assert np.array_equal(ours[16:-16], other[16:-16])  # away from the poles they agree


def test_windows_are_bounded_by_the_tile() -> None:
    seen: list[tuple[int, ...]] = []
    network = ConvStack(2).eval()

    def recording(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape))
        with torch.no_grad():
            return network(x)

    image = panorama(64)
    upscale_tiled(image, recording, 2, tile=32, margin=6)
    assert len(seen) == len(plan_tiles(64, 128, 32)) == 8
    assert max(max(shape[2:]) for shape in seen) <= 32 + 2 * 6


def test_size_requirements_are_met() -> None:
    seen: list[tuple[int, ...]] = []
    network = ConvStack(2).eval()

    def recording(x: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(x.shape))
        with torch.no_grad():
            return network(x)

    image = panorama(40)
    out = upscale_tiled(image, recording, 2, tile=24, margin=5, multiple_of=8, square=True)
    assert len(seen) == len(plan_tiles(40, 80, 24))
    assert all(shape[2] % 8 == 0 and shape[2] == shape[3] for shape in seen)
    reference = upscale_tiled(image, recording, 2, tile=0, margin=5)
    assert np.abs(out.astype(int) - reference).max() <= 1


def test_passes_and_exact_sizes() -> None:
    assert passes_for(4, 4) == 1 and passes_for(4, 2) == 1 and passes_for(2, 4) == 2 and passes_for(3, 4) == 2
    image = panorama(24)
    half, report = upscale_pixels(image, conv_sr(4), 2, tile=16, margin=4)
    assert half.shape == (48, 96, 3) and report.passes == 1 and "reduced to ×2" in report.notes[0]
    twice, report = upscale_pixels(image, conv_sr(2), 4, tile=16, margin=4)
    assert twice.shape == (96, 192, 3) and report.passes == 2 and not report.notes
    rolled_half = upscale_pixels(np.roll(image, 6, axis=1), conv_sr(4), 2, tile=16, margin=4)[0]
    assert np.abs(rolled_half.astype(int) - np.roll(half, 12, axis=1)).max() <= 1


def test_wrapped_resize_is_roll_equivariant() -> None:
    image = panorama(32)
    small = resize_wrapped(image, 32, 16)
    rolled = resize_wrapped(np.roll(image, 8, axis=1), 32, 16)
    assert np.abs(rolled.astype(int) - np.roll(small, 4, axis=1)).max() <= 1


def test_progress_and_cancel() -> None:
    calls: list[tuple[int, int]] = []
    upscale_pixels(
        panorama(24), conv_sr(2), 4, tile=16, margin=4, on_progress=lambda d, t: calls.append((d, t))
    )
    total = len(plan_tiles(24, 48, 16)) + len(plan_tiles(48, 96, 16))
    assert calls == [(i, total) for i in range(1, total + 1)]

    class Stop(Exception):
        pass

    count = 0

    def cancel() -> None:
        nonlocal count
        count += 1
        if count == 3:
            raise Stop

    with pytest.raises(Stop):
        upscale_pixels(panorama(24), conv_sr(2), 4, tile=16, margin=4, check_cancel=cancel)


def test_bad_scale_and_image() -> None:
    with pytest.raises(ValueError, match="scale"):
        upscale_pixels(panorama(16), conv_sr(4), 3, tile=0)
    with pytest.raises(ValueError, match="uint8"):
        upscale_pixels(np.zeros((16, 32), np.uint8), conv_sr(4), 2, tile=0)


def test_loader_refusals(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ModelMissingError):
        load_sr_model(tmp_path / "nope.safetensors")
    pickle = tmp_path / "model.pth"
    pickle.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(UnsafeFileError, match="safetensors"):
        load_sr_model(pickle)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    with pytest.raises(ModelInvalidError):
        load_sr_model(broken)


def test_missing_spandrel_is_a_clear_error(tmp_path: Path, monkeypatch) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file({"body.0.weight": torch.zeros(8, 3, 3, 3)}, str(path))
    import builtins

    real_import = builtins.__import__

    def no_spandrel(name, *args, **kwargs):
        if name == "spandrel" or name.startswith("spandrel."):
            raise ImportError("No module named 'spandrel'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_spandrel)
    with pytest.raises(UpscalerUnavailableError, match="Upscaling is not included") as caught:
        load_sr_model(path)
    # In the person's words: no pip command, and not a "model is not installed" error.
    assert "pip" not in str(caught.value) and not isinstance(caught.value, ModelMissingError)


def test_unknown_architecture_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("spandrel")
    from safetensors.torch import save_file

    path = tmp_path / "not-sr.safetensors"
    save_file({"encoder.weight": torch.zeros(4, 4)}, str(path))
    with pytest.raises(ModelInvalidError, match="spandrel knows"):
        load_sr_model(path)


# The detail stage


class RecordingEngine:
    """Stands in for PanoramaEngine.run: returns ``transform(init image)`` and records the requests."""

    def __init__(self, transform) -> None:
        self.transform = transform
        self.requests = []

    def run(self, request, on_event=None, cancel=None):
        from PIL import Image

        from dit360_desktop.panorama.result import Result

        self.requests.append(request)
        pixels = np.asarray(Image.open(request.init_image).convert("RGB"))
        return Result(image=Image.fromarray(self.transform(pixels)), request=request, metadata={})


def detail_template():
    from dit360_desktop.panorama.request import GenerationRequest

    return GenerationRequest(prompt="This is a panorama image. Hills.", steps=2, seed=4, device="cpu")


def test_detail_windows_cover_the_sphere_and_wrap() -> None:
    from dit360_desktop.core.upscale.detail import plan_windows

    windows = plan_windows(512, 1024, window=512)
    assert all(w.width == 2 * w.height == 512 for w in windows)
    covered = np.zeros((512, 1024), int)
    for w in windows:
        covered[w.y : w.y + w.height, np.arange(w.x, w.x + w.width) % 1024] += 1
    assert covered.min() >= 1
    assert any(w.x + w.width > 1024 for w in windows)  # one column of windows crosses the seam
    assert (covered >= 2).mean() > 0.3  # they overlap


def test_detail_is_the_average_of_its_windows(tmp_path) -> None:
    from dit360_desktop.core.upscale.detail import add_detail

    image = panorama(128)
    identity = RecordingEngine(lambda p: p)
    assert np.array_equal(add_detail(identity, image, detail_template(), 0.3, tmp_path, window=128), image)
    wrapped = [r for r in identity.requests if r.width == 128]
    assert len(wrapped) == len(identity.requests) > 4
    assert all(r.strength == 0.3 and r.height == 64 for r in identity.requests)
    # Each window returns one constant: every pixel is a weighted average of the constants covering it.
    count = iter(range(1000))
    constant = RecordingEngine(lambda p: np.full_like(p, 40 + 20 * next(count)))
    out = add_detail(constant, image, detail_template(), 0.3, tmp_path, window=128)
    values = 40 + 20 * np.arange(len(constant.requests))
    assert out.min() >= values.min() and out.max() <= values.max()
    assert len(np.unique(out)) > len(values)  # blended where windows overlap


def test_detail_window_crosses_the_seam_with_wrapped_pixels(tmp_path) -> None:
    from dit360_desktop.core.upscale.detail import add_detail, plan_windows

    image = panorama(128)
    crops = []

    def keep(pixels):
        crops.append(pixels.copy())
        return pixels

    add_detail(RecordingEngine(keep), image, detail_template(), 0.2, tmp_path, window=128)
    for win, crop in zip(plan_windows(128, 256, 128), crops, strict=True):
        expected = image[win.y : win.y + win.height][:, np.arange(win.x, win.x + win.width) % 256]
        assert np.array_equal(crop, expected)


def test_detail_on_the_tiny_model(tiny_flux_dir, tmp_path) -> None:
    from dit360_desktop.core.engine import PanoramaEngine
    from dit360_desktop.core.upscale.detail import add_detail
    from dit360_desktop.panorama.errors import GenerationCancelled
    from dit360_desktop.panorama.events import CancelToken, StageEvent

    image = panorama(128)
    events = []
    engine = PanoramaEngine(tiny_flux_dir)
    out = add_detail(engine, image, detail_template(), 0.3, tmp_path, window=192, on_event=events.append)
    assert out.shape == image.shape and not np.array_equal(out, image)
    stages = [
        e.message for e in events if isinstance(e, StageEvent) and e.message.startswith("Detail window")
    ]
    assert stages == [f"Detail window {i} of 4" for i in range(1, 5)]
    token = CancelToken()
    token.cancel()
    with pytest.raises(GenerationCancelled):
        add_detail(engine, image, detail_template(), 0.3, tmp_path, window=256, cancel=token)
    with pytest.raises(Exception, match="detail"):
        add_detail(engine, image, detail_template(), 0.9, tmp_path, window=256)
