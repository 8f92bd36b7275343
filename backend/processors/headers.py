"""What a file's header says, read without its decoder: for the formats whose decoder does more than
read a header when it opens a file. pillow-jxl-plugin decodes a whole JPEG XL image on open (a 90 KB
file can declare 30000×30000), and counting a TIFF's pages through Pillow walks them at a cost that
grows faster than their number; the web reads these instead, with bounded time and memory."""

from __future__ import annotations

import struct
from typing import IO

JXL_CODESTREAM = b"\xff\x0a"
JXL_CONTAINER = b"\x00\x00\x00\x0cJXL \x0d\x0a\x87\x0a"
# SizeHeader's width:height ratios (ratio 1 to 7).
JXL_RATIOS = {1: (1, 1), 2: (12, 10), 3: (4, 3), 4: (3, 2), 5: (16, 9), 6: (5, 4), 7: (2, 1)}
JXL_HEADER_BYTES = 64 * 1024  # a container's boxes before the codestream: metadata a camera may add


class HeaderError(ValueError):
    """The header is not what its signature promises."""


def is_jxl(head: bytes) -> bool:
    return head.startswith(JXL_CODESTREAM) or head.startswith(JXL_CONTAINER)


class _Bits:
    """JPEG XL's bit order: least significant bit of each byte first."""

    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    def read(self, count: int) -> int:
        value = 0
        for shift in range(count):
            byte = self.position >> 3
            if byte >= len(self.data):
                raise HeaderError("the JPEG XL header is cut short")
            value |= ((self.data[byte] >> (self.position & 7)) & 1) << shift
            self.position += 1
        return value

    def dimension(self) -> int:
        """U32(1 + u(9), 1 + u(13), 1 + u(18), 1 + u(30))."""
        return 1 + self.read((9, 13, 18, 30)[self.read(2)])


def jxl_size(fp: IO[bytes]) -> tuple[int, int]:
    """Width and height from a JPEG XL file's SizeHeader (a bare codestream, or the codestream box of
    a container), reading at most JXL_HEADER_BYTES."""
    fp.seek(0)
    data = fp.read(JXL_HEADER_BYTES)
    if data.startswith(JXL_CONTAINER):
        data = _jxl_codestream(data)
    if not data.startswith(JXL_CODESTREAM):
        raise HeaderError("not a JPEG XL codestream")
    bits = _Bits(data[2:])
    small = bits.read(1)
    height = 8 * (1 + bits.read(5)) if small else bits.dimension()
    ratio = bits.read(3)
    if ratio:
        numerator, denominator = JXL_RATIOS[ratio]
        width = height * numerator // denominator
    else:
        width = 8 * (1 + bits.read(5)) if small else bits.dimension()
    return width, height


def _jxl_codestream(data: bytes) -> bytes:
    """The start of the codestream in a container: the `jxlc` box, or the first `jxlp` box."""
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        header = 8
        if size == 1:  # a 64-bit size follows
            if offset + 16 > len(data):
                break
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
            header = 16
        if kind == b"jxlc":
            return data[offset + header:]
        if kind == b"jxlp":
            return data[offset + header + 4:]  # after the part's index
        if size == 0 or size < header:
            break  # the last box, or a broken one: no codestream within reach
        offset += size
    raise HeaderError("no JPEG XL codestream within the first boxes")


def tiff_page_count(fp: IO[bytes], limit: int) -> int:
    """How many pages (directories) a TIFF chains, counted up to `limit`: a few bytes read per page,
    each directory visited once (a chain that loops back ends there)."""
    fp.seek(0)
    header = fp.read(16)
    order = {b"II": "<", b"MM": ">"}.get(header[:2])
    if order is None:
        raise HeaderError("not a TIFF")
    version = struct.unpack(order + "H", header[2:4])[0]
    if version == 42:
        next_offset, count_format, entry_size, offset_format = struct.unpack(order + "I", header[4:8])[0], "H", 12, "I"
    elif version == 43:  # BigTIFF
        next_offset, count_format, entry_size, offset_format = struct.unpack(order + "Q", header[8:16])[0], "Q", 20, "Q"
    else:
        raise HeaderError("not a TIFF")
    count_size, offset_size = struct.calcsize(count_format), struct.calcsize(offset_format)
    pages, seen = 0, set()
    while next_offset and next_offset not in seen and pages < limit:
        seen.add(next_offset)
        fp.seek(next_offset)
        raw_count = fp.read(count_size)
        if len(raw_count) < count_size:
            break  # a chain that points past the end: the pages counted so far
        entries = struct.unpack(order + count_format, raw_count)[0]
        pages += 1
        fp.seek(next_offset + count_size + entries * entry_size)
        raw_next = fp.read(offset_size)
        next_offset = struct.unpack(order + offset_format, raw_next)[0] if len(raw_next) == offset_size else 0
    return max(pages, 1)
