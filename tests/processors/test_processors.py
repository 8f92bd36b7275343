"""Each built-in image processor on real images of every kind, checking the output's real properties."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageChops, ImageStat, features

from backend.processors import ProcessingError, registry
from backend.processors import text as text_render
from backend.processors.chain import run_steps
from backend.processors.icc import colour_only
from backend.processors.transform import output_formats
from tests.helpers import assert_watermarked, changed_fraction
from tests.helpers import valid_options as options
from tests.support import images

BUILTIN = ["watermark_text", "watermark_image", "resize", "thumbnail", "trim", "convert", "cleanup", "colour"]


def process(tmp_path: Path, name: str, data: bytes, *steps: tuple[str, dict]) -> tuple[Path, Image.Image]:
    """Run steps the way a worker does (run_steps) and open the single result."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = tmp_path / name
    source.write_bytes(data)
    work = tmp_path / "work"
    work.mkdir()
    chain = []
    for processor, opts in steps:
        # Uploaded option files reach the worker as local paths (see processing._local_assets).
        resolved = {}
        for key, value in opts.items():
            if isinstance(value, SimpleUploadedFile):
                path = tmp_path / f"{key}-asset.png"
                value.seek(0)
                path.write_bytes(value.read())
                value = str(path)
            resolved[key] = value
        chain.append({"processor": processor, "options": resolved})
    seen: list[float] = []
    (result,) = run_steps(chain, source, work, seen.append)
    assert seen[-1] == pytest.approx(1.0)
    image = Image.open(result)
    image.load()
    return result, image


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a.convert("RGB"), b.convert("RGB"))).mean) / 3


def frames_of(image: Image.Image) -> int:
    return getattr(image, "n_frames", 1)


# ---------------------------------------------------------------------------
# Every processor × every kind of input


def default_options(name: str) -> dict:
    extra = {"watermark_text": {"text": "© Gallery"}, "watermark_image": {"logo": images.logo_png()}}
    return options(name, **extra.get(name, {}))


