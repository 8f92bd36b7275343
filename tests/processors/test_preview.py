"""The small WebP the waiting page shows for each image result."""

import shutil

import pytest
from PIL import Image, ImageChops, ImageStat

from backend.processors.imaging import PREVIEW_SIDE, preview_make
from backend.processors.transform import ConvertFormat
from backend.processors.watermark import TextWatermark
from tests.helpers import encode, noisy_image

STAMP = {"text": "© Preview", "size": 8, "opacity": 80, "color": "#ffffff", "position": "center", "margin": 3}


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


@pytest.mark.parametrize(("mode", "fmt", "size"), [("RGB", "JPEG", (1000, 600)), ("CMYK", "JPEG", (500, 900)),
                                                   ("RGBA", "PNG", (700, 700)), ("RGB", "PNG", (200, 100))])
def test_the_preview_of_a_fresh_result_matches_one_decoded_from_it(tmp_path, mode, fmt, size):
    source = tmp_path / f"in.{fmt.lower()}"
    source.write_bytes(encode(noisy_image(size, "RGBA" if mode == "RGBA" else "RGB").convert(mode), fmt))
    (tmp_path / "out").mkdir()
    (result,) = TextWatermark().edit(source, tmp_path / "out", STAMP, lambda fraction: None)

    fresh = Image.open(preview_make(result, tmp_path / "fresh.webp"))  # from the pixels just written
    elsewhere = tmp_path / ("copy" + result.suffix)
    shutil.copy(result, elsewhere)
    decoded = Image.open(preview_make(elsewhere, tmp_path / "decoded.webp"))  # from the file

    ratio = min(1.0, PREVIEW_SIDE / max(size))
    expected = (round(size[0] * ratio), round(size[1] * ratio))
    assert fresh.format == decoded.format == "WEBP"
    assert fresh.size == decoded.size == expected
    assert fresh.mode == decoded.mode
    assert mean_difference(fresh, decoded) < 4, "the same picture, the watermark included"


def test_a_palette_gif_result_previews_in_colour(tmp_path):
    source = tmp_path / "in.png"
    source.write_bytes(encode(Image.new("RGB", (640, 480), (200, 30, 30)), "PNG"))
    (tmp_path / "out").mkdir()
    (result,) = ConvertFormat().edit(source, tmp_path / "out", {"format": "GIF", "quality": 85}, lambda f: None)
    preview = Image.open(preview_make(result, tmp_path / "p.webp")).convert("RGB")
    assert preview.size == (320, 240)
    red, green, blue = preview.getpixel((160, 120))
    assert red > 150 and green < 80 and blue < 80


def test_no_preview_for_what_is_not_an_image(tmp_path):
    playlist = tmp_path / "index.m3u8"
    playlist.write_text("#EXTM3U\n")
    assert preview_make(playlist, tmp_path / "p.webp") is None
