"""What an upload really is, judged from its bytes (names and browser types are not trusted),
and whether this service takes it: the one check of uploaded files, for the pages and the API."""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from PIL import Image, UnidentifiedImageError

from backend.processors import headers, raw
from backend.processors.imaging import DECODERS, animation_problem, count_frames

from .names import safe_filename

# Extension that matches each sniffed type, used for storage keys and result names.
EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "image/tiff": ".tiff",
    "image/bmp": ".bmp",
    "image/heif": ".heic",
    "image/avif": ".avif",
    "image/jxl": ".jxl",
    **raw.EXTENSIONS,
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "video/x-matroska": ".mkv",
    "video/x-msvideo": ".avi",
    "audio/mp4": ".m4a",
    "audio/wav": ".wav",
    "audio/flac": ".flac",
    "audio/ogg": ".ogg",
    "audio/mpeg": ".mp3",
    "audio/aac": ".aac",
}
TYPE_NAMES = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/webp": "WebP",
    "image/gif": "GIF",
    "image/tiff": "TIFF",
    "image/bmp": "BMP",
    "image/heif": "HEIC/HEIF",
    "image/avif": "AVIF",
    "image/jxl": "JPEG XL",
    **raw.TYPE_NAMES,
    "video/mp4": gettext_lazy("MP4 video"),
    "video/quicktime": gettext_lazy("QuickTime video"),
    "video/webm": gettext_lazy("WebM video"),
    "video/x-matroska": gettext_lazy("Matroska video"),
    "video/x-msvideo": gettext_lazy("AVI video"),
    "audio/mp4": gettext_lazy("M4A audio"),
    "audio/wav": gettext_lazy("WAV audio"),
    "audio/flac": gettext_lazy("FLAC audio"),
    "audio/ogg": gettext_lazy("Ogg audio"),
    "audio/mpeg": gettext_lazy("MP3 audio"),
    "audio/aac": gettext_lazy("AAC audio"),
}
# QuickTime files without an ftyp box start with one of these.
QUICKTIME_BOXES = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
UNKNOWN = "application/octet-stream"


class UploadRefused(Exception):
    """The upload is refused; the message says why, in plain words."""


@dataclass(frozen=True)
class Sniffed:
    content_type: str
    width: int = 0
    height: int = 0


def sniff(fileobj: IO[bytes]) -> Sniffed:
    """Identify an upload by its content. Raises UploadRefused for decompression bombs."""
    fileobj.seek(0)
    if not fileobj.read(1):
        raise UploadRefused(_("is empty"))
    fileobj.seek(0)
    head = fileobj.read(16)
    fileobj.seek(0)
    if headers.is_jxl(head):  # its decoder decodes on opening: the header is read without it
        try:
            width, height = headers.jxl_size(fileobj)
        except headers.HeaderError:
            return Sniffed(UNKNOWN)
        finally:
            fileobj.seek(0)
        return _judged(Sniffed("image/jxl", width, height), frames=1)  # its frames: the worker counts them
    try:
        # Only the header is read here: cheap, and no pixel is decoded.
        with Image.open(fileobj, formats=DECODERS) as image:
            width, height = image.size
            # One MIME type per format, except camera RAW, whose decoder tells the camera's format.
            mime = image.get_format_mimetype() if image.format == raw.FORMAT else Image.MIME.get(image.format or "")
            mime = mime or UNKNOWN
            try:  # from the header, by skipping frames undecoded, or a TIFF's directories up to the budget
                frames = count_frames(image)
            except (OSError, SyntaxError, ValueError, EOFError, struct.error):
                frames = 1  # a damaged animation: the worker says so
    except Image.DecompressionBombError:
        raise UploadRefused(_too_many_pixels()) from None
    except raw.CameraRawError as exc:
        raise UploadRefused(_("is a camera RAW file (%(type)s) that could not be read: it is damaged, or from a "
                              "camera LibRaw does not know") % {"type": exc.kind}) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        fileobj.seek(0)
        head = fileobj.read(64)
        fileobj.seek(0)
        return Sniffed(media_type(head))
    finally:
        fileobj.seek(0)
    return _judged(Sniffed(mime, width, height), frames)


def _judged(sniffed: Sniffed, frames: int) -> Sniffed:
    """The image's pixel and frame budgets, from what its header says."""
    width, height = sniffed.width, sniffed.height
    if width * height > settings.MAX_IMAGE_PIXELS:
        raise UploadRefused(_too_many_pixels(width, height))
    if width < 1 or height < 1:
        raise UploadRefused(_("has no pixels"))
    if animation_problem(width, height, frames):
        raise UploadRefused(_("is an animation too large to process: at most %(frames)s frames and %(pixels)s "
                              "megapixels over all frames are accepted") % {
            "frames": settings.MAX_ANIMATION_FRAMES, "pixels": f"{settings.MAX_ANIMATION_PIXELS / 1e6:g}"})
    return sniffed


