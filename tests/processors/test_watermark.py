"""The text watermark on real images of each kind it accepts."""

import io
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from backend.processors import ProcessingError, registry
from backend.processors.watermark import TextWatermark, anchor_box
from tests.helpers import assert_watermarked, encode, noisy_image, region_difference, with_orientation

OPTIONS = {"text": "© Sample", "size": 8, "opacity": 80, "color": "#ffffff", "position": "bottom-right", "margin": 3}


def run(tmp_path: Path, name: str, data: bytes, **options) -> Path:
    source = tmp_path / name
    source.write_bytes(data)
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    seen = []
    (result,) = TextWatermark().edit(source, out, {**OPTIONS, **options}, seen.append)
    assert seen and seen[-1] == 1.0
    return result


@pytest.mark.parametrize(("fmt", "suffix"), [("JPEG", ".jpg"), ("PNG", ".png"), ("WEBP", ".webp")])
def test_same_format_out_and_watermark_where_asked(tmp_path, fmt, suffix):
    data = encode(noisy_image((640, 400)), fmt, **({"quality": 95} if fmt != "PNG" else {}))
    result = run(tmp_path, "pic" + suffix, data)
    assert result.suffix == suffix and Image.open(result).format == fmt
    assert_watermarked(data, result.read_bytes())


def test_exif_orientation_is_applied_and_cleared(tmp_path):
    result = run(tmp_path, "p.jpg", with_orientation(noisy_image((300, 200)), 6))
    image = Image.open(result)
    assert image.size == (200, 300) and image.getexif().get(0x0112) is None


def test_alpha_is_kept(tmp_path):
    result = Image.open(run(tmp_path, "a.png", encode(noisy_image((200, 200), "RGBA"), "PNG")))
    assert result.mode == "RGBA" and result.getchannel("A").getextrema()[0] >= 128


def test_cmyk_jpeg_stays_cmyk_with_its_profile(tmp_path):
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(noisy_image((300, 200)).convert("CMYK"), "JPEG", icc_profile=profile, quality=95)
    path = run(tmp_path, "c.jpg", data)
    result = Image.open(path)
    assert result.mode == "CMYK" and result.info.get("icc_profile") == profile
    assert_watermarked(data, path.read_bytes())


def test_every_frame_of_an_animation_is_stamped(tmp_path):
    frames = [noisy_image((200, 120), seed=s) for s in range(3)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "WEBP", save_all=True, append_images=frames[1:], duration=100, loop=0, lossless=True)
    result = Image.open(run(tmp_path, "anim.webp", buffer.getvalue()))
    assert result.n_frames == 3
    for index in range(3):
        result.seek(index)
        corner = (130, 90, 200, 120)
        assert region_difference(frames[index], result.convert("RGB"), corner) > 6


def test_a_truncated_image_fails_with_a_plain_message(tmp_path):
    data = encode(noisy_image((300, 300)), "JPEG")
    with pytest.raises(ProcessingError, match="damaged or incomplete"):
        run(tmp_path, "t.jpg", data[: len(data) // 2])


def test_long_text_is_shrunk_to_fit(tmp_path):
    data = encode(noisy_image((300, 200)), "PNG")
    result = Image.open(run(tmp_path, "l.png", data, text="A very long watermark text " * 4, size=20))
    assert result.size == (300, 200)


@pytest.mark.parametrize(("position", "expected"), [
    ("top-left", (10, 10)), ("top", (45, 10)), ("center", (45, 40)), ("bottom-right", (80, 70)), ("left", (10, 40)),
])
def test_anchor_positions(position, expected):
    assert anchor_box(position, (100, 100), (10, 20), 10) == expected


def test_the_watermark_is_registered_and_offered():
    assert registry.get("watermark_text") is TextWatermark
    assert TextWatermark in registry.available()
