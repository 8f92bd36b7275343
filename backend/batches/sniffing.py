"""What an upload really is, judged from its bytes; names and browser types are not trusted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO

from django.conf import settings
from PIL import Image, UnidentifiedImageError

# Decoders we accept input for. Pillow knows many more; fewer decoders, less attack surface.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "TIFF", "BMP")
# Extension that matches each sniffed type, used for storage keys and result names.
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/tiff": ".tiff",
    "image/bmp": ".bmp",
}
TYPE_NAMES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "image/gif": "GIF",
    "image/tiff": "TIFF",
    "image/bmp": "BMP",
}
UNKNOWN = "application/octet-stream"


class Refused(Exception):
    """The upload is refused; the message says why, in plain words."""


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    width: int = 0
    height: int = 0


def sniff(fileobj: IO[bytes]) -> Sniffed:
    """Identify an upload by its content. Raises Refused for decompression bombs."""
    fileobj.seek(0)
    if not fileobj.read(1):
        raise Refused("is empty")
    fileobj.seek(0)
    try:
        # Only the header is read here: cheap, and no pixel is decoded.
        with Image.open(fileobj, formats=IMAGE_FORMATS) as image:
            width, height = image.size
            mime = Image.MIME.get(image.format or "", UNKNOWN)
    except Image.DecompressionBombError:
        raise Refused(_too_many_pixels()) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        return Sniffed(UNKNOWN)
    finally:
        fileobj.seek(0)
    if width * height > settings.MAX_IMAGE_PIXELS:
        raise Refused(_too_many_pixels(width, height))
    if width < 1 or height < 1:
        raise Refused("has no pixels")
    return Sniffed(mime, width, height)


def _too_many_pixels(width: int = 0, height: int = 0) -> str:
    size = f" ({width}×{height})" if width else ""
    return f"is too large{size}: at most {settings.MAX_IMAGE_PIXELS / 1e6:g} megapixels are accepted"


def describe(content_type: str) -> str:
    return TYPE_NAMES.get(content_type, "not an image or file type this service can read")