@pytest.mark.parametrize("kind", list(images.KINDS))
@pytest.mark.parametrize("processor", BUILTIN)
def test_every_processor_handles_every_kind_of_image(tmp_path, processor, kind):
    data = images.KINDS[kind]()
    with Image.open(io.BytesIO(data)) as source:
        source_format, source_frames, source_icc = source.format, frames_of(source), source.info.get("icc_profile")
    if source_frames > 1 and registry.get(processor).animation == "refuse":
        with pytest.raises(ProcessingError, match=rf"is animated \({source_frames} frames\); .* still images only"):
            process(tmp_path, kind, data, (processor, default_options(processor)))
        return
    path, result = process(tmp_path, kind, data, (processor, default_options(processor)))
    expected_format = "WEBP" if processor == "convert" else source_format  # convert's default target
    assert result.format == expected_format
    assert path.suffix == {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif"}[expected_format]
    assert frames_of(result) == source_frames, "animations keep every frame"
    if kind == "sixteen-bit.png":  # scaled to 8 bits, not clipped to white
        assert result.mode in {"L", "LA", "RGB", "RGBA"}
        low, high = result.convert("L").getextrema()
        assert high - low > 150
    if kind == "alpha.png" and processor not in {"trim", "thumbnail"}:  # those two crop the transparent edge away
        assert result.mode == "RGBA" and result.getchannel("A").getextrema()[0] < 10, "transparency is kept"
    if source_icc and processor != "colour":
        expected = colour_only(source_icc) if processor == "cleanup" else source_icc
        assert result.info.get("icc_profile") == expected, "the colour profile survives (cleanup: as colour only)"


# ---------------------------------------------------------------------------
# Resize and thumbnail


@pytest.mark.parametrize(("resize", "expected"), [
    ({"mode": "fit", "width": 300, "height": 300}, (300, 200)),
    ({"mode": "fit", "width": 150, "height": None}, (150, 100)),
    ({"mode": "fill", "width": 200, "height": 200}, (200, 200)),
    ({"mode": "exact", "width": 123, "height": 77}, (123, 77)),
    ({"mode": "percent", "percent": 50}, (300, 200)),
    ({"mode": "fit", "width": 2000, "height": 2000}, (600, 400)),  # never enlarged unless asked
    ({"mode": "fit", "width": 1200, "height": 1200, "upscale": True}, (1200, 800)),
    ({"mode": "percent", "percent": 150, "upscale": True}, (900, 600)),
])
def test_resize_modes(tmp_path, resize, expected):
    data = images.save(images.photo("coffee"), "JPEG", quality=95)  # 600×400
    _, result = process(tmp_path, "coffee.jpg", data, ("resize", options("resize", **resize)))
    assert result.size == expected and result.format == "JPEG"


def test_resize_looks_like_the_original_scaled(tmp_path):
    original = images.photo("astronaut")
    _, result = process(tmp_path, "a.png", images.save(original, "PNG"),
                        ("resize", options("resize", mode="fit", width=256, height=256)))
    reference = original.resize((256, 256), Image.Resampling.LANCZOS)
    assert mean_difference(result, reference) < 2


def test_fill_crops_the_centre(tmp_path):
    original = images.photo("coffee")  # 600×400: fill to 400×400 keeps the middle 400 columns
    _, result = process(tmp_path, "c.png", images.save(original, "PNG"),
                        ("resize", options("resize", mode="fill", width=400, height=400)))
    assert mean_difference(result, original.crop((100, 0, 500, 400))) < 1


def test_orientation_is_applied_before_resizing(tmp_path):
    data = images.phone_jpeg("coffee", orientation=6)  # stored 600×400, shown 400×600
    _, result = process(tmp_path, "r.jpg", data, ("resize", options("resize", mode="fit", width=200, height=300)))
    assert result.size == (200, 300)
    assert result.getexif().get(images.ORIENTATION) is None, "the orientation is applied, so no longer stated"
    upright = images.photo("coffee").transpose(Image.Transpose.ROTATE_270).resize((200, 300))
    assert mean_difference(result, upright) < 8


def test_big_jpeg_downscales_decode_only_what_they_need(tmp_path, monkeypatch):
    from PIL import JpegImagePlugin

    decoded_sizes = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(image, mode, size):
        result = real_draft(image, mode, size)
        decoded_sizes.append(image.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    big = images.photo("astronaut").resize((4096, 4096))
    _, result = process(tmp_path, "big.jpg", images.save(big, "JPEG", quality=90),
                        ("resize", options("resize", mode="fit", width=500, height=500)))
    assert result.size == (500, 500)
    assert decoded_sizes == [(512, 512)], "JPEG decoded at 1/8 scale, never at full size"


@pytest.mark.parametrize(("square", "source", "expected"), [
    (True, (600, 400), (128, 128)),
    (False, (600, 400), (128, 85)),
    (True, (100, 60), (60, 60)),  # smaller than asked: cropped square, not enlarged
])
def test_thumbnail(tmp_path, square, source, expected):
    data = images.save(images.photo("coffee").resize(source), "PNG")
    _, result = process(tmp_path, "t.png", data, ("thumbnail", options("thumbnail", size=128, square=square)))
    assert result.size == expected


# ---------------------------------------------------------------------------
# Convert format


def test_only_formats_this_pillow_can_write_are_offered():
    offered = [value for value, _ in output_formats()]
    assert offered[:3] == ["JPEG", "PNG", "WEBP"] and {"TIFF", "GIF"} <= set(offered)
    assert ("AVIF" in offered) == features.check("avif")


@pytest.mark.parametrize("fmt", [value for value, _ in output_formats()])
def test_convert_writes_each_offered_format(tmp_path, fmt):
    data = images.rgba_png()
    path, result = process(tmp_path, "cat.png", data,
                           ("convert", options("convert", format=fmt, background="#ff0000")))
    assert result.format == fmt
    assert path.suffix == {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "AVIF": ".avif", "TIFF": ".tiff",
                           "GIF": ".gif", "JXL": ".jxl", "HEIF": ".heic"}[fmt]
    corner = result.convert("RGBA").getpixel((0, 100))  # fully transparent in the source
    if fmt == "JPEG":
        assert result.mode == "RGB"
        assert corner[0] > 200 and corner[1] < 40 and corner[2] < 40, "flattened onto the chosen background"
    elif fmt == "GIF":
        assert result.mode == "P"
    else:
        assert corner[3] < 10, f"{fmt} keeps transparency"


def test_jpeg_progressive_and_quality(tmp_path):
    data = images.save(images.photo("astronaut"), "PNG")
    path_low, low = process(tmp_path / "a", "a.png", data, ("convert", options("convert", format="JPEG",
                                                                                   quality=30)))
    path_high, high = process(tmp_path / "b", "a.png", data,
                              ("convert", options("convert", format="JPEG", quality=95, progressive=False)))
    assert low.info.get("progressive") and not high.info.get("progressive")
    assert path_low.stat().st_size < path_high.stat().st_size / 2


def test_lossless_webp_keeps_every_pixel(tmp_path):
    original = images.photo("chelsea")
    _, result = process(tmp_path, "c.png", images.save(original, "PNG"),
                        ("convert", options("convert", format="WEBP", lossless=True)))
    assert ImageChops.difference(result.convert("RGB"), original).getbbox() is None


def test_animations_stay_animated_in_webp_and_keep_the_first_frame_in_jpeg(tmp_path):
    _, webp = process(tmp_path / "a", "anim.gif", images.animated_gif(),
                      ("convert", options("convert", format="WEBP")))
    assert webp.n_frames == 3
    _, jpeg = process(tmp_path / "b", "anim.gif", images.animated_gif(),
                      ("convert", options("convert", format="JPEG")))
    assert frames_of(jpeg) == 1 and jpeg.size == (300, 200)


def test_cmyk_converts_to_rgb_with_the_right_colours(tmp_path):
    _, result = process(tmp_path, "cmyk.jpg", images.cmyk_jpeg(), ("convert", options("convert", format="WEBP",
                                                                                       quality=95)))
    assert result.mode == "RGB"
    assert mean_difference(result, images.photo("coffee")) < 6


# ---------------------------------------------------------------------------
# Clean-up and metadata


def test_cleanup_strips_exif_gps_and_xmp_but_keeps_the_colour_profile(tmp_path):
    data = images.phone_jpeg("coffee", orientation=6)
    with Image.open(io.BytesIO(data)) as source:  # the test image really carries all of it
        assert source.getexif().get_ifd(images.GPS_IFD) and source.info.get("xmp")
    _, result = process(tmp_path, "phone.jpg", data, ("cleanup", {}))
    exif = result.getexif()
    assert not exif.get_ifd(images.GPS_IFD) and images.MAKE not in exif and images.ORIENTATION not in exif
    assert not result.info.get("xmp") and "exif" not in result.info
    assert result.info.get("icc_profile") == colour_only(images.srgb_profile()), "the profile, as colour only"
    assert result.size == (400, 600), "turned upright before the orientation tag was dropped"


def test_other_processors_keep_the_metadata(tmp_path):
    _, result = process(tmp_path, "phone.jpg", images.phone_jpeg("coffee", orientation=6),
                        ("resize", options("resize", mode="percent", percent=50)))
    exif = result.getexif()
    assert exif.get(images.MAKE) == "PhoneMaker" and exif.get_ifd(images.GPS_IFD)
    assert images.ORIENTATION not in exif and result.size == (200, 300)
    assert b"Jane Doe" in (result.info.get("xmp") or b"")


def test_cleanup_then_convert_drops_metadata_in_the_new_format(tmp_path):
    _, result = process(tmp_path, "phone.jpg", images.phone_jpeg(),
                        ("cleanup", {}), ("convert", options("convert", format="PNG")))
    assert result.format == "PNG" and not result.getexif() and not result.info.get("xmp")
    assert result.info.get("icc_profile") == colour_only(images.srgb_profile())


# ---------------------------------------------------------------------------
# Colour and trim


def test_grayscale(tmp_path):
    _, result = process(tmp_path, "c.jpg", images.phone_jpeg("coffee"), ("colour", {"operation": "grayscale"}))
    assert result.mode == "L"
    assert "icc_profile" not in result.info, "an RGB profile does not describe a grey image"


def test_grayscale_keeps_transparency(tmp_path):
    _, result = process(tmp_path, "a.png", images.rgba_png(), ("colour", {"operation": "grayscale"}))
    red, green, blue, alpha = result.split()
    assert red.tobytes() == green.tobytes() == blue.tobytes() and alpha.getextrema() == (0, 255)


def test_sepia_is_warm(tmp_path):
    _, result = process(tmp_path, "a.jpg", images.phone_jpeg(), ("colour", {"operation": "sepia"}))
    red, green, blue = ImageStat.Stat(result.convert("RGB")).mean
    assert red > green > blue


def test_autocontrast_stretches_a_flat_photo(tmp_path):
    flat = images.photo("astronaut").point(lambda v: 100 + v // 5)  # values squeezed into 100..151
    _, result = process(tmp_path, "f.png", images.save(flat, "PNG"), ("colour", {"operation": "autocontrast"}))
    for low, high in result.getextrema():
        assert low < 10 and high > 245


@pytest.mark.parametrize(("padding", "expected"), [(0, (600, 400)), (10, (620, 420))])
def test_trim_removes_a_uniform_border(tmp_path, padding, expected):
    framed = Image.new("RGB", (800, 600), "white")
    framed.paste(images.photo("coffee"), (150, 100))
    _, result = process(tmp_path, "f.png", images.save(framed, "PNG"),
                        ("trim", options("trim", tolerance=8, padding=padding)))
    assert result.size == expected


# ---------------------------------------------------------------------------
# Watermarks


def jpeg_of_astronaut() -> bytes:
    return images.save(images.photo("astronaut"), "JPEG", quality=95)


@pytest.mark.parametrize("position", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_text_watermark_lands_where_asked(tmp_path, position):
    data = jpeg_of_astronaut()
    path, _ = process(tmp_path, "a.jpg", data, ("watermark_text", options(
        "watermark_text", text="© Gallery", size=8, opacity=90, position=position)))
    assert_watermarked(data, path.read_bytes(), where=position)


def test_text_watermark_in_the_centre_and_tiled(tmp_path):
    data = jpeg_of_astronaut()
    original = images.photo("astronaut")
    _, centre = process(tmp_path / "c", "a.jpg", data, ("watermark_text", options(
        "watermark_text", text="© Gallery", size=8, opacity=90, position="center")))
    assert changed_fraction(original, centre, (156, 206, 356, 306)) > 0.05
    assert changed_fraction(original, centre, (0, 0, 150, 150)) < 0.002
    _, tiled = process(tmp_path / "t", "a.jpg", data, ("watermark_text", options(
        "watermark_text", text="© Gallery", size=8, opacity=90, position="tiled")))
    for box in [(0, 0, 256, 256), (256, 0, 512, 256), (0, 256, 256, 512), (256, 256, 512, 512)]:
        assert changed_fraction(original, tiled, box) > 0.03, f"tiles reach every part of the image: {box}"


def test_text_watermark_colour(tmp_path):
    grey = Image.new("RGB", (400, 300), (128, 128, 128))
    _, result = process(tmp_path, "g.png", images.save(grey, "PNG"), ("watermark_text", options(
        "watermark_text", text="RED", size=20, opacity=100, color="#ff0000")))
    colours = {colour for _, colour in result.convert("RGB").getcolors(100_000)}
    assert (255, 0, 0) in colours


needs_fonts = pytest.mark.skipif(
    len(text_render.font_files()) < len(text_render.FONT_CHAIN),
    reason="the text fonts are not installed (Debian: fonts-dejavu-core fonts-droid-fallback; .ci/run installs them)",
)


@needs_fonts
@pytest.mark.parametrize("text", ["Zażółć gęślą jaźń", "Привет, мир", "版权所有 摄影"])
def test_unicode_text_is_drawn_with_a_font_that_has_every_glyph(text):
    fonts = dict(text_render.font_files())
    runs = text_render.layout(text, 40).runs
    assert "".join(chunk for _, chunk in runs) == text
    for font, chunk in runs:
        covered = fonts[font.path]
        missing = [char for char in chunk if ord(char) not in covered and not char.isspace()]
        assert not missing, f"{font.path} has no glyph for {missing}"


@needs_fonts
def test_chinese_text_draws_glyphs_not_boxes():
    def ink(text: str, path: str) -> bytes:
        from PIL import ImageDraw, ImageFont

        canvas = Image.new("L", (200, 60), 0)
        ImageDraw.Draw(canvas).text((5, 5), text, font=ImageFont.truetype(path, 40), fill=255)
        return canvas.tobytes()

    latin_font, cjk_font = (path for path, _ in text_render.font_files())
    assert ink("版权", cjk_font) != ink("版权", latin_font), "the CJK font draws real glyphs"
    mask = Image.new("L", (200, 60), 0)
    from PIL import ImageDraw

    text_render.draw(ImageDraw.Draw(mask), (0, 0), text_render.layout("版权", 40), outline=False)
    assert mask.getbbox() is not None


@pytest.mark.parametrize("position", ["top-left", "bottom-right"])
def test_image_watermark_places_the_logo(tmp_path, position):
    data = jpeg_of_astronaut()
    path, result = process(tmp_path, "a.jpg", data, ("watermark_image", options(
        "watermark_image", logo=images.logo_png(), scale=20, opacity=100, position=position, margin=2)))
    assert_watermarked(data, path.read_bytes(), where=position)
    marked = ImageChops.difference(result.convert("RGB"), images.photo("astronaut")).convert("L")
    box = marked.point(lambda v: 255 if v > 60 else 0).getbbox()
    assert box is not None and abs((box[2] - box[0]) - 102) <= 4, f"logo 20% of 512 px wide: {box}"
    red, green, blue = result.convert("RGB").getpixel(((box[0] + box[2]) // 2, (box[1] + box[3]) // 2))
    assert red > 200 and green < 60 and blue < 60


def test_image_watermark_tiled(tmp_path):
    _, result = process(tmp_path, "a.jpg", jpeg_of_astronaut(), ("watermark_image", options(
        "watermark_image", logo=images.logo_png(), scale=10, opacity=80, position="tiled")))
    original = images.photo("astronaut")
    for box in [(0, 0, 256, 256), (256, 0, 512, 256), (0, 256, 256, 512), (256, 256, 512, 512)]:
        assert changed_fraction(original, result, box) > 0.05


@pytest.mark.parametrize(("logo", "message"), [
    (b"not an image at all", "not a PNG, WebP, JPEG or GIF image"),
    (images.save(Image.new("RGB", (5000, 4000)), "PNG"), "too large"),
])
def test_the_logo_is_validated_like_an_upload(logo, message):
    form = registry.get("watermark_image").options_form(
        data={"scale": 20, "opacity": 50, "position": "bottom-right", "margin": 3},
        files={"logo": SimpleUploadedFile("logo.png", logo)})
    assert not form.is_valid() and message in str(form.errors["logo"])


# ---------------------------------------------------------------------------
# A pipeline of three steps


def test_resize_watermark_webp_pipeline_decodes_and_encodes_once(tmp_path, monkeypatch):
    data = images.phone_jpeg("astronaut", orientation=1)
    saves = []
    real_save = Image.Image.save
    monkeypatch.setattr(Image.Image, "save", lambda self, *a, **k: saves.append(a) or real_save(self, *a, **k))
    path, result = process(
        tmp_path, "portrait.jpg", data,
        ("resize", options("resize", mode="fit", width=256, height=256)),
        ("watermark_text", options("watermark_text", text="© Gallery", size=8, opacity=90)),
        ("convert", options("convert", format="WEBP", quality=90)),
    )
    assert len(saves) == 1, "one encode for the whole chain: quality is lost once"
    assert path.name == "portrait.webp" and result.format == "WEBP" and result.size == (256, 256)
    reference = images.photo("astronaut").resize((256, 256), Image.Resampling.LANCZOS)
    assert changed_fraction(reference, result, (128, 128, 256, 256)) > 0.01, "watermark at the bottom right"
    assert changed_fraction(reference, result, (0, 0, 128, 128)) < 0.002, "and nowhere else"
    assert result.info.get("icc_profile") == images.srgb_profile()


def test_an_animation_fails_on_a_step_that_refuses_it_with_a_clear_message(tmp_path):
    with pytest.raises(ProcessingError, match=r"is animated \(3 frames\); Trim borders works on still images only"):
        process(tmp_path, "a.gif", images.animated_gif(),
                ("resize", options("resize", mode="percent", percent=50)), ("trim", options("trim")))


@pytest.mark.parametrize("progressive", [True, False])
def test_a_jpeg_keeps_loading_the_way_it_did(tmp_path, progressive):
    """A progressive original stays progressive (a baseline one baseline) unless a step says otherwise."""
    data = images.save(images.photo("coffee"), "JPEG", quality=90, progressive=progressive)
    _, result = process(tmp_path, "coffee.jpg", data, ("resize", options("resize", mode="percent", percent=50)))
    assert bool(result.info.get("progressive")) is progressive
    _, converted = process(tmp_path / "again", "coffee.jpg", data,
                           ("convert", options("convert", format="JPEG", quality=80, progressive=False)))
    assert not converted.info.get("progressive"), "the step's own choice wins"


@pytest.mark.parametrize("cut", [60, 200, 1000], ids=["in-the-header", "early", "late"])
def test_a_logo_damaged_past_its_header_passes_the_web_and_fails_each_file_with_a_reason(tmp_path, cut, monkeypatch):
    """The web reads a logo's header only; its pixels are decoded by the worker, which says why it cannot."""
    logo = images.save(images.photo("rocket").resize((300, 200)), "PNG")[:cut]
    form = registry.get("watermark_image").options_form(
        data={"scale": 20, "opacity": 50, "position": "bottom-right", "margin": 3},
        files={"logo": SimpleUploadedFile("logo.png", logo)})
    monkeypatch.setattr(Image.Image, "load", lambda self: pytest.fail("the web decoded the logo"))
    valid = form.is_valid()
    monkeypatch.undo()
    if not valid:  # cut inside the header: refused at once, from the header alone
        assert "not a PNG, WebP, JPEG or GIF image" in str(form.errors["logo"])
        return
    with pytest.raises(ProcessingError, match="the logo image is damaged or incomplete"):
        process(tmp_path, "a.jpg", jpeg_of_astronaut(), ("watermark_image", options(
            "watermark_image", logo=logo, scale=10, opacity=80)))
