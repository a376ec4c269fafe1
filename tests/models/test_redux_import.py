"""Importing FLUX.1 Redux: from its diffusers folder and from a Hugging Face cache, then found, verified and
repaired as every model; a broken or unsafe folder is refused with a sentence."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hub_emulator import make_hf_cache

from dit360_desktop.cli import main
from dit360_desktop.models.errors import ImportRejectedError
from dit360_desktop.models.importer import COPY, IN_PLACE, find_importable, import_model
from dit360_desktop.models.redux import installed_redux_model
from dit360_desktop.models.registry import SOURCE_COPY, installed_model_paths, read_registry
from dit360_desktop.models.verify import OK, verify_installed
from dit360_desktop.panorama.errors import DamagedFileError, ModelInvalidError, UnsafeFileError
from dit360_desktop.testing.tiny_redux import build_tiny_redux

REDUX = "flux1-redux-dev"
REDUX_REPO = "black-forest-labs/FLUX.1-Redux-dev"
FILES = [
    "feature_extractor/preprocessor_config.json",
    "image_embedder/config.json",
    "image_embedder/diffusion_pytorch_model.safetensors",
    "image_encoder/config.json",
    "image_encoder/model.safetensors",
    "model_index.json",
]


@pytest.fixture(scope="module")
def redux_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_redux(tmp_path_factory.mktemp("redux") / "FLUX.1-Redux-dev")


def _broken_copy(redux_dir: Path, tmp_path: Path) -> Path:
    broken = tmp_path / "FLUX.1-Redux-dev"
    shutil.copytree(redux_dir, broken)
    return broken


def test_redux_folder_is_imported_as_redux_never_as_the_base_model(redux_dir: Path, tmp_path: Path) -> None:
    # Its model_index.json used to make it pass for a FLUX.1-dev folder.
    assert [(c.component_id, c.kind) for c in find_importable(redux_dir)] == [(REDUX, "redux")]
    models = tmp_path / "models"
    (entry,) = import_model(redux_dir, mode=COPY, models_dir=models).imported
    assert entry.component_id == REDUX and entry.source == SOURCE_COPY and entry.path == models / REDUX
    assert sorted(entry.files) == FILES
    assert installed_redux_model(models) == models / REDUX
    assert installed_model_paths(models) is None
    for rel in FILES:
        assert (models / REDUX / rel).read_bytes() == (redux_dir / rel).read_bytes()
    checks = verify_installed(None, models)
    assert sorted(c.path for c in checks if c.component_id == REDUX) == FILES
    assert all(c.status == OK for c in checks)


def test_redux_from_an_hf_cache_leaves_bfl_single_file_behind(redux_dir: Path, tmp_path: Path) -> None:
    src = _broken_copy(redux_dir, tmp_path / "src")
    # The repository also holds BFL's own single file, which the catalog never takes.
    shutil.copyfile(
        src / "image_embedder" / "diffusion_pytorch_model.safetensors", src / "flux1-redux-dev.safetensors"
    )
    snapshot = make_hf_cache(src, tmp_path / "usb" / "huggingface" / "hub", REDUX_REPO)
    assert [(c.component_id, c.kind, c.root) for c in find_importable(tmp_path / "usb")] == [
        (REDUX, "hf-cache", snapshot)
    ]
    models = tmp_path / "models"
    (entry,) = import_model(tmp_path / "usb", mode=IN_PLACE, models_dir=models).imported
    assert entry.path == snapshot and sorted(entry.files) == FILES
    assert installed_redux_model(models) == snapshot
    copied = tmp_path / "copied"
    (entry,) = import_model(tmp_path / "usb", mode=COPY, models_dir=copied).imported
    assert not any(p.is_symlink() for p in (copied / REDUX).rglob("*"))
    assert not (copied / REDUX / "flux1-redux-dev.safetensors").exists()
    assert installed_redux_model(copied) == copied / REDUX


def test_cli_import_verify_and_repair_notice(redux_dir: Path, tmp_path: Path, capsys) -> None:
    models = tmp_path / "models"
    assert main(["models", "import", str(redux_dir), "--models-dir", str(models)]) == 0
    assert f"Imported {REDUX}" in capsys.readouterr().out
    assert main(["models", "verify", "--models-dir", str(models)]) == 0
    weights = models / REDUX / "image_encoder" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-4] ^= 0x01
    weights.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["models", "verify", "--models-dir", str(models)]) == 4
    assert "image_encoder/model.safetensors" in capsys.readouterr().err.replace("\\", "/")
    assert read_registry(models)[REDUX].problems == ("image_encoder/model.safetensors",)


def test_missing_part_refused_by_name(redux_dir: Path, tmp_path: Path) -> None:
    broken = _broken_copy(redux_dir, tmp_path)
    shutil.rmtree(broken / "image_encoder")
    with pytest.raises(ModelInvalidError, match=r"not a complete FLUX\.1 Redux .* image_encoder/ is missing"):
        import_model(broken, models_dir=tmp_path / "models")
    assert read_registry(tmp_path / "models") == {}


def test_weights_missing_from_a_part_refused(redux_dir: Path, tmp_path: Path) -> None:
    broken = _broken_copy(redux_dir, tmp_path)
    (broken / "image_embedder" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelInvalidError, match=r"image_embedder/ has no \.safetensors weights"):
        import_model(broken, models_dir=tmp_path / "models")


def test_pickle_only_encoder_refused_as_unsafe(redux_dir: Path, tmp_path: Path, capsys) -> None:
    broken = _broken_copy(redux_dir, tmp_path)
    (broken / "image_encoder" / "model.safetensors").unlink()
    (broken / "image_encoder" / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(UnsafeFileError, match="only pickle checkpoints"):
        import_model(broken, models_dir=tmp_path / "models")
    assert main(["models", "import", str(broken), "--models-dir", str(tmp_path / "models")]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "pytorch_model.bin" in err and "Traceback" not in err
    assert not (tmp_path / "models" / REDUX).exists()


def test_truncated_embedder_refused(redux_dir: Path, tmp_path: Path) -> None:
    broken = _broken_copy(redux_dir, tmp_path)
    weights = broken / "image_embedder" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-64])
    with pytest.raises(DamagedFileError, match="truncated"):
        import_model(broken, models_dir=tmp_path / "models")


def test_embedder_of_another_shape_refused(redux_dir: Path, tmp_path: Path) -> None:
    broken = _broken_copy(redux_dir, tmp_path)
    other = build_tiny_redux(tmp_path / "other", text_dim=48)
    shutil.copyfile(
        other / "image_embedder" / "diffusion_pytorch_model.safetensors",
        broken / "image_embedder" / "diffusion_pytorch_model.safetensors",
    )
    with pytest.raises(
        ModelInvalidError, match=r"redux_down\.weight has shape \[48, 144\], the config needs \[32, 96\]"
    ):
        import_model(broken, models_dir=tmp_path / "models")


def test_nothing_found_names_the_redux_layout(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImportRejectedError, match=r"FLUX\.1 Redux folder"):
        import_model(tmp_path / "empty", models_dir=tmp_path / "models")


def test_registry_rebuilt_from_disk_counts_a_complete_redux_folder(redux_dir: Path, tmp_path: Path) -> None:
    from dit360_desktop.models.registry import rebuild_entries

    models = tmp_path / "models"
    shutil.copytree(redux_dir, models / REDUX)
    (entry,) = rebuild_entries(models)
    assert entry.component_id == REDUX and entry.complete and sorted(entry.files) == FILES
    shutil.rmtree(models / REDUX / "feature_extractor")
    (entry,) = rebuild_entries(models)
    assert not entry.complete
