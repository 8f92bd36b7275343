"""What an upload really is, judged from its bytes (`uploads.sniff`): every image format by its header,
camera RAW by its maker, video and audio containers by their first bytes, and budgets applied before
any pixel is decoded."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from backend.batches.uploads import Sniffed, UploadRefused, media_type, sniff
from backend.processors import raw
from backend.processors.imaging import DECODERS
from tests.support import images, media

# NEF and ARW are TIFF structures told apart by their maker; the test files are DNG's layout under
# those makers' names (no camera's own file can be made here), which LibRaw decodes the same way.
CAMERA_MAKERS = {"image/x-nikon-nef": "NIKON CORPORATION", "image/x-sony-arw": "SONY"}


@pytest.mark.parametrize("name", images.NEWER_FORMATS)
def test_each_new_format_is_recognised_from_its_bytes(name):
    make, content_type = images.NEWER_FORMATS[name]
    assert sniff(io.BytesIO(make())).content_type == content_type


@pytest.mark.parametrize("content_type", CAMERA_MAKERS)
def test_camera_raw_of_each_maker_is_recognised_and_decoded(content_type):
    data = images.camera_dng(make=CAMERA_MAKERS[content_type], dng=False)
    assert sniff(io.BytesIO(data)) == Sniffed(content_type, 450, 300)
    with Image.open(io.BytesIO(data), formats=DECODERS) as image:
        assert image.format == raw.FORMAT and image.convert("RGB").size == (450, 300)


def test_a_tiff_by_a_camera_maker_without_raw_data_stays_a_tiff():
    """Nikon scanners and cameras' TIFF mode write plain TIFFs with the maker's name."""
    data = images.save(images.photo(), "TIFF", tiffinfo={271: "NIKON CORPORATION"})
    assert sniff(io.BytesIO(data)).content_type == "image/tiff"


@pytest.mark.parametrize("data", [
    b"II*\x00\x10\x00\x00\x00CR\x02\x00\x00\x00\x00\x00" + bytes(100),  # Canon's mark, then nothing
    images.camera_dng(make="NIKON CORPORATION", dng=False)[:600],  # a NEF cut inside its directories
], ids=["cr2-empty", "nef-cut"])
def test_a_camera_raw_libraw_cannot_read_is_refused_with_a_sentence(data):
    with pytest.raises(UploadRefused, match=r"camera RAW file .* could not be read"):
        sniff(io.BytesIO(data))


def test_a_camera_raw_declaring_huge_dimensions_is_refused_before_any_decode():
    with pytest.raises(UploadRefused, match="too large"):
        sniff(io.BytesIO(images.camera_dng(declared=(60000, 60000))))


def test_a_heic_declaring_huge_dimensions_is_refused_before_any_decode(settings):
    with pytest.raises(UploadRefused, match="too large"):
        sniff(io.BytesIO(images.huge_heic()))
    settings.MAX_IMAGE_PIXELS = 100 * 100  # the site's own budget, under Pillow's bomb limit
    with pytest.raises(UploadRefused, match="too large"):
        sniff(io.BytesIO(images.phone_heic()))


@media.needs_ffmpeg
@pytest.mark.parametrize(("name", "expected"), [
    ("clip.mp4", "video/mp4"), ("clip.mov", "video/quicktime"), ("clip.mkv", "video/x-matroska"),
    ("clip.avi", "video/x-msvideo"), ("clip.webm", "video/webm"),
])
def test_video_containers_are_recognised_by_their_bytes(tmp_path, name, expected):
    path = media.video(tmp_path / name, seconds=0.5)
    renamed = SimpleUploadedFile("no-extension", path.read_bytes())
    assert sniff(renamed).content_type == expected


@media.needs_ffmpeg
@pytest.mark.parametrize(("name", "expected"), [
    ("tone.wav", "audio/wav"), ("tone.flac", "audio/flac"), ("tone.ogg", "audio/ogg"), ("tone.mp3", "audio/mpeg"),
])
def test_audio_formats_are_recognised_by_their_bytes(tmp_path, name, expected):
    assert sniff(SimpleUploadedFile("x", media.audio(tmp_path / name, 0.5).read_bytes())).content_type == expected


@pytest.mark.parametrize(("head", "expected"), [
    (b"\x00\x00\x00\x18ftypqt  ", "video/quicktime"), (b"\x00\x00\x00\x18ftypM4A ", "audio/mp4"),
    (b"\x00\x00\x00\x18ftypisom", "video/mp4"), (b"\x00\x00\x00\x08moov", "video/quicktime"),
    (b"\x1a\x45\xdf\xa3\x01webm", "video/webm"), (b"\x1a\x45\xdf\xa3\x01", "video/x-matroska"),
    (b"RIFF\x00\x00\x00\x00AVI ", "video/x-msvideo"), (b"RIFF\x00\x00\x00\x00WAVE", "audio/wav"),
    (b"fLaC", "audio/flac"), (b"OggS", "audio/ogg"), (b"ID3\x04", "audio/mpeg"), (b"\xff\xf1", "audio/aac"),
    (b"\xff\xfb", "audio/mpeg"), (b"#EXTM3U\n", "application/octet-stream"),
    (b"ffconcat version 1.0", "application/octet-stream"), (b"", "application/octet-stream"),
])
def test_media_containers_are_told_by_their_first_bytes(head, expected):
    assert media_type(head) == expected


def test_an_empty_file_is_refused():
    with pytest.raises(UploadRefused, match="empty"):
        sniff(io.BytesIO(b""))
