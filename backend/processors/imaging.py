"""The machinery every Pillow processor shares.

An `ImageProcessor` implements `transform` on one decoded frame and may adjust
the `Encoding` of the result (format, quality, metadata). Consecutive image
steps of a pipeline run through `run_image_chain`: one decode, every transform,
one encode, so a resize → watermark → WebP chain loses quality only once.
"""

from __future__ import annotations

import abc
import errno
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pillow_heif
import pillow_jxl  # noqa: F401 - registers JPEG XL with Pillow
from django.conf import settings
from django.utils.translation import gettext_noop
from PIL import Image, ImageCms, ImageOps, ImageSequence

from . import headers, raw
from .base import ProcessingError, Processor, Progress
from .icc import colour_only

# HEIC/HEIF (phone photos) through libheif; AVIF is Pillow's own.
pillow_heif.register_heif_opener()

EXTENSIONS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "GIF": ".gif", "TIFF": ".tiff", "BMP": ".bmp",
              "AVIF": ".avif", "HEIF": ".heic", "JXL": ".jxl"}
ANIMATED_FORMATS = {"GIF", "WEBP", "PNG"}
# Modes the transforms work in; everything else is normalised to one of them on decode.
WORKING_MODES = {"RGB", "RGBA", "L", "CMYK"}
SAVEABLE_MODES = {
    "JPEG": {"RGB", "L", "CMYK"},
    "PNG": {"RGB", "RGBA", "L", "LA", "P"},
    "WEBP": {"RGB", "RGBA"},
    "AVIF": {"RGB", "RGBA"},
    "HEIF": {"RGB", "RGBA"},
    "JXL": {"RGB", "RGBA", "L"},
    "GIF": {"P", "L"},
    "TIFF": {"RGB", "RGBA", "L", "LA", "CMYK"},
    "BMP": {"RGB", "L", "P"},
}
ORIENTATION_TAG = 0x0112
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)
IMAGE_TYPES = ("image/jpeg", "image/png", "image/webp", "image/gif", "image/tiff", "image/bmp", "image/heif",
               "image/avif", "image/jxl", *raw.MIME_TYPES.values())
# The decoders files are opened with, in the order tried (camera RAW before the TIFF it is built on).
# Pillow knows many more; fewer decoders, less attack surface.
DECODERS = ("JPEG", "PNG", "WEBP", "GIF", raw.FORMAT, "TIFF", "BMP", "HEIF", "AVIF", "JXL")
# Formats that are read but never written: their results default to this one.
READ_ONLY_FORMATS = {raw.FORMAT: "JPEG"}
DRAFT_FORMATS = {"JPEG", raw.FORMAT}  # decoders that can skip work for a smaller result
# Containers of several still images (a HEIC burst, depth maps): the primary one is the photo.
PRIMARY_IMAGE_FORMATS = {"HEIF"}


@dataclass
class Encoding:
    """How the result is written; steps adjust it before any pixel is decoded."""

    format: str
    params: dict = field(default_factory=dict)  # encoder arguments: quality, lossless, optimize…
    keep_metadata: bool = True  # EXIF (less the applied orientation) and XMP
    background: str = "#ffffff"  # flattening colour for formats without transparency
    source_icc: bytes | None = None  # the input's colour profile, for exact CMYK → RGB conversion

    @property
    def animated(self) -> bool:
        return self.format in ANIMATED_FORMATS


class ImageProcessor(Processor):
    """A Pillow operation on one frame. Subclasses implement `transform`."""

    accepts = IMAGE_TYPES
    # Animated input: "frames" transforms every frame; "refuse" fails the file with a message.
    animation: ClassVar[str] = "frames"

    @abc.abstractmethod
    def transform(self, image: Image.Image, options: dict) -> Image.Image:
        """Return the transformed frame, in one of WORKING_MODES."""

    def adjust_encoding(self, encoding: Encoding, options: dict) -> None:
        """Change the output format or encoder settings (default: leave them)."""

    def draft_size(self, size: tuple[int, int], options: dict) -> tuple[int, int] | None:
        """The smallest size this step needs from the decoder, when it shrinks the image.

        JPEG decoding can then skip most of the work (Image.draft)."""
        return None

    def edit(self, source: Path, target_dir: Path, options: dict, progress: Progress) -> list[Path]:
        return run_image_chain([(self, options)], source, target_dir, progress)


