"""Text and image watermarks: at one of nine anchors, or tiled diagonally."""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from PIL import Image, ImageDraw, UnidentifiedImageError

from . import text as text_render
from .base import ProcessingError
from .fields import ColourField, ImageFileField
from .imaging import DECODE_ERRORS, ImageProcessor

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


def tile_origins(size: tuple[int, int], tile: tuple[int, int], turned: tuple[int, int],
                 gap: int) -> list[tuple[int, int]]:
    """Top-left corners of every copy of a mark that touches the image, in a brick grid of `tile`-sized
    cells `gap` apart, the whole grid turned TILE_ANGLE degrees about the image's centre.

    `turned` is the size of the mark once turned (Image.rotate with expand): the copies are pasted
    one by one, so only the pixels they cover are touched, never a full-size mask.
    """
    width, height = size
    step_x, step_y = tile[0] + gap, tile[1] + gap
    reach = math.hypot(width, height) / 2 + max(turned)
    rows, columns = math.ceil(reach / step_y), math.ceil(reach / step_x) + 1
    angle = math.radians(TILE_ANGLE)
    cos, sin = math.cos(angle), math.sin(angle)
    origins = []
    for row in range(-rows, rows + 1):
        offset = (row % 2) * step_x / 2  # brick pattern: rows do not line up into columns
        for column in range(-columns, columns + 1):
            u, v = column * step_x + offset, row * step_y
            # Counter-clockwise on screen (y grows downwards), as Image.rotate turns the mark itself.
            x = width / 2 + u * cos + v * sin - turned[0] / 2
            y = height / 2 - u * sin + v * cos - turned[1] / 2
            if x < width and y < height and x + turned[0] > 0 and y + turned[1] > 0:
                origins.append((round(x), round(y)))
    return origins


def turn(mark: Image.Image) -> Image.Image:
    """The mark turned for tiling (Pillow premultiplies an "RGBA" image meanwhile: no dark fringe)."""
    return mark.rotate(TILE_ANGLE, resample=Image.Resampling.BICUBIC, expand=True)


Piece = tuple[tuple[int, int, int, int], Image.Image, Image.Image]


@dataclass(frozen=True)
class PreparedMark:
    """A mark ready to paste into images of one mode: its size as drawn, its size as placed (turned
    when tiled) and its covered pieces (box, colours, alpha)."""

    size: tuple[int, int]
    placed: tuple[int, int]
    pieces: tuple[Piece, ...]


def prepare(mark: Image.Image, tiled: bool, mode: str) -> PreparedMark:
    """Turn the "RGBA" mark if tiled, convert its colours once to the image's mode (CMYK, L…), cut it."""
    placed = turn(mark) if tiled else mark
    fill = placed.convert("RGB").convert(mode)
    return PreparedMark(mark.size, placed.size, tuple(covered_pieces(fill, placed.getchannel("A"))))


# The marks of recent batches: a batch stamps the same mark on image after image of the same size,
# and drawing it (stroked text, a resized logo, turned for tiling) is a fixed cost per image.
_prepared: OrderedDict[tuple, PreparedMark] = OrderedDict()
PREPARED_KEPT = 8


def prepared_mark(key: tuple, build: Callable[[], PreparedMark]) -> PreparedMark:
    if key in _prepared:
        _prepared.move_to_end(key)
        return _prepared[key]
    mark = _prepared[key] = build()
    while len(_prepared) > PREPARED_KEPT:
        _prepared.popitem(last=False)
    return mark


def apply_mark(image: Image.Image, mark: PreparedMark, position: str, margin: int, gap: int) -> Image.Image:
    """Blend the prepared mark into `image` at `position`, or tiled, in place.

    One paste per piece of each copy, each through its own box: a corner mark touches only the
    pixels it covers, and no full-size mask is ever made.
    """
    if position == "tiled":
        origins = tile_origins(image.size, mark.size, mark.placed, gap)
    else:
        origins = [anchor_box(position, image.size, mark.size, margin)]
    for x, y in origins:
        for (left, top, right, bottom), colours, alpha in mark.pieces:
            image.paste(colours, (x + left, y + top, x + right, y + bottom), alpha)  # paste clips to the image
    return image


