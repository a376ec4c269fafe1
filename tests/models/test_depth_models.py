"""The Depth Anything V2 catalog entries, relative and metric: download, import, verify, repair and load,
against the hub emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from hub_emulator import HubEmulator, make_hf_cache, repo_from_folder

from dit360_desktop.cli import main
from dit360_desktop.models.catalog import load_catalog
from dit360_desktop.models.depth import installed_depth_model
from dit360_desktop.panorama.errors import ModelMissingError
from dit360_desktop.testing.tiny_depth import build_tiny_depth

SMALL = "depth-anything/Depth-Anything-V2-Small-hf"
INDOOR = "depth-anything-v2-metric-indoor-small"
OUTDOOR = "depth-anything-v2-metric-outdoor-small"


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


def test_catalog_offers_the_metric_small_models_beside_the_relative_default() -> None:
    catalog = load_catalog()
    small = catalog.component("depth-anything-v2-small")
    repos = {
        INDOOR: "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf",
        OUTDOOR: "depth-anything/Depth-Anything-V2-Metric-Outdoor-Small-hf",
    }
    for component_id, repo in repos.items():
        metric = catalog.component(component_id)
        assert metric.repo_id == repo and metric.role == "depth" and metric.supported and metric.optional
        # The -hf metric model cards name no licence; the entry says so instead of guessing one.
        assert (
            metric.licence == "See the model card" and metric.licence_url == f"https://huggingface.co/{repo}"
        )
        assert (metric.layout, metric.allow_patterns, metric.ignore_patterns, metric.tiers, metric.gated) == (
            small.layout,
            small.allow_patterns,
            small.ignore_patterns,
            small.tiers,
            small.gated,
        )
        assert metric.approx_size_bytes == 99_200_000 and metric not in catalog.default_components
    assert catalog.for_role("depth") == small


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
    assert [c.component_id for c in find_importable(small)] == ["depth-anything-v2-small"]
    models = tmp_path / "m"
    assert main(["models", "import", str(small), "--copy", "--models-dir", str(models)]) == 0
    assert installed_depth_model(models) == models / "depth-anything-v2-small"
    assert main(["models", "verify", "--models-dir", str(models)]) == 0


def test_metric_models_are_told_apart_by_width_and_range(tmp_path: Path) -> None:
    from dit360_desktop.models.depth import depth_component_of

    def component(name: str, **kwargs) -> str | None:
        return depth_component_of(build_tiny_depth(tmp_path / name, metric=True, **kwargs))

    assert component("indoor", hidden_size=384, max_depth=20) == INDOOR
    assert component("outdoor", hidden_size=384, max_depth=80) == OUTDOOR
    # A metric Base (ViT-B) and a metric model fine-tuned to another range are not catalog models.
    assert component("indoor-base", hidden_size=768, max_depth=20) is None
    assert component("other-range", hidden_size=384, max_depth=10) is None
    assert component("tiny", hidden_size=32, max_depth=20) is None


@pytest.fixture(scope="module")
def depth_folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A drive holding the relative Small and the two metric Small models, each as the hub names it."""
    drive = tmp_path_factory.mktemp("drive")
    build_tiny_depth(drive / "Depth-Anything-V2-Small-hf", hidden_size=384, seed=1)
    build_tiny_depth(drive / "Metric-Indoor-Small", hidden_size=384, metric=True, max_depth=20, seed=2)
    build_tiny_depth(drive / "Metric-Outdoor-Small", hidden_size=384, metric=True, max_depth=80, seed=3)
    return drive


