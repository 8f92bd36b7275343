"""Image processors built on Pillow.

`ImageProcessor` does the decoding and encoding that every image operation
shares (EXIF orientation, ICC profile, animation frames, format-specific save
options); a subclass implements `transform` on one decoded frame.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import ClassVar

from django import forms
from PIL import Image, ImageDraw, ImageFont, ImageOps, ImageSequence

from .base import ProcessingError, Processor, Progress

EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "TIFF": ".tiff", "BMP": ".bmp"}
# Modes each output format can store as they are; anything else is converted.
SAVEABLE_MODES = {
    "JPEG": {"RGB", "L", "CMYK"},
    "PNG": {"RGB", "RGBA", "L", "LA", "P", "I;16", "1"},
    "WEBP": {"RGB", "RGBA"},
    "GIF": {"P", "L"},
    "TIFF": {"RGB", "RGBA", "L", "LA", "CMYK", "I;16", "1"},
    "BMP": {"RGB", "L", "P", "1"},
}
ORIENTATION_TAG = 0x0112
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


class ImageProcessor(Processor):
    """Decode, transform each frame, encode. Subclasses implement `transform`."""

    accepts = ("image/jpeg", "image/png", "image/webp")
    # Animated input: "frames" transforms every frame; "refuse" fails the file.
    animation: ClassVar[str] = "frames"

    @abc.abstractmethod
    def transform(self, image: Image.Image, options: dict) -> Image.Image:
        """Return the transformed frame (may be `image` itself, modified in place)."""

    def output_format(self, source_format: str, options: dict) -> str:
        return source_format

    def edit(self, source: Path, target_dir: Path, options: dict, progress: Progress) -> list[Path]:
        try:
            with Image.open(source) as image:
                fmt = image.format or "PNG"
                frames = getattr(image, "n_frames", 1)
                if frames > 1 and self.animation == "refuse":
                    raise ProcessingError(f"is animated ({frames} frames); {self.label} works on still images only")
                out_format = self.output_format(fmt, options)
                target = target_dir / (source.stem + EXTENSIONS.get(out_format, "." + out_format.lower()))
                save_args = self.save_options(image, out_format, options)
                results = []
                for index, frame in enumerate(ImageSequence.Iterator(image)):
                    frame_image = self.prepare(frame)
                    results.append(self.finish_mode(self.transform(frame_image, options), out_format))
                    progress((index + 1) / frames * 0.9)
        except ProcessingError:
            raise
        except DECODE_ERRORS as exc:
            raise ProcessingError(f"could not be read: the image is damaged or incomplete ({exc})") from exc
        first, rest = results[0], results[1:]
        if rest:
            save_args.update(save_all=True, append_images=rest)
        first.save(target, out_format, **save_args)
        progress(1.0)
        return [target]

    @staticmethod
    def prepare(frame: Image.Image) -> Image.Image:
        """A decoded, upright copy of the frame."""
        frame.load()
        upright = ImageOps.exif_transpose(frame)
        return upright if upright is not None else frame.copy()

    @staticmethod
    def finish_mode(image: Image.Image, out_format: str) -> Image.Image:
        if image.mode in SAVEABLE_MODES.get(out_format, {image.mode}):
            return image
        if out_format in {"JPEG", "BMP"}:
            return image.convert("RGB")
        if out_format == "GIF":
            return image.convert("RGBA").convert("P", palette=Image.Palette.ADAPTIVE)
        return image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")

    def save_options(self, image: Image.Image, out_format: str, options: dict) -> dict:
        """Encoder arguments: keep the colour profile and the metadata, minus orientation (applied)."""
        args: dict = {}
        icc = image.info.get("icc_profile")
        if icc:
            args["icc_profile"] = icc
        if image.getexif() and out_format in {"JPEG", "PNG", "WEBP", "TIFF"}:
            exif = Image.Exif()  # a copy: getexif() is cached, and frames still need the orientation
            exif.load(image.getexif().tobytes())
            exif.pop(ORIENTATION_TAG, None)
            args["exif"] = exif.tobytes()
        if out_format == "JPEG":
            args.update(quality=options.get("quality", 92), optimize=True)
        elif out_format == "WEBP":
            args.update(quality=options.get("quality", 90), method=4)
        for key in ("duration", "loop", "transparency", "background", "disposal"):
            if key in image.info and out_format in {"GIF", "WEBP", "PNG"}:
                args[key] = image.info[key]
        return args


# ---------------------------------------------------------------------------
# Text watermark

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
)


def load_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """DejaVu Sans (covers Latin, Cyrillic, Greek) when installed, Pillow's own font otherwise."""
    for candidate in FONT_CANDIDATES:
        if Path(candidate).exists():
            return ImageFont.truetype(candidate, size)
    return ImageFont.load_default(size)