def covered_pieces(fill: Image.Image, alpha: Image.Image, strips: int = 16) -> list[Piece]:
    """The mark cut into horizontal strips, each trimmed to the pixels it covers (its box, colours
    and alpha): a turned mark's box is mostly empty corners, which a paste would blend for nothing."""
    pieces = []
    height = max(1, -(-alpha.height // strips))
    for top in range(0, alpha.height, height):
        strip = (0, top, alpha.width, min(alpha.height, top + height))
        box = alpha.crop(strip).getbbox()
        if box:
            covered = (box[0], top + box[1], box[2], top + box[3])
            pieces.append((covered, fill.crop(covered), alpha.crop(covered)))
    return pieces


def with_opacity(mask: Image.Image, opacity: float) -> Image.Image:
    return mask.point(lambda v: round(v * opacity))


def text_mark(text: text_render.TextLayout, colour: tuple[int, int, int], opacity: float) -> Image.Image:
    """The text in `colour` over its dark outline, as one small "RGBA" image at `opacity`."""
    glyphs, outline = Image.new("L", text.size, 0), Image.new("L", text.size, 0)
    text_render.draw(ImageDraw.Draw(glyphs), (0, 0), text, outline=False)
    text_render.draw(ImageDraw.Draw(outline), (0, 0), text, outline=True)
    shade = Image.new("RGBA", text.size, (0, 0, 0, 0))
    shade.putalpha(with_opacity(outline, opacity * 0.6))
    letters = Image.new("RGBA", text.size, (*colour, 0))
    letters.putalpha(with_opacity(glyphs, opacity))
    return Image.alpha_composite(shade, letters)


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
        colour, opacity = hex_rgb(options["color"]), options["opacity"] / 100
        text = text_render.fitting_layout(options["text"], size, width * (0.6 if tiled else 0.9))
        mark = prepared_mark(("text", text, colour, opacity, tiled, image.mode),
                             lambda: prepare(text_mark(text, colour, opacity), tiled, image.mode))
        margin, gap = round(width * options["margin"] / 100), max(text.size[1] * 2, 20)
        return apply_mark(image, mark, options["position"], margin, gap)


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
        width = max(1, round(image.width * options["scale"] / 100))
        opacity, tiled = options["opacity"] / 100, options["position"] == "tiled"
        digest = hashlib.sha256(Path(options["logo"]).read_bytes()).hexdigest()  # each task fetches its own copy

        def build() -> PreparedMark:
            logo = load_logo(options["logo"])
            height = max(1, round(logo.height * width / logo.width))
            logo = logo.resize((width, height), Image.Resampling.LANCZOS)
            logo.putalpha(with_opacity(logo.getchannel("A"), opacity))
            return prepare(logo, tiled, image.mode)

        mark = prepared_mark(("logo", digest, width, opacity, tiled, image.mode), build)
        margin = round(image.width * options["margin"] / 100)
        return apply_mark(image, mark, options["position"], margin, max(width // 2, 10))


LOGO_FORMATS = ("PNG", "WEBP", "JPEG", "GIF")  # what the logo field takes (fields.ImageOptionField)


def load_logo(path: str) -> Image.Image:
    """The logo's pixels, decoded here on the worker (the web only read its header)."""
    try:
        with Image.open(path, formats=LOGO_FORMATS) as logo:
            logo.load()
            return logo.convert("RGBA")
    except (UnidentifiedImageError, *DECODE_ERRORS) as exc:
        raise ProcessingError(gettext_noop("could not be watermarked: the logo image is damaged or incomplete")) \
            from exc

