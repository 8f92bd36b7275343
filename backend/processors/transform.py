"""Resize, thumbnail, format conversion, metadata clean-up and colour operations."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from PIL import Image, ImageChops, ImageOps, features

from .base import ProcessingError
from .fields import ColourField
from .imaging import Encoding, ImageProcessor

RESAMPLE = Image.Resampling.LANCZOS
REDUCING_GAP = 3.0  # big downscales first reduce by an integer factor: much faster, same look
MAX_SIDE = 20000


# ---------------------------------------------------------------------------
# Geometry


def split_alpha(image: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    if image.mode == "RGBA":
        return image.convert("RGB"), image.getchannel("A")
    return image, None


def with_alpha(image: Image.Image, alpha: Image.Image | None) -> Image.Image:
    if alpha is None:
        return image
    image = image.convert("RGB")
    image.putalpha(alpha)
    return image


def scale_to(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    if image.size == size:
        return image
    if size[0] * size[1] > settings.MAX_IMAGE_PIXELS:
        raise ProcessingError(gettext_noop("would become too large "
                                           "(%(width)s×%(height)s)"), width=size[0], height=size[1])
    return image.resize(size, RESAMPLE, reducing_gap=REDUCING_GAP)


def cover_crop(image: Image.Image, size: tuple[int, int], upscale: bool) -> Image.Image:
    """Scale to cover `size`, then crop the centre to it (never upscaling unless asked)."""
    width, height = size
    ratio = max(width / image.width, height / image.height)
    if ratio > 1 and not upscale:
        # Too small to fill: crop to the target's shape at the image's own scale.
        ratio = 1.0
        width, height = min(width, image.width), min(height, image.height)
        aspect = size[0] / size[1]
        if width / height > aspect:
            width = round(height * aspect)
        else:
            height = round(width / aspect)
    scaled = scale_to(image, (max(1, round(image.width * ratio)), max(1, round(image.height * ratio))))
    left, top = (scaled.width - width) // 2, (scaled.height - height) // 2
    return scaled.crop((left, top, left + width, top + height))


def fit_size(size: tuple[int, int], box: tuple[int | None, int | None], upscale: bool) -> tuple[int, int]:
    width, height = size
    ratios = [limit / side for limit, side in zip(box, size, strict=True) if limit]
    ratio = min(ratios) if ratios else 1.0
    if not upscale:
        ratio = min(ratio, 1.0)
    return max(1, round(width * ratio)), max(1, round(height * ratio))


# ---------------------------------------------------------------------------
# Resize

RESIZE_MODES = [
    ("fit", _("Fit within width × height (keep proportions)")),
    ("fill", _("Fill width × height, cropping the overflow")),
    ("exact", _("Exactly width × height (may stretch)")),
    ("percent", _("By percentage")),
]


class ResizeOptions(forms.Form):
    mode = forms.ChoiceField(label=_("Mode"), choices=RESIZE_MODES, initial="fit")
    # data-when: the page shows a field only while the named field has one of these values.
    width = forms.IntegerField(label=_("Width"), min_value=1, max_value=MAX_SIDE, required=False, initial=1600,
                               help_text=_("Pixels."), widget=forms.NumberInput({"data-when": "mode=fit,fill,exact"}))
    height = forms.IntegerField(label=_("Height"), min_value=1, max_value=MAX_SIDE, required=False, initial=1600,
                                help_text=_("Pixels."), widget=forms.NumberInput({"data-when": "mode=fit,fill,exact"}))
    percent = forms.IntegerField(label=_("Percentage"), min_value=1, max_value=400, required=False, initial=50,
                                 widget=forms.NumberInput({"data-when": "mode=percent"}))
    upscale = forms.BooleanField(label=_("Allow enlarging small images"), required=False, initial=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        mode, width, height = data.get("mode"), data.get("width"), data.get("height")
        if mode == "percent" and not data.get("percent"):
            self.add_error("percent", _("Enter the percentage."))
        if mode == "fit" and not (width or height):
            self.add_error("width", _("Enter a width, a height, or both."))
        if mode in {"fill", "exact"}:
            for name in ("width", "height"):
                if not data.get(name):
                    self.add_error(name, _("Enter both width and height for this mode."))
        if mode in {"fill", "exact"} and width and height and width * height > settings.MAX_IMAGE_PIXELS:
            self.add_error(None, _("%(width)s×%(height)s is more than %(limit)s pixels.") % {
                "width": width, "height": height, "limit": f"{settings.MAX_IMAGE_PIXELS:,}"})
        return data


def resize_target(size: tuple[int, int], options: dict) -> tuple[int, int]:
    """The size the image is scaled to (before any fill crop)."""
    width, height = size
    upscale = options.get("upscale", False)
    mode = options["mode"]
    if mode == "percent":
        factor = options["percent"] / 100
        if not upscale:
            factor = min(factor, 1.0)
        return max(1, round(width * factor)), max(1, round(height * factor))
    if mode == "fit":
        return fit_size(size, (options.get("width"), options.get("height")), upscale)
    if mode == "exact":
        target = (options["width"], options["height"])
        return target if upscale else (min(target[0], width), min(target[1], height))
    ratio = max(options["width"] / width, options["height"] / height)  # fill: cover, then crop
    ratio = ratio if upscale else min(ratio, 1.0)
    return max(1, math.ceil(width * ratio)), max(1, math.ceil(height * ratio))


class Resize(ImageProcessor):
    name = "resize"
    label = _("Resize")
    description = _(
        "Fit within a box, fill and crop to it, stretch to an exact size, or scale by a percentage, "
        "with high-quality Lanczos resampling. Never enlarges unless asked. Animated images: every frame."
    )
    Options = ResizeOptions
    order = 30

    def transform(self, image: Image.Image, options: dict) -> Image.Image:
        if options["mode"] == "fill":
            return cover_crop(image, (options["width"], options["height"]), options.get("upscale", False))
        return scale_to(image, resize_target(image.size, options))

    def draft_size(self, size: tuple[int, int], options: dict) -> tuple[int, int] | None:
        if options["mode"] == "percent":
            return None  # relative to the stored size: a draft-reduced frame would be scaled twice
        return resize_target(size, options)


# ---------------------------------------------------------------------------
# Thumbnail


class ThumbnailOptions(forms.Form):
    size = forms.IntegerField(label=_("Size (pixels)"), min_value=16, max_value=2048, initial=256)
    square = forms.BooleanField(label=_("Square (crop the centre)"), required=False, initial=True)


class Thumbnail(ImageProcessor):
    name = "thumbnail"
    label = _("Thumbnail")
    description = _("A small preview: square (centre crop) or within a square box. Animated images: every frame.")
    Options = ThumbnailOptions
    order = 40

    def transform(self, image: Image.Image, options: dict) -> Image.Image:
        side = options["size"]
        if options.get("square", True):
            return cover_crop(image, (side, side), upscale=False)
        return scale_to(image, fit_size(image.size, (side, side), upscale=False))

    def draft_size(self, size: tuple[int, int], options: dict) -> tuple[int, int] | None:
        side = options["size"]
        if options.get("square", True):
            ratio = min(1.0, max(side / size[0], side / size[1]))
            return max(1, round(size[0] * ratio)), max(1, round(size[1] * ratio))
        return fit_size(size, (side, side), upscale=False)


# ---------------------------------------------------------------------------
# Trim


class TrimOptions(forms.Form):
    tolerance = forms.IntegerField(label=_("Tolerance"), min_value=0, max_value=128, initial=16,
                                   help_text=_("How far (0-255) a pixel may differ from the border colour and still "
                                             "count as border."))
    padding = forms.IntegerField(label=_("Padding (pixels)"), min_value=0, max_value=500, initial=0,
                                 help_text=_("Border kept around the content."))


def content_box(image: Image.Image, tolerance: int) -> tuple[int, int, int, int] | None:
    """The box around everything that differs from the top-left pixel's colour (or is not transparent)."""
    if image.mode == "RGBA" and image.getpixel((0, 0))[3] == 0:
        return image.getchannel("A").point(lambda a: 255 if a > tolerance else 0).getbbox()
    base = image.convert("RGB")
    border = Image.new("RGB", base.size, base.getpixel((0, 0)))
    difference = ImageChops.difference(base, border).convert("L")
    return difference.point(lambda v: 255 if v > tolerance else 0).getbbox()


