"""The EXIF block of our JPEGs, written by hand so every tag has the type the standard gives it.

Pillow has no type for UserComment (0x9286) and writes its bytes as BYTE; the standard says UNDEFINED
with an 8-byte character code first (EXIF 2.32, section 4.6.5, table 9). ``exiftool -validate`` warned,
and readers that follow the type (piexif, and A1111/Forge's PNG-info tab through it) got a tuple of
numbers instead of bytes. The block is a big-endian TIFF with IFD0 and the Exif sub-IFD, holding the
tags a JPEG's EXIF must have plus the comment.
"""

from __future__ import annotations

import struct

_SHORT, _LONG, _RATIONAL, _UNDEFINED = 3, 4, 5, 7
_SIZES = {_SHORT: 2, _LONG: 4, _RATIONAL: 8, _UNDEFINED: 1}

ASCII_CODE = b"ASCII\x00\x00\x00"
UNICODE_CODE = b"UNICODE\x00"

Entry = tuple[int, int, bytes]  # tag, type, value already encoded big-endian


def user_comment_value(text: str) -> bytes:
    """The UserComment bytes: ASCII when the text is plain ASCII, else UCS-2/UTF-16 in the block's
    byte order (big-endian here, as A1111 writes it through piexif)."""
    if text.isascii():
        return ASCII_CODE + text.encode("ascii")
    return UNICODE_CODE + text.encode("utf-16-be")


def _short(value: int) -> bytes:
    return struct.pack(">H", value)


def _long(value: int) -> bytes:
    return struct.pack(">I", value)


def _ifd(entries: list[Entry], start: int, next_ifd: int = 0) -> bytes:
    """One IFD at byte ``start`` of the TIFF, its long values right after it (word aligned)."""
    entries = sorted(entries)
    data_start = start + 2 + 12 * len(entries) + 4
    table, data = [], b""
    for tag, kind, value in entries:
        count = len(value) // _SIZES[kind]
        if len(value) <= 4:
            field = value.ljust(4, b"\x00")
        else:
            field = _long(data_start + len(data))
            data += value + b"\x00" * (len(value) % 2)
        table.append(struct.pack(">HHI", tag, kind, count) + field)
    return _short(len(entries)) + b"".join(table) + _long(next_ifd) + data


def jpeg_exif(width: int, height: int, comment: str) -> bytes:
    """The APP1 EXIF payload (starting ``Exif\\0\\0``) for a width×height JPEG with ``comment``."""
    seventy_two = _long(72) + _long(1)
    ifd0: list[Entry] = [
        (0x011A, _RATIONAL, seventy_two),  # XResolution
        (0x011B, _RATIONAL, seventy_two),  # YResolution
        (0x0128, _SHORT, _short(2)),  # ResolutionUnit: inches
        (0x0213, _SHORT, _short(1)),  # YCbCrPositioning: centred
        (0x8769, _LONG, _long(0)),  # the Exif IFD's offset, filled in below
    ]
    exif: list[Entry] = [
        (0x9000, _UNDEFINED, b"0232"),  # ExifVersion 2.32
        (0x9101, _UNDEFINED, bytes([1, 2, 3, 0])),  # ComponentsConfiguration: Y Cb Cr
        (0x9286, _UNDEFINED, user_comment_value(comment)),
        (0xA000, _UNDEFINED, b"0100"),  # FlashpixVersion
        (0xA001, _SHORT, _short(1)),  # ColorSpace: sRGB
        (0xA002, _LONG, _long(width)),  # PixelXDimension
        (0xA003, _LONG, _long(height)),  # PixelYDimension
    ]
    first = 8
    exif_start = first + len(_ifd(ifd0, first))
    ifd0[-1] = (0x8769, _LONG, _long(exif_start))
    tiff = b"MM\x00\x2a" + _long(first) + _ifd(ifd0, first) + _ifd(exif, exif_start)
    return b"Exif\x00\x00" + tiff