def run_image_chain(steps: Sequence[tuple[ImageProcessor, dict]], source: Path, target_dir: Path,
                    progress: Progress) -> list[Path]:
    """Decode once, apply every step to every frame, encode once."""
    try:
        with open_image(source) as image:
            pixels_check(image)
            source_format = image.format or "PNG"
            encoding = Encoding(format=READ_ONLY_FORMATS.get(source_format, source_format),
                                source_icc=image.info.get("icc_profile"))
            for processor, options in steps:
                processor.adjust_encoding(encoding, options)
            frame_count = 1 if image.format in PRIMARY_IMAGE_FORMATS else count_frames(image)
            if frame_count > 1:
                for processor, _ in steps:
                    if processor.animation == "refuse":
                        raise ProcessingError(
                            gettext_noop("is animated (%(frames)s frames); %(processor)s works on still images only"),
                            frames=frame_count, processor=str(processor.label))
            if not encoding.animated:
                frame_count = 1  # the target format holds one frame: the first is converted
            _apply_draft(image, steps)
            save_args = _save_arguments(image, encoding)
            frames = []
            # The image opens on its primary picture; iterating would start from the container's first.
            sequence = [image] if image.format in PRIMARY_IMAGE_FORMATS else ImageSequence.Iterator(image)
            for index, frame in enumerate(sequence):
                if index >= frame_count:
                    break
                result = normalise(upright(frame, copy=frame_count > 1))
                for processor, options in steps:
                    result = processor.transform(result, options)
                frames.append(to_saveable(result, encoding))
                progress((index + 1) / frame_count * 0.9)
            if colour_space(frames[0].mode) != colour_space(image.mode):
                save_args.pop("icc_profile", None)  # the profile describes the old colour space
    except ProcessingError:
        raise
    except DECODE_ERRORS as exc:
        # The decoder's own words ("image file is truncated (24 bytes not processed)") stay in the log.
        raise ProcessingError(gettext_noop("could not be read: the image is damaged or incomplete")) from exc
    target = target_dir / (source.stem + EXTENSIONS.get(encoding.format, "." + encoding.format.lower()))
    if len(frames) > 1:
        save_args.update(save_all=True, append_images=frames[1:])
    try:
        frames[0].save(target, encoding.format, **save_args)
    except OSError as exc:
        target.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:  # say so: "could not be saved" would blame the file
            raise ProcessingError(gettext_noop("could not be saved: the worker ran out of disk space for a "
                                               "result of this size")) from exc
        raise ProcessingError(gettext_noop("could not be saved as %(format)s"), format=encoding.format) from exc
    except ValueError as exc:
        raise ProcessingError(gettext_noop("could not be saved as %(format)s"), format=encoding.format) from exc
    _last_written.update(path=target, frame=frames[0])
    progress(1.0)
    return [target]


def open_image(source: Path) -> Image.Image:
    """Open an image to decode it, its pixel budget judged first from a header read without the
    decoder where the decoder itself would decode on opening (JPEG XL)."""
    with open(source, "rb") as handle:
        if headers.is_jxl(handle.read(16)):
            try:
                width, height = headers.jxl_size(handle)
            except headers.HeaderError as exc:
                raise ProcessingError(gettext_noop("could not be read: the image is damaged or incomplete")) from exc
            _pixels_within_budget(width, height)
    return Image.open(source, formats=DECODERS)


def count_frames(image: Image.Image) -> int:
    """How many frames (pages) an opened image has, TIFF pages counted from their directories up to
    one past the budget (Pillow walks them at a cost that grows faster than their number)."""
    if image.format == "TIFF" and image.fp is not None:
        position = image.fp.tell()
        try:
            return headers.tiff_page_count(image.fp, settings.MAX_ANIMATION_FRAMES + 1)
        finally:
            image.fp.seek(position)
    return getattr(image, "n_frames", 1)


def pixels_check(image: Image.Image) -> None:
    """Refuse an opened image over the pixel budget, or an animation over the frame budgets (header only)."""
    width, height = image.size
    _pixels_within_budget(width, height)
    problem = animation_problem(width, height, count_frames(image))
    if problem:
        raise problem


