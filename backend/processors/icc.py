"""ICC colour profiles reduced to what describes colour.

A profile is a tag table; besides the colour tags it may carry text (description,
copyright, device names, a metadata dictionary) that a person may not want to publish,
or that someone put there to smuggle markup past a clean-up. `colour_only` keeps the
colour tags, writes a neutral description, and drops everything else.
"""

from __future__ import annotations

import struct

# Tags that take part in colour conversion (ICC.1:2010 and v2); nothing else is kept.
COLOUR_TAGS = {
    b"wtpt", b"bkpt", b"chad", b"chrm", b"lumi", b"gamt", b"clrt", b"clro",
    b"rXYZ", b"gXYZ", b"bXYZ", b"rTRC", b"gTRC", b"bTRC", b"kTRC", b"cicp",
    b"A2B0", b"A2B1", b"A2B2", b"B2A0", b"B2A1", b"B2A2", b"D2B0", b"D2B1", b"D2B2", b"D2B3",
    b"B2D0", b"B2D1", b"B2D2", b"B2D3", b"pre0", b"pre1", b"pre2", b"ncl2",
}
DESCRIPTION = "Colour profile"
HEADER = 128


def colour_only(profile: bytes) -> bytes | None:
    """The profile with only its colour tags and a neutral description; None when it cannot be read."""
    table = read_tags(profile)
    if table is None:
        return None
    kept = [(signature, body) for signature, body in table if signature in COLOUR_TAGS]
    return write_tags(profile, [*kept, (b"desc", _description(profile[8]))])


def read_tags(profile: bytes) -> list[tuple[bytes, bytes]] | None:
    """The profile's tags as (signature, data) in table order; None when it is not a readable profile."""
    if len(profile) < HEADER + 4 or profile[36:40] != b"acsp":
        return None
    (count,) = struct.unpack(">I", profile[HEADER:HEADER + 4])
    if count > 1000 or HEADER + 4 + 12 * count > len(profile):
        return None
    tags = []
    for index in range(count):
        signature, offset, size = struct.unpack(">4sII", profile[HEADER + 4 + 12 * index:HEADER + 16 + 12 * index])
        if offset + size <= len(profile):
            tags.append((signature, profile[offset:offset + size]))
    return tags


def write_tags(profile: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """A profile with `profile`'s header and these tags (sizes and offsets recomputed)."""
    table, data, offset = [], b"", HEADER + 4 + 12 * len(tags)
    for signature, body in tags:
        table.append(struct.pack(">4sII", signature, offset, len(body)))
        padded = body + b"\0" * (-len(body) % 4)  # tag data starts on 4-byte boundaries
        data += padded
        offset += len(padded)
    header = bytearray(profile[:HEADER])
    header[0:4] = struct.pack(">I", offset)
    header[84:100] = bytes(16)  # the profile ID (an MD5 of the old bytes) no longer applies: zero means none
    return bytes(header) + struct.pack(">I", len(tags)) + b"".join(table) + data


def _description(version: int) -> bytes:
    if version >= 4:  # multiLocalizedUnicodeType, one English record
        text = DESCRIPTION.encode("utf-16-be")
        return b"mluc" + bytes(4) + struct.pack(">II", 1, 12) + b"enUS" + struct.pack(">II", len(text), 28) + text
    ascii_text = DESCRIPTION.encode("ascii") + b"\0"  # textDescriptionType (v2)
    return (b"desc" + bytes(4) + struct.pack(">I", len(ascii_text)) + ascii_text
            + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + bytes(67))
