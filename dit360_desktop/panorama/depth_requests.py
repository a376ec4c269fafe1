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