def _pixels_within_budget(width: int, height: int) -> None:
    if width * height > settings.MAX_IMAGE_PIXELS:
        raise ProcessingError(gettext_noop("is too large (%(width)s×%(height)s); at most %(limit)s "
                                           "pixels"), width=width,
                              height=height, limit=f"{settings.MAX_IMAGE_PIXELS:,}")


def animation_problem(width: int, height: int, frames: int) -> ProcessingError | None:
    """Why an animation is over the budget (frames, and pixels over every frame), or None.

    Judged from the header before any frame is decoded: every frame is held until the
    encoder writes them, so a small file of many large frames is a memory bomb.
    """
    if frames > settings.MAX_ANIMATION_FRAMES:
        return ProcessingError(gettext_noop("is animated with %(frames)s frames; at most %(limit)s are accepted"),
                               frames=f"{frames:,}", limit=f"{settings.MAX_ANIMATION_FRAMES:,}")
    if frames > 1 and frames * width * height > settings.MAX_ANIMATION_PIXELS:
        return ProcessingError(gettext_noop("is animated with %(frames)s frames of %(width)s×%(height)s; "
                                            "at most %(limit)s "
                                  "megapixels over all frames are accepted"), frames=f"{frames:,}", width=width,
                               height=height, limit=f"{settings.MAX_ANIMATION_PIXELS / 1e6:,.0f}")
    return None


def _apply_draft(image: Image.Image, steps: Sequence[tuple[ImageProcessor, dict]]) -> None:
    """Let the JPEG decoder downscale by 1/2, 1/4 or 1/8 (LibRaw by 1/2) when the first step shrinks anyway."""
    if image.format not in DRAFT_FORMATS or not steps:
        return
    first, options = steps[0]
    wanted = first.draft_size(upright_size(image), options)
    if wanted:
        if _transposed(image):  # draft works on stored, not upright, dimensions
            wanted = (wanted[1], wanted[0])
        image.draft(image.mode, wanted)


def _transposed(image: Image.Image) -> bool:
    return image.getexif().get(ORIENTATION_TAG, 1) in {5, 6, 7, 8}


def upright_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    return (height, width) if _transposed(image) else (width, height)


def upright(frame: Image.Image, *, copy: bool = True) -> Image.Image:
    """The decoded frame with its EXIF orientation applied: a new image when it turns.

    Without `copy` an upright frame shares the decoded pixels, for steps to change in place: a still
    image's single frame, which nothing decodes again (a 12 MP copy costs as much as a light step).
    An animation's frames must be copies: the decoder builds the next frame on the last one.
    """
    frame.load()
    if frame.getexif().get(ORIENTATION_TAG, 1) == 1 and not copy:
        # A plain image over the same pixels: encoders treat the opened file itself specially
        # (JPEG XL transcodes the source JPEG's bytes, ignoring the quality asked for).
        return frame._new(frame.im)
    turned = ImageOps.exif_transpose(frame)
    return turned if turned is not None else frame.copy()


def normalise(image: Image.Image) -> Image.Image:
    """Bring any decoded mode to one the transforms handle (RGB, RGBA, L, CMYK)."""
    if image.mode in WORKING_MODES:
        return image
    if image.mode in {"I;16", "I;16B", "I;16L", "I", "F"}:
        # 16-bit and float greyscale: scale down to 8 bits rather than clip everything to white.
        scale = 1 / 257 if image.mode.startswith("I;16") or image.getextrema()[1] > 255 else 1
        return image.convert("I").point(lambda v: v * scale).convert("L")
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def flatten(image: Image.Image, background: str) -> Image.Image:
    """Composite an image with alpha onto a solid background colour."""
    base = Image.new("RGB", image.size, background)
    base.paste(image, mask=image.getchannel("A"))
    return base


def colour_space(mode: str) -> str:
    if mode == "CMYK":
        return "CMYK"
    return "GRAY" if mode in {"L", "LA", "1", "I", "I;16", "F"} else "RGB"


def cmyk_to_rgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """Through the embedded profile when there is one (Pillow's own formula is crude)."""
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass
    return image.convert("RGB")


