"""Figures for docs/depth-3d.md, from the synthetic room of the geometry test (no network, no weights):
the panorama, the distance map merged from six views with a random scale and shift each (near = bright),
and the top/bottom ODS pair of the room with a box in it, holes shown in magenta.

    python docs/make_depth_figures.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dit360_desktop.core.depth.estimate import estimate_distance  # noqa: E402
from dit360_desktop.panorama.stereo import ods_pair  # noqa: E402
from tests.core.depth.synthetic_room import ExactZDepthSource, room_panorama  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 1024, 512


def grey(distance: np.ndarray) -> np.ndarray:
    inverse = 1.0 / distance
    scaled = (inverse - inverse.min()) / (inverse.max() - inverse.min())
    return np.repeat((scaled * 255).astype(np.uint8)[..., None], 3, axis=-1)


def main() -> None:
    rgb, truth = room_panorama(WIDTH, HEIGHT)
    merged = estimate_distance(rgb, ExactZDepthSource(seed=7)).distance
    Image.fromarray(np.concatenate([rgb, grey(merged)], axis=0)).save(OUT / "depth-room.png")
    # A box 1.2 m away, to the right of centre: what each eye sees past its edges is a hole.
    pillar = truth.copy()
    pillar[HEIGHT // 4 : 3 * HEIGHT // 4, WIDTH // 2 + 60 : WIDTH // 2 + 100] = 1.2
    pair = ods_pair(rgb, pillar, 0.064)
    eyes = np.concatenate([pair.left, pair.right], axis=0)
    holes = np.concatenate([pair.left_holes, pair.right_holes], axis=0)
    eyes[holes] = (255, 0, 255)
    crop = eyes[:, WIDTH // 2 - 128 : WIDTH // 2 + 256]
    Image.fromarray(crop).save(OUT / "stereo-room-crop.png")
    print(f"holes: {int(holes.sum())} px; merged vs truth max error (after one scale): ", end="")
    scaled = merged * np.median(truth) / np.median(merged)
    print(f"{float(np.max(np.abs(scaled - truth) / truth)):.4%}")


if __name__ == "__main__":
    main()