class Trim(ImageProcessor):
    name = "trim"
    label = _("Trim borders")
    description = _(
        "Crops away a uniform border (the colour of the corner, or transparency), e.g. the white margin of a "
        "scanned page or a product shot. Refuses animated images: their frames have different borders."
    )
    Options = TrimOptions
    animation = "refuse"
    order = 45

    def transform(self, image: Image.Image, options: dict) -> Image.Image:
        box = content_box(image, options["tolerance"])
        if box is None:
            return image  # one colour throughout: nothing to keep apart from the border
        pad = options["padding"]
        left, top, right, bottom = box
        return image.crop((max(0, left - pad), max(0, top - pad),
                           min(image.width, right + pad), min(image.height, bottom + pad)))


# ---------------------------------------------------------------------------
# Convert format


def output_formats() -> list[tuple[str, str]]:
    """Formats this installation can write; AVIF only where Pillow was built with it."""
    formats = [("JPEG", "JPEG"), ("PNG", "PNG"), ("WEBP", "WebP")]
    if features.check("avif"):
        formats.append(("AVIF", "AVIF"))
    return [*formats, ("JXL", "JPEG XL"), ("HEIF", "HEIC"), ("TIFF", "TIFF"), ("GIF", "GIF")]


class ConvertOptions(forms.Form):
    format = forms.ChoiceField(label=_("Format"), choices=output_formats, initial="WEBP")
    # data-when: the page shows each only for the formats it applies to.
    quality = forms.IntegerField(label=_("Quality"), min_value=1, max_value=100, initial=85,
                                 help_text=_("JPEG, WebP, AVIF, JPEG XL and HEIC."),
                                 widget=forms.NumberInput({"data-when": "format=JPEG,WEBP,AVIF,JXL,HEIF"}))
    progressive = forms.BooleanField(label=_("Progressive JPEG"), required=False, initial=True,
                                     widget=forms.CheckboxInput({"data-when": "format=JPEG"}))
    lossless = forms.BooleanField(label=_("Lossless WebP"), required=False, initial=False,
                                  widget=forms.CheckboxInput({"data-when": "format=WEBP"}))
    optimize = forms.BooleanField(label=_("Optimise PNG (smaller, slower)"), required=False, initial=True,
                                  widget=forms.CheckboxInput({"data-when": "format=PNG"}))
    background = ColourField(label=_("Background for transparency"), initial="#ffffff", required=False,
                             help_text=_("Used when the target format has no transparency (JPEG)."),
                             widget=forms.TextInput({"data-when": "format=JPEG"}))


