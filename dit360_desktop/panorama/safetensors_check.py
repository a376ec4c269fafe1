"""Refuse pickles and catch broken safetensors before anything is loaded.

A truncated download only fails deep inside a loader ("MetadataIncompleteBuffer"); a renamed pickle can
run code when it is unpickled. Both are caught here from the first bytes and the header alone, without
reading the tensor data. Format: https://github.com/huggingface/safetensors#format
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from dit360_desktop.panorama.errors import (
    DamagedFileError,
    ModelInvalidError,
    NotARegularFileError,
    UnsafeFileError,
)
from dit360_desktop.panorama.fileio import check_regular_source

PICKLE_SUFFIXES = frozenset({".ckpt", ".pt", ".pth", ".bin", ".pkl", ".pickle"})
ZIP_MAGIC = b"PK\x03\x04"
# Pickle protocols 2-5 start with PROTO (0x80) followed by the protocol number.
_PICKLE_PROTOCOLS = frozenset({2, 3, 4, 5})
# The reference implementation refuses headers above 100 MB; real ones are a few hundred kB.
MAX_HEADER_BYTES = 100_000_000

_DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "F8_E8M0": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
    "C64": 8,
}


def check_safetensors_file(path: str | Path) -> None:
    """Raise UnsafeFileError for pickle formats and DamagedFileError for a damaged safetensors file."""
    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise UnsafeFileError(
            f"{path.name} is a pickle-based checkpoint ({path.suffix}), which can run code when loaded. "
            "Use the .safetensors version of this model instead."
        )
    try:
        check_regular_source(path)
    except NotARegularFileError as e:
        # Opening a FIFO blocks until someone writes to it, and a device never ends: refuse, never read.
        raise ModelInvalidError(
            f"{path} is {e.kind}, not a regular file, so it was not read. Point to the real weights file."
        ) from e
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            head = handle.read(8)
            header_len = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            header_ok = 2 <= header_len <= min(MAX_HEADER_BYTES, size - 8)
            header_bytes = handle.read(header_len) if header_ok else b""
    except FileNotFoundError as e:
        raise ModelInvalidError(f"{path} does not exist. Download or import the model again.") from e
    except OSError as e:
        raise ModelInvalidError(
            f"{path} could not be read ({e.strerror}). Check the drive and permissions."
        ) from e

    if head.startswith(ZIP_MAGIC):
        raise UnsafeFileError(
            f"{path.name} is a zip archive (a PyTorch pickle checkpoint), not safetensors. "
            "It was refused because unpickling can run code; use a .safetensors file."
        )
    if not header_ok or not header_bytes.lstrip().startswith(b"{"):
        if len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
            raise UnsafeFileError(
                f"{path.name} is a Python pickle, not safetensors. It was refused because unpickling can run "
                "code; use a .safetensors file."
            )
        raise DamagedFileError(
            path,
            f"{path.name} is not a valid safetensors file (its header is missing or cut short; "
            f"file size {size} bytes)",
        )
    _check_header(path, header_bytes, data_len=size - 8 - header_len)


def _check_header(path: Path, header_bytes: bytes, *, data_len: int) -> None:
    broken = f"{path.name} is damaged or incomplete"
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DamagedFileError(path, f"{broken}: its header is not valid JSON") from e
    if not isinstance(header, dict):
        raise DamagedFileError(path, f"{broken}: its header is not a JSON object")

    end_max = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            begin, end = (int(v) for v in info["data_offsets"])
            count = math.prod(int(d) for d in info["shape"])
            item = _DTYPE_BYTES[info["dtype"]]
        except (KeyError, TypeError, ValueError) as e:
            raise DamagedFileError(path, f"{broken}: tensor {name!r} has a malformed entry") from e
        if not 0 <= begin <= end <= data_len:
            raise DamagedFileError(
                path,
                f"{broken}: tensor {name!r} ends at byte {end} but the file holds only {data_len} data "
                "bytes (likely a truncated download)",
            )
        if end - begin != count * item:
            raise DamagedFileError(
                path,
                f"{broken}: tensor {name!r} spans {end - begin} bytes but its shape needs {count * item}",
            )
        end_max = max(end_max, end)
    if end_max != data_len:
        raise DamagedFileError(
            path,
            f"{broken}: the tensors cover {end_max} bytes but the file holds {data_len} "
            "(extra or missing data)",
        )


def check_weights_folder(folder: str | Path) -> list[Path]:
    """Check every safetensors file under ``folder``; refuse the folder if its only weights are pickles.

    Returns the safetensors files checked. Pickle files next to safetensors copies are ignored (never
    loaded); a folder whose weights exist only as pickles is refused.
    """
    folder = Path(folder)
    checked = sorted(p for p in folder.rglob("*.safetensors") if p.is_file())
    for file in checked:
        check_safetensors_file(file)
    if not checked:
        pickles = sorted(p for p in folder.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
        if pickles:
            raise UnsafeFileError(
                f"{folder} holds only pickle checkpoints (e.g. {pickles[0].name}), which can run code when "
                "loaded. Use a safetensors version of this model."
            )
    return checked


def safetensors_tensor_names(path: str | Path) -> list[str]:
    """The tensor names in a checked safetensors file (raises as check_safetensors_file does)."""
    return list(safetensors_tensor_shapes(path))


def safetensors_tensor_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """Each tensor's shape in a checked safetensors file, from the header alone."""
    path = Path(path)
    check_safetensors_file(path)
    with path.open("rb") as handle:
        header_len = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(header_len).decode("utf-8"))
    return {
        name: tuple(int(d) for d in info["shape"]) for name, info in header.items() if name != "__metadata__"
    }
