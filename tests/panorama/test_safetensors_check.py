"""Safetensors header checks: pickles refused, truncation and garbage caught before loading."""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from dit360_desktop.panorama.errors import ModelInvalidError, UnsafeFileError
from dit360_desktop.panorama.safetensors_check import check_safetensors_file, check_weights_folder


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    path = tmp_path / "good.safetensors"
    save_file(
        {"a": torch.zeros(3, 5), "b": torch.ones(7, dtype=torch.bfloat16)}, str(path), metadata={"k": "v"}
    )
    return path


def _raw(header: dict, data: bytes, *, pad: bytes = b"") -> bytes:
    blob = json.dumps(header).encode() + pad
    return struct.pack("<Q", len(blob)) + blob + data


def test_valid_file_passes(good_file: Path) -> None:
    check_safetensors_file(good_file)


@pytest.mark.parametrize("suffix", [".ckpt", ".pt", ".bin", ".pth"])
def test_pickle_suffixes_refused(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"model{suffix}"
    path.write_bytes(b"anything")
    with pytest.raises(UnsafeFileError, match="pickle"):
        check_safetensors_file(path)


def test_renamed_torch_zip_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"x": 1}))
    with pytest.raises(UnsafeFileError, match="zip"):
        check_safetensors_file(path)


def test_renamed_pickle_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"weights": list(range(100))}, protocol=4))
    assert path.read_bytes()[0] == 0x80
    with pytest.raises(UnsafeFileError, match="pickle"):
        check_safetensors_file(path)


def test_header_length_with_pickle_like_first_byte_is_still_valid(tmp_path: Path) -> None:
    # A header of 0x280 bytes starts with bytes 0x80 0x02, the same as pickle protocol 2.
    header = {"t": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}
    blob = json.dumps(header).encode()
    data = _raw(header, b"abcd", pad=b" " * (0x280 - len(blob)))
    assert data[:2] == b"\x80\x02"
    path = tmp_path / "x.safetensors"
    path.write_bytes(data)
    check_safetensors_file(path)


def test_truncated_file_detected(good_file: Path) -> None:
    data = good_file.read_bytes()
    good_file.write_bytes(data[:-5])
    with pytest.raises(ModelInvalidError, match="truncated") as info:
        check_safetensors_file(good_file)
    assert not isinstance(info.value, UnsafeFileError)


def test_extra_trailing_bytes_detected(good_file: Path) -> None:
    with good_file.open("ab") as handle:
        handle.write(b"\0" * 16)
    with pytest.raises(ModelInvalidError, match="extra or missing"):
        check_safetensors_file(good_file)


def test_garbage_detected(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    path.write_bytes(b"<html><body>Rate limited</body></html>")
    with pytest.raises(ModelInvalidError, match="header") as info:
        check_safetensors_file(path)
    assert not isinstance(info.value, UnsafeFileError)


def test_header_not_json(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    path.write_bytes(struct.pack("<Q", 6) + b"{nope}" + b"x" * 10)
    with pytest.raises(ModelInvalidError, match="not valid JSON"):
        check_safetensors_file(path)


def test_shape_size_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    path.write_bytes(_raw({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"1234"))
    with pytest.raises(ModelInvalidError, match="shape needs 8"):
        check_safetensors_file(path)


def test_tiny_header_length_lie(tmp_path: Path) -> None:
    path = tmp_path / "g.safetensors"
    path.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(ModelInvalidError, match="cut short"):
        check_safetensors_file(path)


def test_folder_with_only_pickles_refused(tmp_path: Path) -> None:
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(UnsafeFileError):
        check_weights_folder(tmp_path)


def test_folder_checks_every_file(tmp_path: Path, good_file: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "bad.safetensors").write_bytes(good_file.read_bytes()[:-1])
    with pytest.raises(ModelInvalidError, match=r"bad\.safetensors"):
        check_weights_folder(tmp_path)