POSITIONS = [
    ("top-left", "Top left"),
    ("top", "Top centre"),
    ("top-right", "Top right"),
    ("left", "Middle left"),
    ("center", "Centre"),
    ("right", "Middle right"),
    ("bottom-left", "Bottom left"),
    ("bottom", "Bottom centre"),
    ("bottom-right", "Bottom right"),
]


def anchor_box(position: str, canvas: tuple[int, int], box: tuple[int, int], margin: int) -> tuple[int, int]:
    """Top-left corner that places `box` at `position` on `canvas`, `margin` pixels in."""
    (cw, ch), (bw, bh) = canvas, box
    vertical, _, horizontal = position.rpartition("-") if "-" in position else ("", "", position)
    if position in {"top", "bottom"}:
        vertical, horizontal = position, "center"
    x = {"left": margin, "right": cw - bw - margin}.get(horizontal, (cw - bw) // 2)
    y = {"top": margin, "bottom": ch - bh - margin}.get(vertical, (ch - bh) // 2)
    return x, y


class TextWatermarkOptions(forms.Form):
    text = forms.CharField(max_length=200, initial="© ", help_text="The text to stamp on every image.",
                           error_messages={"required": "Enter the text to stamp."})
    size = forms.IntegerField(
        label="Text size (% of image width)", min_value=1, max_value=50, initial=5,
        help_text="Letter height relative to the image width.",
    )
    opacity = forms.IntegerField(label="Opacity (%)", min_value=5, max_value=100, initial=50)
    color = forms.RegexField(
        label="Colour", regex=r"^#[0-9a-fA-F]{6}$", initial="#ffffff", max_length=7,
        error_messages={"invalid": "Enter a colour as #rrggbb."},
    )
    position = forms.ChoiceField(choices=POSITIONS, initial="bottom-right")
    margin = forms.IntegerField(label="Margin (% of image width)", min_value=0, max_value=25, initial=3)


def hex_to_rgb(value: str) -> tuple[int, int, int]:
    value = value.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def color_in_mode(rgb: tuple[int, int, int], mode: str) -> int | tuple[int, ...]:
    """The RGB colour expressed in an image mode (CMYK, L, RGBA, ...)."""
    return Image.new("RGB", (1, 1), rgb).convert(mode).getpixel((0, 0))


# Modes a solid colour can be pasted into through a mask without converting the image.
PASTE_MODES = {"RGB", "RGBA", "L", "LA", "CMYK"}


def stamp_text(image: Image.Image, text: str, *, size_pct: float, opacity: float, color: str,
               position: str, margin_pct: float) -> Image.Image:
    """Draw semi-transparent text with a dark outline so it reads on any background."""
    if image.mode not in PASTE_MODES:
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    width, height = image.size
    font_size = max(8, round(width * size_pct / 100))
    font = load_font(font_size)
    stroke = max(1, font_size // 18)
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    text_w, text_h = right - left, bottom - top
    limit = width * 0.9
    if text_w > limit:  # long text: shrink to fit instead of running off the image
        font_size = max(6, int(font_size * limit / text_w))
        font = load_font(font_size)
        stroke = max(1, font_size // 18)
        left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
        text_w, text_h = right - left, bottom - top
    margin = round(width * margin_pct / 100)
    x, y = anchor_box(position, (width, height), (text_w, text_h), margin)
    outline = Image.new("L", image.size, 0)
    ImageDraw.Draw(outline).text((x - left, y - top), text, font=font, fill=255, stroke_width=stroke, stroke_fill=255)
    glyphs = Image.new("L", image.size, 0)
    ImageDraw.Draw(glyphs).text((x - left, y - top), text, font=font, fill=255)
    alpha = opacity / 100
    image.paste(color_in_mode((0, 0, 0), image.mode), (0, 0), outline.point(lambda v: int(v * alpha * 0.6)))
    image.paste(color_in_mode(hex_to_rgb(color), image.mode), (0, 0), glyphs.point(lambda v: int(v * alpha)))
    return image


class TextWatermark(ImageProcessor):
    name = "watermark_text"
    label = "Watermark (text)"
    description = (
        "Stamps semi-transparent text on every image, bottom-right by default. "
        "Same format out as in; animated images get it on every frame."
    )
    Options = TextWatermarkOptions
    order = 10

    def transform(self, image: Image.Image, options: dict) -> Image.Image:
        return stamp_text(
            image,
            options["text"],
            size_pct=options.get("size", 5),
            opacity=options.get("opacity", 50),
            color=options.get("color", "#ffffff"),
            position=options.get("position", "bottom-right"),
            margin_pct=options.get("margin", 3),
        )
