"""The Depth Anything V2 catalog entries: download, verify, repair and load, against the hub emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from hub_emulator import HubEmulator, repo_from_folder

from dit360_desktop.cli import main
from dit360_desktop.models.catalog import load_catalog
from dit360_desktop.models.depth import installed_depth_model
from dit360_desktop.panorama.errors import ModelMissingError
from dit360_desktop.testing.tiny_depth import build_tiny_depth

SMALL = "depth-anything/Depth-Anything-V2-Small-hf"


def test_catalog_offers_small_by_default_and_base_large_as_non_commercial() -> None:
    catalog = load_catalog()
    small = catalog.for_role("depth")
    assert small.id == "depth-anything-v2-small" and small.repo_id == SMALL
    assert small.licence == "Apache-2.0" and small.optional and small.supported
    for name in ("base", "large"):
        component = catalog.component(f"depth-anything-v2-{name}")
        assert "non-commercial" in component.licence and component.optional
    assert small not in catalog.default_components
    assert small.wants("model.safetensors") and small.wants("preprocessor_config.json")
    assert not small.wants("pytorch_model.bin")


def test_download_verify_repair_and_load(hub: HubEmulator, tmp_path: Path, capsys) -> None:
    from dit360_desktop.core.depth.model import load_depth_model

    folder = build_tiny_depth(tmp_path / "src")
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")  # never fetched: ignored by the catalog
    hub.add_repo(repo_from_folder(SMALL, folder))
    models = tmp_path / "m"
    net = ["--endpoint", hub.url, "--stall-timeout", "0.5", "--retries", "2"]
    with pytest.raises(ModelMissingError, match="No depth model is installed"):
        installed_depth_model(models)
    assert main(["models", "download", "depth-anything-v2-small", "--models-dir", str(models), *net]) == 0
    installed = installed_depth_model(models)
    assert installed == models / "depth-anything-v2-small"
    assert sorted(p.name for p in installed.iterdir()) == [
        "config.json",
        "model.safetensors",
        "preprocessor_config.json",
    ]
    assert load_depth_model(installed, device="cpu").view_size == 56
    weights = installed / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0x10
    weights.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["models", "verify", "--models-dir", str(models)]) == 4
    assert "model.safetensors" in capsys.readouterr().err
    assert main(["models", "verify", "--repair", "--models-dir", str(models), *net]) == 0
    assert main(["models", "verify", "--models-dir", str(models)]) == 0
    assert load_depth_model(installed, device="cpu").kind == "disparity"


def test_import_recognises_small_by_its_backbone_and_refuses_others(tmp_path: Path, capsys) -> None:
    from dit360_desktop.models.depth import depth_component_of
    from dit360_desktop.models.importer import find_importable

    small = build_tiny_depth(tmp_path / "Depth-Anything-V2-Small-hf", hidden_size=384)
    assert depth_component_of(small) == "depth-anything-v2-small"
    assert depth_component_of(build_tiny_depth(tmp_path / "odd", hidden_size=32)) is None
    assert depth_component_of(build_tiny_depth(tmp_path / "metric", hidden_size=384, metric=True)) is None
    assert [c.component_id for c in find_importable(small)] == ["depth-anything-v2-small"]
    models = tmp_path / "m"
    assert main(["models", "import", str(small), "--copy", "--models-dir", str(models)]) == 0
    assert installed_depth_model(models) == models / "depth-anything-v2-small"
    assert main(["models", "verify", "--models-dir", str(models)]) == 0
