"""A tiny random-weight Depth Anything V2 folder, built once per session (dit360_desktop/testing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dit360_desktop.testing.tiny_depth import build_tiny_depth


@pytest.fixture(scope="session")
def tiny_depth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_depth(tmp_path_factory.mktemp("tiny-depth") / "Depth-Anything-V2-Tiny")