def to_saveable(image: Image.Image, encoding: Encoding) -> Image.Image:
    allowed = SAVEABLE_MODES.get(encoding.format, {image.mode})
    if image.mode in allowed:
        return image
    if image.mode == "CMYK":
        image = cmyk_to_rgb(image, encoding.source_icc)
        if image.mode in allowed:
            return image
    if image.mode == "RGBA" and "RGBA" not in allowed:
        if encoding.format == "GIF":
            return image.convert("P", palette=Image.Palette.ADAPTIVE)
        image = flatten(image, encoding.background)
    if image.mode in allowed:
        return image
    if encoding.format == "GIF":
        return image.convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE)
    return image.convert("RGB")


def _save_arguments(image: Image.Image, encoding: Encoding) -> dict:
    """Encoder arguments: the colour profile always; metadata unless a step strips it."""
    args: dict = {}
    icc = image.info.get("icc_profile")
    if icc and not encoding.keep_metadata:
        icc = colour_only(icc)  # the colour, without the text a profile can carry
    if icc:
        args["icc_profile"] = icc
    if encoding.keep_metadata:
        if image.getexif() and encoding.format in {"JPEG", "PNG", "WEBP", "TIFF", "AVIF", "HEIF"}:
            exif = Image.Exif()  # a copy: getexif() is cached, and frames still need the orientation
            exif.load(image.getexif().tobytes())
            exif.pop(ORIENTATION_TAG, None)
            args["exif"] = exif.tobytes()
        if image.info.get("xmp") and encoding.format in {"JPEG", "PNG", "WEBP"}:
            args["xmp"] = image.info["xmp"]
    else:
        args["exif"] = b""
        args["xmp"] = b""
        args["comment"] = b""  # JPEG and GIF comments are otherwise copied from the input
    defaults = {"JPEG": {"quality": 90, "optimize": True}, "WEBP": {"quality": 85, "method": 4},
                "AVIF": {"quality": 70}, "HEIF": {"quality": 80}, "JXL": {"quality": 85}, "PNG": {},
                "GIF": {"optimize": True}, "TIFF": {"compression": "tiff_lzw"}}
    args.update(defaults.get(encoding.format, {}))
    if encoding.format == "JPEG" and image.format == "JPEG" and image.info.get("progressive"):
        args["progressive"] = True  # loads as the original did; a step's own choice below wins
    args.update(encoding.params)
    if encoding.animated:
        for key in ("duration", "loop", "disposal"):
            if key in image.info:
                args[key] = image.info[key]
    return args


PREVIEW_SIDE = 320
# The pixels of the result this process wrote last, until its preview is made: the worker's preview
# then needs no second decode of that result. Taken (and let go) by preview_make.
_last_written: dict = {"path": None, "frame": None}


def preview_frame(frame: Image.Image) -> Image.Image:
    """A frame shrunk to at most PREVIEW_SIDE on its longest side, in RGB or RGBA (never the frame itself)."""
    ratio = min(1.0, PREVIEW_SIDE / max(frame.size))
    size = max(1, round(frame.width * ratio)), max(1, round(frame.height * ratio))
    if ratio < 0.5 and frame.mode in WORKING_MODES:
        frame = frame.reduce(int(1 / ratio))  # a box average down to just above the size: cheap, no aliasing
    frame = frame.convert("RGB") if frame.mode == "CMYK" else normalise(frame)
    small = frame.resize(size, Image.Resampling.BICUBIC)
    return small.convert("RGBA" if "A" in small.getbands() else "RGB")


def preview_make(source: Path, target: Path) -> Path | None:
    """A small WebP of an image result (its first frame), at most PREVIEW_SIDE on its longest side;
    None when the result is no image Pillow reads (a video, a playlist)."""
    try:
        if _last_written["path"] == source:
            small = preview_frame(_last_written["frame"])
            _last_written.update(path=None, frame=None)
        else:
            with open_image(source) as image:
                if image.width * image.height > settings.MAX_IMAGE_PIXELS:
                    return None
                image.draft("RGB", (PREVIEW_SIDE, PREVIEW_SIDE))  # JPEG and RAW decode smaller for it
                small = preview_frame(upright(image))
        small.save(target, "WEBP", quality=70, method=2)
    except (Image.UnidentifiedImageError, ProcessingError, *DECODE_ERRORS):
        return None
    return target