class ConvertFormat(ImageProcessor):
    name = "convert"
    label = _("Convert format")
    description = _(
        "Writes JPEG, PNG, WebP, AVIF, JPEG XL, HEIC, TIFF or GIF. Transparency is flattened onto the "
        "background colour when the target has none. Animations stay animated in GIF, WebP and PNG; "
        "other targets keep the first frame."
    )
    Options = ConvertOptions
    order = 50

    def transform(self, image: Image.Image, options: dict) -> Image.Image:
        return image

    def adjust_encoding(self, encoding: Encoding, options: dict) -> None:
        fmt = options["format"]
        encoding.format = fmt
        encoding.background = options.get("background") or "#ffffff"
        quality = options.get("quality", 85)
        encoding.params = {
            "JPEG": {"quality": quality, "progressive": options.get("progressive", True), "optimize": True},
            "WEBP": {"quality": quality, "lossless": options.get("lossless", False), "method": 4},
            "AVIF": {"quality": quality},
            "JXL": {"quality": quality},
            "HEIF": {"quality": quality},
            "PNG": {"optimize": options.get("optimize", True)},
        }.get(fmt, {})


# ---------------------------------------------------------------------------
# Clean-up


class CleanUp(ImageProcessor):
    name = "cleanup"
    label = _("Clean up metadata")
    description = _(
        "Turns the image upright by its EXIF orientation, then removes EXIF (camera, GPS location), XMP, IPTC, "
        "comments and text chunks. Keeps the colour profile, as colour only. Animated images: every frame."
    )
    order = 60

    def transform(self, image: Image.Image, options: dict) -> Image.Image:
        return image  # orientation is applied on decode; metadata is dropped on encode

    def adjust_encoding(self, encoding: Encoding, options: dict) -> None:
        encoding.keep_metadata = False


# ---------------------------------------------------------------------------
# Colour

COLOUR_OPERATIONS = [
    ("grayscale", _("Black and white")),
    ("autocontrast", _("Auto-contrast (stretch dull, flat photos to full range)")),
    ("sepia", _("Sepia")),
]


class ColourOptions(forms.Form):
    operation = forms.ChoiceField(label=_("Effect"), choices=COLOUR_OPERATIONS, initial="grayscale")


class Colour(ImageProcessor):
    name = "colour"
    label = _("Colour")
    description = _("Black and white, auto-contrast or sepia; transparency is kept. Animated images: every frame.")
    Options = ColourOptions
    order = 70

    def transform(self, image: Image.Image, options: dict) -> Image.Image:
        operation = options["operation"]
        base, alpha = split_alpha(image)
        if base.mode == "CMYK":
            base = base.convert("RGB")
        if operation == "grayscale":
            grey = ImageOps.grayscale(base)
            return with_alpha(grey, alpha) if alpha is not None else grey
        if operation == "sepia":
            return with_alpha(ImageOps.colorize(ImageOps.grayscale(base), "#2b1d0e", "#f4e4c1"), alpha)
        return with_alpha(ImageOps.autocontrast(base, cutoff=1), alpha)
