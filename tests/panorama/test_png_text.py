"""PNG text chunks hold no NUL: the spec reserves it as the keyword separator."""

from __future__ import annotations

import struct
from pathlib import Path

from PIL import Image

from dit360_desktop.panorama import imageio
from dit360_desktop.panorama.request import GenerationRequest


def _text_chunks(data: bytes) -> dict[bytes, bytes]:
    chunks, pos = {}, 8
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind in (b"tEXt", b"iTXt"):
            keyword, _, rest = body.partition(b"\x00")
            chunks[keyword] = rest
        pos += 12 + length
    return chunks


def test_a_nul_in_the_prompt_never_reaches_the_parameters_chunk(tmp_path: Path) -> None:
    request = GenerationRequest(prompt="a bay\x00at night", seed=1, width=256, height=128)
    metadata = {"request": request.to_dict(), "seed": 1}
    data = imageio.encode_png(Image.new("RGB", (256, 128)), metadata)
    text = _text_chunks(data)[imageio.PNG_PARAMETERS_KEY.encode()]
    assert b"\x00" not in text and b"a bayat night" in text
    # Our JSON chunk still holds the prompt exactly (JSON escapes the NUL).
    path = tmp_path / "p.png"
    path.write_bytes(data)
    assert imageio.read_metadata(path).dit360["request"]["prompt"] == "a bay\x00at night"
