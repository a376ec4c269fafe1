"""The engine request of the depth task (``core/tasks/depth.py``): a panorama's distance map."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dit360_desktop.panorama.errors import RequestError
from dit360_desktop.panorama.request import GenerationRequest

MAX_DEPTH_HEIGHT = 16384
DEPTH_FILE_NAME = "depth.exr"


@dataclass(frozen=True)
class DepthRequest:
    """The distance map of ``source`` with the Depth Anything folder ``depth_model``, at ``size`` (W, H;
    default the source's). The float map is written into ``work_dir`` as ``DEPTH_FILE_NAME`` (the
    Result's image is its 8-bit preview); ``template`` is the source's own request, kept as the
    Result's so the depth's file records what it was made from."""

    source: Path
    depth_model: Path
    template: GenerationRequest
    work_dir: Path
    size: tuple[int, int] | None = None
    device: str = "auto"

    kind = "depth"

    def validate(self) -> list[str]:
        if self.size is not None:
            width, height = self.size
            if not (4 <= height <= MAX_DEPTH_HEIGHT and width == 2 * height):
                raise RequestError(
                    "size",
                    f"a distance map is twice as wide as high, 8x4 to 32768x16384 (got {width}x{height})",
                )
        return []


STEREO_FILL_MODES = ("none", "dit360")
MAX_IPD_M = 1.0


@dataclass(frozen=True)
class StereoRequest:
    """Top/bottom ODS of ``source`` with the distance map ``distance_exr`` (metres) and eye distance
    ``ipd`` (metres). ``fill="dit360"`` regenerates each eye's disocclusions with the blend edit task on
    a hole mask grown by ``grow`` pixels (FLUX + DiT360, with ``template``'s prompt, model and settings);
    ``"none"`` leaves them transparent. Each eye and its mask are written into ``work_dir``."""

    source: Path
    distance_exr: Path
    ipd: float
    template: GenerationRequest
    work_dir: Path
    fill: str = "none"
    grow: int = 2

    @property
    def kind(self) -> str:
        return "stereo-fill" if self.fill == "dit360" else "stereo"

    def validate(self) -> list[str]:
        if not 0.0 <= self.ipd <= MAX_IPD_M:
            raise RequestError("ipd", f"must be between 0 and {MAX_IPD_M} metres (got {self.ipd})")
        if self.fill not in STEREO_FILL_MODES:
            raise RequestError("fill", f"must be one of {', '.join(STEREO_FILL_MODES)} (got {self.fill!r})")
        if not 0 <= self.grow <= 64:
            raise RequestError("grow", f"must be 0 to 64 pixels (got {self.grow})")
        return []


EXPORT_3D_FILES = {"glb": "scene.glb", "ply": "points.ply", "splats": "splats.ply"}


@dataclass(frozen=True)
class Export3DRequest:
    """The 3D exports of ``source`` and its distance map ``distance_exr`` (``metric``: in metres, else
    scaled to a 3 m median): each name of ``outputs`` (``glb``, ``ply``, ``splats``) is written into
    ``work_dir`` as ``EXPORT_3D_FILES[name]``, for the caller to move into place."""

    source: Path
    distance_exr: Path
    metric: bool
    template: GenerationRequest
    work_dir: Path
    outputs: tuple[str, ...]
    stride: int = 1
    max_faces: int = 1_000_000
    cut_edges: bool = True

    kind = "export-3d"

    def validate(self) -> list[str]:
        unknown = sorted(set(self.outputs) - set(EXPORT_3D_FILES))
        if not self.outputs or unknown:
            raise RequestError("outputs", f"name at least one of glb, ply, splats (got {list(self.outputs)})")
        if self.stride < 1 or self.max_faces < 8:
            raise RequestError("stride", "the stride must be 1 or more and max faces at least 8")
        return []
