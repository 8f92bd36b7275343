"""Headers read without their decoders (`processors.headers`): a JPEG XL's size and a TIFF's page count,
for every variant a generator makes, and the upload check relying on them alone."""

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, TiffImagePlugin

from backend.batches.uploads import UploadRefused, sniff
from backend.processors import headers
from tests.support import images

dimension = st.integers(min_value=1, max_value=(1 << 30))


@given(width=dimension, height=dimension, container=st.booleans())
@settings(max_examples=200, deadline=None)
def test_a_jpeg_xl_size_header_is_read_for_any_size(width, height, container):
    assert headers.jxl_size(io.BytesIO(images.jxl_declaring(width, height, container))) == (width, height)


@pytest.mark.parametrize("size", [(1, 1), (8, 8), (333, 777), (1920, 1080), (4000, 3000), (64, 200)])
@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_the_header_agrees_with_the_decoder_on_real_files(size, mode):
    encoded = io.BytesIO()
    Image.new(mode, size, "white").save(encoded, "JXL")
    assert headers.jxl_size(io.BytesIO(encoded.getvalue())) == size == Image.open(encoded).size


@pytest.mark.parametrize("data", [b"\xff\x0a", b"\x00\x00\x00\x0cJXL \x0d\x0a\x87\x0a\x00\x00\x00\x00junk",
                                  b"\x00\x00\x00\x0cJXL \x0d\x0a\x87\x0a" + b"\x00\x00\x00\x09free\x00" * 3])
def test_a_cut_or_empty_jpeg_xl_header_is_an_error_not_a_guess(data):
    with pytest.raises(headers.HeaderError):
        headers.jxl_size(io.BytesIO(data))


@given(count=st.integers(min_value=1, max_value=60), loop=st.booleans(), limit=st.integers(min_value=1, max_value=80))
@settings(max_examples=100, deadline=None)
def test_tiff_pages_are_counted_up_to_the_limit_even_when_the_chain_loops(count, loop, limit):
    assert headers.tiff_page_count(io.BytesIO(images.tiff_pages(count, loop)), limit) == min(count, limit)


def test_a_real_multipage_tiff_is_counted_as_pillow_counts_it():
    pages = [Image.new("RGB", (4, 4), (i, i, i)) for i in range(7)]
    encoded = io.BytesIO()
    pages[0].save(encoded, "TIFF", save_all=True, append_images=pages[1:])
    assert headers.tiff_page_count(io.BytesIO(encoded.getvalue()), 100) == 7 == Image.open(encoded).n_frames


def test_the_upload_check_never_calls_the_jpeg_xl_decoder_nor_walks_tiff_pages(monkeypatch, settings):
    """A header's word is enough to refuse; the decoder (which decodes on opening) is never reached."""
    import pillow_jxl.JpegXLImagePlugin as plugin

    def decoder(*args, **kwargs):
        raise AssertionError("the JPEG XL decoder was called")

    monkeypatch.setattr(plugin.JXLImageFile, "_open", decoder)
    monkeypatch.setattr(TiffImagePlugin.TiffImageFile, "n_frames", property(decoder))
    for width, height in [(30000, 30000), (100_000, 1001), (1 << 30, 1 << 30)]:
        for container in (False, True):
            with pytest.raises(UploadRefused, match="too large"):
                sniff(io.BytesIO(images.jxl_declaring(width, height, container)))
    assert sniff(io.BytesIO(images.jxl_declaring(640, 480))).width == 640
    with pytest.raises(UploadRefused, match="animation too large"):
        sniff(io.BytesIO(images.tiff_pages(40_000)))
    with pytest.raises(UploadRefused, match="animation too large"):
        sniff(io.BytesIO(images.tiff_pages(settings.MAX_ANIMATION_FRAMES + 1, loop=True)))
    assert sniff(io.BytesIO(images.tiff_pages(3))).content_type == "image/tiff"


def test_a_worker_refuses_a_jpeg_xl_bomb_before_its_decoder_opens_it(monkeypatch, tmp_path):
    import pillow_jxl.JpegXLImagePlugin as plugin

    from backend.processors.base import ProcessingError
    from backend.processors.imaging import run_image_chain
    from backend.processors.transform import Thumbnail

    monkeypatch.setattr(plugin.JXLImageFile, "_open", lambda self: pytest.fail("the decoder was called"))
    source = tmp_path / "bomb.jxl"
    source.write_bytes(images.jxl_declaring(30000, 30000))
    with pytest.raises(ProcessingError, match="too large"):
        run_image_chain([(Thumbnail(), {"size": 100, "square": False})], source, tmp_path, lambda _: None)