def media_type(head: bytes) -> str:
    """The container a video or audio file declares in its first bytes, or UNKNOWN.

    Only a first filter: the worker's ffprobe, restricted to the same containers,
    has the last word. Text formats (playlists, concat lists) never match.
    """
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"qt  ":
            return "video/quicktime"
        return "audio/mp4" if brand in {b"M4A ", b"M4B "} else "video/mp4"
    if head[4:8] in QUICKTIME_BOXES:
        return "video/quicktime"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm" if b"webm" in head else "video/x-matroska"
    if head.startswith(b"RIFF") and head[8:12] in {b"AVI ", b"WAVE"}:
        return "video/x-msvideo" if head[8:12] == b"AVI " else "audio/wav"
    if head.startswith(b"fLaC"):
        return "audio/flac"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"ID3"):
        return "audio/mpeg"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "audio/aac"  # ADTS frame header
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio/mpeg"  # MPEG audio frame header
    return UNKNOWN


# The file input's `accept`: every image type sniffing takes, plus the extensions of the image
# types that browsers do not all know by name (HEIC, JPEG XL, camera RAW).
ACCEPT_ATTRIBUTE = ",".join([*(t for t in EXTENSIONS if t.startswith("image/")), ".heic", ".heif", ".jxl",
                             *raw.EXTENSIONS.values(), "video/*", "audio/*"])


def is_media(content_type: str) -> bool:
    return content_type.startswith(("video/", "audio/"))


def _too_many_pixels(width: int = 0, height: int = 0) -> str:
    limit = f"{settings.MAX_IMAGE_PIXELS / 1e6:g}"
    if width:
        return _("is too large (%(width)s×%(height)s): at most %(limit)s megapixels are accepted") % {
            "width": width, "height": height, "limit": limit}
    return _("is too large: at most %(limit)s megapixels are accepted") % {"limit": limit}


def describe(content_type: str) -> str:
    return str(TYPE_NAMES.get(content_type, _("not an image, video or audio file this service can read")))


def kind_of(content_type: str) -> str:
    """"image", "video" or "audio": what steps of a chain are matched on."""
    return content_type.split("/", 1)[0]


@dataclass
class Upload:
    """An accepted file: sent in the request (`file`), or already in storage under `key` (sent in parts)."""

    name: str  # safe to show and to derive result names from
    sniffed: Sniffed
    size: int
    file: UploadedFile | None = None
    key: str = ""


MB = 1024 * 1024


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


def uploads_check(files: Sequence[UploadedFile],
                  refusal: Callable[[str], str | None]) -> tuple[list[Upload], list[str]]:
    """Sniff and size-check every file; `refusal(content_type)` says why the chosen steps cannot take a type.

    Returns the accepted uploads and one sentence per problem (a file refused, too much in
    all); the batch is accepted only when there are no problems. (How many files a batch may
    have is batch_intake's to check, before any file is read.)
    """
    errors: list[str] = []
    uploads = []
    for file in files:
        name = safe_filename(file.name or "")
        try:
            sniffed = sniff(file)
        except UploadRefused as exc:
            errors.append(_("“%(name)s” %(reason)s.") % {"name": name, "reason": exc})
            continue
        problem = size_problem(name, file.size, sniffed.content_type)
        if problem:
            errors.append(problem)
            continue
        uploads.append(Upload(file=file, name=name, sniffed=sniffed, size=file.size))
    return uploads, errors + chain_problems(uploads, refusal, sum(f.size for f in files))


def size_problem(name: str, size: int, content_type: str) -> str | None:
    """The sentence refusing a file over its kind's size limit, or None."""
    media = is_media(content_type)
    limit = settings.MAX_MEDIA_FILE_BYTES if media else settings.MAX_FILE_BYTES
    if size <= limit:
        return None
    message = (_("“%(name)s” is %(size)s; each video or audio file may be at most %(limit)s.") if media
               else _("“%(name)s” is %(size)s; each image may be at most %(limit)s."))
    return message % {"name": name, "size": _mb(size), "limit": _mb(limit)}


def chain_problems(uploads: list[Upload], refusal: Callable[[str], str | None], total: int) -> list[str]:
    """Files the chosen steps cannot take, and a batch over its total size: sentences, for the
    files of a request and for files sent in parts alike. Refused files are taken out of `uploads`."""
    errors = []
    for upload in list(uploads):
        reason = refusal(upload.sniffed.content_type)
        if reason:
            errors.append(_("“%(name)s” is %(type)s; %(reason)s.") % {
                "name": upload.name, "type": describe(upload.sniffed.content_type), "reason": reason})
            uploads.remove(upload)
    if total > settings.MAX_BATCH_BYTES:
        errors.append(_("The files add up to %(total)s; a batch may be at most %(limit)s.")
                      % {"total": _mb(total), "limit": _mb(settings.MAX_BATCH_BYTES)})
    return errors