def test_importing_metric_folders_registers_each_as_its_component(
    depth_folders: Path, tmp_path: Path, capsys
) -> None:
    from dit360_desktop.core.depth.model import load_depth_model
    from dit360_desktop.models.importer import find_importable
    from dit360_desktop.models.registry import read_registry

    found = {c.component_id: c.root.name for c in find_importable(depth_folders)}
    assert found == {
        "depth-anything-v2-small": "Depth-Anything-V2-Small-hf",
        INDOOR: "Metric-Indoor-Small",
        OUTDOOR: "Metric-Outdoor-Small",
    }
    models = tmp_path / "m"
    assert (
        main(["models", "import", str(depth_folders / "Metric-Indoor-Small"), "--models-dir", str(models)])
        == 0
    )
    assert (
        main(["models", "import", str(depth_folders / "Metric-Outdoor-Small"), "--models-dir", str(models)])
        == 0
    )
    assert sorted(read_registry(models)) == [INDOOR, OUTDOOR]
    indoor, outdoor = models / INDOOR, models / OUTDOOR
    assert load_depth_model(indoor, device="cpu").metric and load_depth_model(outdoor, device="cpu").metric
    # The metric models are there for --depth-model; the default stays the relative Small.
    with pytest.raises(ModelMissingError, match="Depth Anything V2 Small"):
        installed_depth_model(models)
    assert (
        main(
            [
                "models",
                "import",
                str(depth_folders / "Depth-Anything-V2-Small-hf"),
                "--models-dir",
                str(models),
            ]
        )
        == 0
    )
    assert installed_depth_model(models) == models / "depth-anything-v2-small"
    assert load_depth_model(installed_depth_model(models), device="cpu").kind == "disparity"

    capsys.readouterr()
    assert main(["models", "verify", "--models-dir", str(models)]) == 0
    weights = outdoor / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0x10
    weights.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["models", "verify", OUTDOOR, "--models-dir", str(models)]) == 4
    assert f"{OUTDOOR}/model.safetensors" in capsys.readouterr().err.replace("\\", "/")
    assert main(["models", "verify", INDOOR, "--models-dir", str(models)]) == 0


def test_metric_model_imported_from_an_hf_cache_in_place(depth_folders: Path, tmp_path: Path) -> None:
    from dit360_desktop.models.importer import IN_PLACE, find_importable, import_model
    from dit360_desktop.models.verify import OK, verify_installed

    cache = tmp_path / "huggingface" / "hub"
    snapshot = make_hf_cache(
        depth_folders / "Metric-Outdoor-Small",
        cache,
        "depth-anything/Depth-Anything-V2-Metric-Outdoor-Small-hf",
    )
    assert [(c.component_id, c.kind, c.root) for c in find_importable(tmp_path / "huggingface")] == [
        (OUTDOOR, "hf-cache", snapshot)
    ]
    models = tmp_path / "m"
    (entry,) = import_model(tmp_path / "huggingface", mode=IN_PLACE, models_dir=models).imported
    assert entry.component_id == OUTDOOR and entry.path == snapshot
    assert sorted(entry.files) == ["config.json", "model.safetensors", "preprocessor_config.json"]
    checks = verify_installed([OUTDOOR], models)
    assert len(checks) == 3 and all(c.status == OK for c in checks)


def test_metric_model_download_verify_and_repair(
    hub: HubEmulator, depth_folders: Path, tmp_path: Path
) -> None:
    repo = "depth-anything/Depth-Anything-V2-Metric-Indoor-Small-hf"
    hub.add_repo(repo_from_folder(repo, depth_folders / "Metric-Indoor-Small"))
    models = tmp_path / "m"
    net = ["--endpoint", hub.url, "--stall-timeout", "0.5", "--retries", "2"]
    assert main(["models", "download", INDOOR, "--models-dir", str(models), *net]) == 0
    weights = models / INDOOR / "model.safetensors"
    original = weights.read_bytes()
    assert original == (depth_folders / "Metric-Indoor-Small" / "model.safetensors").read_bytes()
    weights.write_bytes(original[:-100])
    assert main(["models", "verify", "--models-dir", str(models)]) == 4
    assert main(["models", "verify", "--repair", "--models-dir", str(models), *net]) == 0
    assert weights.read_bytes() == original
