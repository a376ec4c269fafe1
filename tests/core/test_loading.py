"""Model and LoRA loading faults: each gives a typed, actionable error and nothing unpickled."""

from __future__ import annotations

import json
import pickle
import re
import shutil
import zipfile

import pytest
import torch
from safetensors.torch import load_file, save_file

from dit360_desktop.core.engine import PanoramaEngine
from dit360_desktop.core.loading import load_lora, validate_model_folder
from dit360_desktop.panorama.errors import (
    LoraMismatchError,
    ModelInvalidError,
    ModelMissingError,
    UnsafeFileError,
)
from dit360_desktop.panorama.request import GenerationRequest
from dit360_desktop.testing.tiny_flux import build_tiny_lora


@pytest.fixture
def model_copy(tiny_flux_dir, tmp_path):
    return shutil.copytree(tiny_flux_dir, tmp_path / "model")


def request(**changes) -> GenerationRequest:
    fields = dict(prompt="a lake", width=128, height=64, steps=1, seed=1, device="cpu", dtype="fp32")
    fields.update(changes)
    return GenerationRequest(**fields)


def weights(folder, component):
    return next((folder / component).glob("*.safetensors"))


def test_missing_folder(tmp_path):
    with pytest.raises(ModelMissingError, match="does not exist"):
        PanoramaEngine(tmp_path / "absent").run(request())


def test_missing_component(model_copy):
    shutil.rmtree(model_copy / "text_encoder_2")
    with pytest.raises(ModelInvalidError, match="text_encoder_2"):
        PanoramaEngine(model_copy).run(request())


def test_missing_model_index(model_copy):
    (model_copy / "model_index.json").unlink()
    with pytest.raises(ModelInvalidError, match=r"model_index\.json"):
        validate_model_folder(model_copy)


def test_truncated_safetensors(model_copy):
    path = weights(model_copy, "transformer")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelInvalidError) as caught:
        PanoramaEngine(model_copy).run(request())
    assert path.name in str(caught.value)


def test_corrupt_header(model_copy):
    path = weights(model_copy, "vae")
    data = bytearray(path.read_bytes())
    data[8:16] = b"\x00garbage"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelInvalidError):
        PanoramaEngine(model_copy).run(request())


class _Exploit:
    def __reduce__(self):
        return (pytest.fail, ("the pickle was unpickled",))


def test_pickle_checkpoint_is_refused_before_unpickling(model_copy):
    component = model_copy / "vae"
    weights(model_copy, "vae").unlink()
    (component / "diffusion_pytorch_model.bin").write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(UnsafeFileError, match="pickle"):
        PanoramaEngine(model_copy).run(request())


def test_pickle_renamed_to_safetensors_is_refused(model_copy):
    path = weights(model_copy, "text_encoder")
    path.write_bytes(pickle.dumps(_Exploit(), protocol=4))
    with pytest.raises(UnsafeFileError):
        PanoramaEngine(model_copy).run(request())


def test_torch_zip_checkpoint_renamed_to_safetensors_is_refused(model_copy, tmp_path):
    path = weights(model_copy, "text_encoder")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(_Exploit()))
    with pytest.raises(UnsafeFileError):
        PanoramaEngine(model_copy).run(request())


def test_unexpected_key_is_named(model_copy):
    path = weights(model_copy, "transformer")
    tensors = load_file(str(path))
    tensors["extra_block.weight"] = torch.zeros(2)
    save_file(tensors, str(path))
    with pytest.raises(ModelInvalidError, match=r"extra_block\.weight"):
        PanoramaEngine(model_copy).run(request())


def test_missing_key_is_named(model_copy):
    path = weights(model_copy, "transformer")
    tensors = load_file(str(path))
    removed = "proj_out.weight"
    del tensors[removed]
    save_file(tensors, str(path))
    with pytest.raises(ModelInvalidError, match=re.escape(removed)):
        PanoramaEngine(model_copy).run(request())


