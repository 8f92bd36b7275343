"""The text watermark on real images of each kind it accepts."""

import io
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageCms

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


def flat(size: tuple[int, int], colour: tuple[int, int, int] = (90, 120, 60)) -> Image.Image:
    return Image.new("RGB", size, colour)


def test_a_corner_mark_touches_only_the_pixels_it_covers():
    from backend.processors import text as text_render

    image = flat((2000, 1500))
    options = {**OPTIONS, "size": 5, "position": "top-left", "margin": 2}
    TextWatermark().transform(image, options)
    changed = ImageChops.difference(image, flat((2000, 1500))).getbbox()
    layout = text_render.fitting_layout(options["text"], 100, 2000 * 0.9)
    assert changed is not None
    # Inside the text's own box at its anchor, 40 px in (2% of 2000).
    assert changed[0] >= 40 and changed[1] >= 40
    assert changed[2] <= 40 + layout.size[0] and changed[3] <= 40 + layout.size[1]


@pytest.mark.parametrize("size", [(1200, 800), (3000, 120), (120, 3000), (9, 7)])
def test_tiles_cover_every_part_of_any_shape_of_image(size):
    image = flat(size)
    TextWatermark().transform(image, {**OPTIONS, "size": 8, "opacity": 100, "position": "tiled"})
    width, height = size
    cells = [(x * width // 3, y * height // 3, (x + 1) * width // 3, (y + 1) * height // 3)
             for x in range(3) for y in range(3)] if min(size) > 200 else [(0, 0, width, height)]
    for cell in cells:
        assert ImageChops.difference(image.crop(cell), flat(size).crop(cell)).getbbox(), f"no mark in {cell}"


def test_the_text_is_turned_diagonally_when_tiled():
    from backend.processors import text as text_render
    from backend.processors.watermark import TILE_ANGLE, text_mark, turn

    mark = text_mark(text_render.layout("MMMMMMMM", 60), (255, 255, 255), 1.0)
    turned = turn(mark).getchannel("A")
    left_half = turned.crop((0, 0, turned.width // 2, turned.height)).getbbox()
    right_half = turned.crop((turned.width // 2, 0, turned.width, turned.height)).getbbox()
    # Counter-clockwise: the text climbs to the right, so its right half sits higher.
    assert right_half[1] < left_half[1] and right_half[3] < left_half[3], TILE_ANGLE


@pytest.mark.parametrize("position", ["tiled", "center"])
def test_a_white_logo_on_white_leaves_no_dark_fringe(tmp_path, position):
    from backend.processors.watermark import ImageWatermark

    logo = Image.new("RGBA", (120, 60), (0, 0, 0, 0))  # transparent black around an opaque white block
    logo.paste((255, 255, 255, 255), (20, 15, 100, 45))
    logo_path = tmp_path / "logo.png"
    logo.save(logo_path)
    image = flat((800, 600), (255, 255, 255))
    ImageWatermark().transform(image, {"logo": str(logo_path), "scale": 20, "opacity": 100, "position": position,
                                       "margin": 3})
    assert image.convert("L").getextrema()[0] >= 250, "edges blend white into white"


def test_opacity_and_outline_blend_like_two_layers():
    """The single pre-composed mark gives what the outline, then the letters, blended one after the other give."""
    from backend.processors import text as text_render
    from backend.processors.watermark import text_mark

    layout = text_render.layout("Hi", 80)
    mark = text_mark(layout, (255, 0, 0), 0.5)
    glyphs = Image.new("L", layout.size, 0)
    from PIL import ImageDraw

    text_render.draw(ImageDraw.Draw(glyphs), (0, 0), layout, outline=False)
    inside = next((x, y) for y in range(layout.size[1]) for x in range(layout.size[0])
                  if glyphs.getpixel((x, y)) == 255)
    background = (0, 0, 255)
    image = Image.new("RGB", layout.size, background)
    image.paste(mark.convert("RGB"), (0, 0), mark.getchannel("A"))
    # Inside a letter: black at 30% first, then red at 50% over it.
    expected = tuple(round((b * 0.7) * 0.5 + r * 0.5) for b, r in zip(background, (255, 0, 0), strict=True))
    assert all(abs(a - e) <= 3 for a, e in zip(image.getpixel(inside), expected, strict=True))


def test_a_batch_draws_its_mark_once_and_each_new_mark_afresh(monkeypatch):
    from backend.processors import watermark

    drawn = []
    original = watermark.text_mark
    monkeypatch.setattr(watermark, "text_mark", lambda *args: drawn.append(args) or original(*args))
    watermark._prepared.clear()
    first, second = flat((640, 480)), flat((640, 480))
    TextWatermark().transform(first, OPTIONS)
    TextWatermark().transform(second, OPTIONS)
    assert len(drawn) == 1 and first.tobytes() == second.tobytes(), "the same mark, drawn once"
    TextWatermark().transform(flat((640, 480)), {**OPTIONS, "text": "Other"})
    TextWatermark().transform(flat((900, 480)), OPTIONS)
    assert len(drawn) == 3, "another text, another width: drawn again"
    for index in range(watermark.PREPARED_KEPT + 5):
        TextWatermark().transform(flat((200 + 50 * index, 80)), OPTIONS)  # a text size each
    assert len(watermark._prepared) == watermark.PREPARED_KEPT


def test_another_logo_at_the_same_path_is_not_mistaken_for_the_last(tmp_path):
    from backend.processors.watermark import ImageWatermark

    path = tmp_path / "logo.png"
    options = {"logo": str(path), "scale": 30, "opacity": 100, "position": "center", "margin": 0}
    results = []
    for colour in ((255, 0, 0, 255), (0, 0, 255, 255)):
        Image.new("RGBA", (50, 50), colour).save(path)
        image = flat((400, 400), (255, 255, 255))
        ImageWatermark().transform(image, options)
        results.append(image.getpixel((200, 200)))
    assert results == [(255, 0, 0), (0, 0, 255)]
