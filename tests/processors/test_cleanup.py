"""Clean up metadata: every text segment a person may not want to publish goes, in every format
that carries one; the colour profile stays, as colour only."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageCms, PngImagePlugin, TiffImagePlugin

from backend.processors.chain import run_steps
from backend.processors.icc import COLOUR_TAGS, colour_only, read_tags, write_tags
from tests.helpers import valid_options
from tests.support import images

SECRET = b"SECRET-<script>alert(1)</script>"
SECRET_UTF16 = SECRET.decode().encode("utf-16-be")  # how ICC profiles store text


def tags(profile: bytes) -> dict[bytes, bytes]:
    return dict(read_tags(profile))


def with_text_tags(profile: bytes) -> bytes:
    """The profile with a copyright, a device name and a metadata tag carrying the secret, as an attacker adds them."""
    text = SECRET.decode().encode("utf-16-be")
    mluc = b"mluc" + bytes(4) + struct.pack(">II", 1, 12) + b"enUS" + struct.pack(">II", len(text), 28) + text
    replaced = {**tags(profile), b"cprt": mluc, b"dmnd": mluc, b"desc": mluc,
                b"meta": b"dict" + bytes(4) + struct.pack(">II", 0, 16)}
    return write_tags(profile, [*replaced.items(), (b"zzzz", SECRET)])  # and a private tag


HOSTILE_ICC = with_text_tags(images.srgb_profile())
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description dc:creator="' + SECRET
       + b'"/></rdf:RDF></x:xmpmeta>')


def exif_with_secret() -> bytes:
    exif = images.camera_exif()
    exif[0x010E] = SECRET.decode()  # ImageDescription
    exif[0x013B] = "Jane Doe"  # Artist
    return exif.tobytes()


def with_iptc(jpeg: bytes) -> bytes:
    """An APP13 Photoshop/IPTC segment (caption = the secret) right after the SOI marker."""
    record = b"\x1c\x02\x78" + struct.pack(">H", len(SECRET)) + SECRET
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(record)) + record
    payload = b"Photoshop 3.0\x00" + resource
    return jpeg[:2] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def sources() -> dict[str, bytes]:
    photo = images.photo("coffee").resize((200, 150))
    out = {}
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", exif=exif_with_secret(), xmp=XMP, comment=SECRET, icc_profile=HOSTILE_ICC)
    out["jpeg.jpg"] = with_iptc(buffer.getvalue())
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", SECRET.decode())
    text.add_text("Author", SECRET.decode(), zip=True)
    text.add_itxt("Description", SECRET.decode(), zip=True)
    text.add_itxt("XML:com.adobe.xmp", XMP.decode())
    buffer = io.BytesIO()
    photo.save(buffer, "PNG", pnginfo=text, exif=exif_with_secret(), icc_profile=HOSTILE_ICC)
    out["png.png"] = buffer.getvalue()
    buffer = io.BytesIO()
    photo.save(buffer, "WEBP", exif=exif_with_secret(), xmp=XMP, icc_profile=HOSTILE_ICC)
    out["webp.webp"] = buffer.getvalue()
    buffer = io.BytesIO()
    photo.convert("P").save(buffer, "GIF", comment=SECRET)
    out["gif.gif"] = buffer.getvalue()
    info = TiffImagePlugin.ImageFileDirectory_v2()
    info[270], info[315], info[33432] = SECRET.decode(), SECRET.decode(), SECRET.decode()
    buffer = io.BytesIO()
    photo.save(buffer, "TIFF", tiffinfo=info, icc_profile=HOSTILE_ICC)
    out["tiff.tiff"] = buffer.getvalue()
    return out


def everything_readable(data: bytes) -> bytes:
    """The file's bytes, plus every zlib stream inside it inflated (PNG's zTXt, iTXt and iCCP)."""
    found = [data]
    for start in range(len(data) - 1):
        if data[start] == 0x78 and data[start + 1] in (0x01, 0x5E, 0x9C, 0xDA):
            try:
                found.append(zlib.decompressobj().decompress(data[start:]))
            except zlib.error:
                continue
    return b"".join(found)


@pytest.mark.parametrize("name", list(sources()))
@pytest.mark.parametrize("target", [None, "JPEG", "PNG", "WEBP", "TIFF"])
def test_cleanup_leaves_no_text_in_any_format(tmp_path, name, target):
    source = tmp_path / name
    source.write_bytes(sources()[name])
    assert SECRET in everything_readable(source.read_bytes()), "the input really carries the secret"
    steps = [{"processor": "cleanup", "options": {}}]
    if target:
        steps.append({"processor": "convert", "options": valid_options("convert", format=target)})
    work = tmp_path / "work"
    work.mkdir()
    (result,) = run_steps(steps, source, work, lambda _: None)
    data = result.read_bytes()
    readable = everything_readable(data)
    assert SECRET not in readable and SECRET_UTF16 not in readable, f"{name} → {target or 'same'} kept the secret"
    assert b"Jane Doe" not in data and b"PhoneMaker" not in data
    with Image.open(result) as image:
        icc = image.info.get("icc_profile")
    if icc:  # when it stayed (formats without a profile drop it), it is the same colour profile
        assert {k: v for k, v in tags(icc).items() if k in COLOUR_TAGS} == {
            k: v for k, v in tags(images.srgb_profile()).items() if k in COLOUR_TAGS}
        ImageCms.ImageCmsProfile(io.BytesIO(icc))  # and still a valid profile


def test_the_colour_profile_converts_colours_exactly_as_before():
    original = ImageCms.ImageCmsProfile(io.BytesIO(HOSTILE_ICC))
    cleaned = ImageCms.ImageCmsProfile(io.BytesIO(colour_only(HOSTILE_ICC)))
    assert SECRET_UTF16 in HOSTILE_ICC and SECRET in HOSTILE_ICC
    assert SECRET not in colour_only(HOSTILE_ICC) and SECRET_UTF16 not in colour_only(HOSTILE_ICC)
    assert ImageCms.getProfileDescription(cleaned).strip() == "Colour profile"
    sample = images.photo("coffee").resize((64, 48))
    lab = ImageCms.createProfile("LAB")
    before = ImageCms.profileToProfile(sample, original, lab, outputMode="LAB")
    after = ImageCms.profileToProfile(sample, cleaned, lab, outputMode="LAB")
    assert before.tobytes() == after.tobytes()


@pytest.mark.parametrize("damaged", [b"", b"x" * 200, images.srgb_profile()[:140]])
def test_a_damaged_profile_is_dropped_rather_than_copied(damaged):
    assert colour_only(damaged) is None


def test_other_steps_keep_metadata_as_before(tmp_path):
    source = tmp_path / "jpeg.jpg"
    source.write_bytes(sources()["jpeg.jpg"])
    work = tmp_path / "work"
    work.mkdir()
    (result,) = run_steps([{"processor": "colour", "options": {"operation": "sepia"}}], source, work, lambda _: None)
    assert Path(result).read_bytes().count(b"Jane Doe") == 1, "EXIF stays unless cleanup is a step"
