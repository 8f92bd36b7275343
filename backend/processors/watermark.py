"""Text and image watermarks: at one of nine anchors, or tiled diagonally."""

from __future__ import annotations

import math

from django import forms
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageDraw

from . import text as text_render
from .fields import ColourField, ImageFileField
from .imaging import ImageProcessor

POSITIONS = [
    ("top-left", _("Top left")), ("top", _("Top centre")), ("top-right", _("Top right")),
    ("left", _("Middle left")), ("center", _("Centre")), ("right", _("Middle right")),
    ("bottom-left", _("Bottom left")), ("bottom", _("Bottom centre")), ("bottom-right", _("Bottom right")),
    ("tiled", _("Tiled diagonally across the image")),
]
TILE_ANGLE = 30  # degrees


def anchor_box(position: str, canvas: tuple[int, int], box: tuple[int, int], margin: int) -> tuple[int, int]:
    """Top-left corner that places `box` at `position` on `canvas`, `margin` pixels in."""
    (cw, ch), (bw, bh) = canvas, box
    vertical, _, horizontal = position.rpartition("-")
    if position in {"top", "bottom"}:
        vertical, horizontal = position, "center"
    x = {"left": margin, "right": cw - bw - margin}.get(horizontal, (cw - bw) // 2)
    y = {"top": margin, "bottom": ch - bh - margin}.get(vertical, (ch - bh) // 2)
    return x, y


def tiled_mask(size: tuple[int, int], tile: Image.Image, gap: int) -> Image.Image:
    """An "L" mask with `tile` repeated in a grid, rotated diagonally across `size`."""
    width, height = size
    side = int(math.hypot(width, height)) + max(tile.size)
    plane = Image.new("L", (side, side), 0)
    step_x, step_y = tile.width + gap, tile.height + gap
    for row, y in enumerate(range(0, side, step_y)):
        offset = (row % 2) * step_x // 2  # brick pattern: rows do not line up into columns
        for x in range(-offset, side, step_x):
            plane.paste(tile, (x, y))
    plane = plane.rotate(TILE_ANGLE, resample=Image.Resampling.BICUBIC)
    left, top = (side - width) // 2, (side - height) // 2
    return plane.crop((left, top, left + width, top + height))


def colour_in_mode(rgb: tuple[int, int, int], mode: str) -> int | tuple[int, ...]:
    """The RGB colour expressed in an image mode (CMYK, L, RGBA…)."""
    return Image.new("RGB", (1, 1), rgb).convert(mode).getpixel((0, 0))


def scaled(mask: Image.Image, factor: float) -> Image.Image:
    return mask.point(lambda v: int(v * factor))


def place(image: Image.Image, mark: Image.Image, position: str, margin: int, gap: int) -> Image.Image:
    """A full-size "L" mask holding `mark` (itself an "L" mask) at `position` or tiled."""
    if position == "tiled":
        return tiled_mask(image.size, mark, gap)
    mask = Image.new("L", image.size, 0)
    mask.paste(mark, anchor_box(position, image.size, mark.size, margin))
    return mask


class WatermarkOptionsMixin(forms.Form):
    opacity = forms.IntegerField(label=_("Opacity (%)"), min_value=5, max_value=100, initial=50)
    position = forms.ChoiceField(label=_("Position"), choices=POSITIONS, initial="bottom-right")
    margin = forms.IntegerField(label=_("Margin (percentage of image width)"), min_value=0, max_value=25, initial=3)


class TextWatermarkOptions(WatermarkOptionsMixin):
    text = forms.CharField(label=_("Text"), max_length=200, initial="© ",
                           help_text=_("Any language: Latin, Cyrillic, Chinese…"),
                           error_messages={"required": _("Enter the text to stamp.")})
    size = forms.IntegerField(label=_("Text size (percentage of image width)"), min_value=1, max_value=50, initial=5)
    color = ColourField(label=_("Colour"), initial="#ffffff")
    field_order = ["text", "size", "color", "opacity", "position", "margin"]


class TextWatermark(ImageProcessor):
    name = "watermark_text"
    label = _("Watermark (text)")
    description = _(
        "Stamps semi-transparent text with a thin dark outline, so it reads on any background; "
        "in a corner, the centre, or tiled diagonally. Animated images get it on every frame."
    )
    Options = TextWatermarkOptions
    order = 10

    def transform(self, image: Image.Image, options: dict) -> Image.Image:
        width = image.width
        size = max(8, round(width * options["size"] / 100))
        tiled = options["position"] == "tiled"
        text = text_render.fitting_layout(options["text"], size, width * (0.6 if tiled else 0.9))
        glyphs, outline = Image.new("L", text.size, 0), Image.new("L", text.size, 0)
        text_render.draw(ImageDraw.Draw(glyphs), (0, 0), text, outline=False)
        text_render.draw(ImageDraw.Draw(outline), (0, 0), text, outline=True)
        margin, gap = round(width * options["margin"] / 100), max(text.size[1] * 2, 20)
        alpha = options["opacity"] / 100
        outline_mask = place(image, outline, options["position"], margin, gap)
        glyph_mask = place(image, glyphs, options["position"], margin, gap)
        image.paste(colour_in_mode((0, 0, 0), image.mode), (0, 0), scaled(outline_mask, alpha * 0.6))
        image.paste(colour_in_mode(hex_rgb(options["color"]), image.mode), (0, 0), scaled(glyph_mask, alpha))
        return image


def hex_rgb(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


class ImageWatermarkOptions(WatermarkOptionsMixin):
    logo = ImageFileField(label=_("Logo"), help_text=_("A PNG with transparency works best (at most 5 MB)."))
    scale = forms.IntegerField(label=_("Logo width (percentage of image width)"), min_value=1, max_value=100,
                               initial=20)
    field_order = ["logo", "scale", "opacity", "position", "margin"]


class ImageWatermark(ImageProcessor):
    name = "watermark_image"
    label = _("Watermark (image)")
    description = _(
        "Places your logo, scaled to the image and semi-transparent, in a corner, the centre, or tiled "
        "diagonally. Animated images get it on every frame."
    )
    Options = ImageWatermarkOptions
    order = 20

    def transform(self, image: Image.Image, options: dict) -> Image.Image:
        logo = load_logo(options["logo"])
        width = max(1, round(image.width * options["scale"] / 100))
        height = max(1, round(logo.height * width / logo.width))
        logo = logo.resize((width, height), Image.Resampling.LANCZOS)
        margin = round(image.width * options["margin"] / 100)
        alpha = options["opacity"] / 100
        if options["position"] == "tiled":
            gap = max(width // 2, 10)
            mask = tiled_mask(image.size, logo.getchannel("A"), gap)
            image.paste(tiled_rgb(image.size, logo, gap), (0, 0), scaled(mask, alpha))
            return image
        # paste() converts the logo to the image's mode (CMYK, L…) itself.
        x, y = anchor_box(options["position"], image.size, logo.size, margin)
        image.paste(logo.convert("RGB"), (x, y), scaled(logo.getchannel("A"), alpha))
        return image


def tiled_rgb(size: tuple[int, int], logo: Image.Image, gap: int) -> Image.Image:
    """The colours of a tiled logo, laid out exactly as tiled_mask lays out its alpha."""
    channels = [tiled_mask(size, band, gap) for band in logo.convert("RGB").split()]
    return Image.merge("RGB", channels)


def load_logo(path: str) -> Image.Image:
    with Image.open(path) as logo:
        logo.load()
        return logo.convert("RGBA")