def test_wrong_shape_is_refused(model_copy):
    path = weights(model_copy, "transformer")
    tensors = load_file(str(path))
    tensors["proj_out.bias"] = torch.zeros(tensors["proj_out.bias"].shape[0] + 1)
    save_file(tensors, str(path))
    with pytest.raises(ModelInvalidError):
        PanoramaEngine(model_copy).run(request())


@pytest.fixture(scope="module")
def transformer(tiny_flux_dir):
    from diffusers import FluxTransformer2DModel

    return FluxTransformer2DModel.from_pretrained(tiny_flux_dir / "transformer")


def test_lora_with_keys_for_another_model_is_refused(transformer, tmp_path):
    path = tmp_path / "other.safetensors"
    save_file(
        {
            "transformer.down_blocks.0.attn.to_q.lora_A.weight": torch.zeros(4, 32),
            "transformer.down_blocks.0.attn.to_q.lora_B.weight": torch.zeros(32, 4),
        },
        str(path),
    )
    with pytest.raises(LoraMismatchError, match=r"down_blocks\.0\.attn\.to_q"):
        load_lora(transformer, path, "bad")


def test_lora_with_wrong_shapes_is_refused(transformer, tmp_path):
    path = tmp_path / "wide.safetensors"
    save_file(
        {
            "transformer.transformer_blocks.0.attn.to_q.lora_A.weight": torch.zeros(4, 99),
            "transformer.transformer_blocks.0.attn.to_q.lora_B.weight": torch.zeros(32, 4),
        },
        str(path),
    )
    with pytest.raises(LoraMismatchError, match="wrong shapes"):
        load_lora(transformer, path, "bad")


def test_lora_as_single_file_and_as_peft_folder_give_the_same_result(tiny_flux_dir, tmp_path):
    folder = build_tiny_lora(tmp_path / "peft", tiny_flux_dir / "transformer", seed=3)
    single = build_tiny_lora(
        tmp_path / "single.safetensors", tiny_flux_dir / "transformer", seed=3, peft_folder=False
    )
    engine = PanoramaEngine(tiny_flux_dir)
    from_folder = engine.run(request(lora_path=str(folder))).latent
    from_file = engine.run(request(lora_path=str(single))).latent
    assert torch.equal(from_folder, from_file)
    info = json.loads((folder / "adapter_config.json").read_text())
    assert info["r"] == 4


def test_pickle_lora_is_refused(tiny_flux_dir, tmp_path):
    path = tmp_path / "lora.ckpt"
    path.write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(UnsafeFileError):
        PanoramaEngine(tiny_flux_dir).run(request(lora_path=str(path)))


def test_engine_stays_usable_after_a_bad_lora(tiny_flux_dir, tmp_path):
    engine = PanoramaEngine(tiny_flux_dir)
    with pytest.raises(ModelMissingError):
        engine.run(request(lora_path=str(tmp_path / "nope.safetensors")))
    assert engine.run(request()).image.size == (128, 64)


def test_tokenizer_without_its_vocabulary_is_refused(model_copy):
    (model_copy / "tokenizer_2" / "tokenizer.json").unlink()
    with pytest.raises(ModelInvalidError, match="tokenizer_2"):
        PanoramaEngine(model_copy).run(request())


def test_tokenizer_that_reads_only_unknown_tokens_is_refused(model_copy):
    path = model_copy / "tokenizer" / "tokenizer.json"
    data = json.loads(path.read_text())
    data["model"]["vocab"] = {k: v for k, v in data["model"]["vocab"].items() if k.startswith("<|")}
    data["model"]["merges"] = []
    path.write_text(json.dumps(data))
    (model_copy / "tokenizer" / "vocab.json").write_text(json.dumps(data["model"]["vocab"]))
    (model_copy / "tokenizer" / "merges.txt").write_text("#version: 0.2\n")
    with pytest.raises(ModelInvalidError, match="cannot read plain English"):
        PanoramaEngine(model_copy).run(request())
