"""Camera RAW (DNG, CR2, NEF, ARW) as a Pillow format, decoded by LibRaw through rawpy.

Opening reads only the file's structure (LibRaw parses it without unpacking sensor data),
so the pixel budget is judged on the header as for every other format; `load` demosaics
with the camera's white balance into 8-bit sRGB, already turned upright (LibRaw applies the
orientation itself, so the image carries no EXIF orientation to apply twice).
"""

from __future__ import annotations

import os
from typing import IO

# One decode per worker process per core: LibRaw's OpenMP threads would only oversubscribe.
# Read by libgomp when rawpy loads it, so it is set before the import.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import rawpy
from django.utils.translation import gettext_noop
from PIL import Image, ImageFile, TiffImagePlugin

from .base import ProcessingError

FORMAT = "RAW"
# What each camera's files are, told from the TIFF structure they share.
MIME_TYPES = {"DNG": "image/x-adobe-dng", "CR2": "image/x-canon-cr2", "NEF": "image/x-nikon-nef",
              "ARW": "image/x-sony-arw"}
EXTENSIONS = {"image/x-adobe-dng": ".dng", "image/x-canon-cr2": ".cr2", "image/x-nikon-nef": ".nef",
              "image/x-sony-arw": ".arw"}
TYPE_NAMES = {"image/x-adobe-dng": "DNG", "image/x-canon-cr2": "Canon CR2", "image/x-nikon-nef": "Nikon NEF",
              "image/x-sony-arw": "Sony ARW"}
DNG_VERSION_TAG = 50706
MAKE_TAG = 271
SUB_IFDS_TAG = 330  # where NEF and ARW keep the sensor data, behind a preview
TIFF_HEADERS = (b"II*\x00", b"MM\x00*")
TRANSPOSING_FLIPS = {5, 6}  # LibRaw's flip codes that swap width and height


class CameraRawError(ValueError):
    """A file that is a camera's RAW by its structure, which LibRaw cannot read."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"is a {TYPE_NAMES[MIME_TYPES[kind]]} file LibRaw cannot read ({reason})")
        self.kind = TYPE_NAMES[MIME_TYPES[kind]]


def raw_kind(fp: IO[bytes]) -> str | None:
    """"DNG", "CR2", "NEF" or "ARW" from the first directory of a TIFF-structured file, or None."""
    fp.seek(0)
    header = fp.read(16)
    if header[:4] not in TIFF_HEADERS:
        return None
    if header[8:10] == b"CR":  # Canon's own mark right after the TIFF header
        return "CR2"
    directory = TiffImagePlugin.ImageFileDirectory_v2(header[:8])
    fp.seek(directory.next)
    directory.load(fp)
    if DNG_VERSION_TAG in directory:
        return "DNG"
    if SUB_IFDS_TAG not in directory:
        return None  # the picture is in the first directory: a TIFF a scanner or a camera's TIFF mode wrote
    make = str(directory.get(MAKE_TAG, "")).strip().upper()
    if make.startswith("NIKON"):
        return "NEF"
    if make.startswith("SONY"):
        return "ARW"
    return None


def _accept(prefix: bytes) -> bool:
    return prefix[:4] in TIFF_HEADERS


class CameraRawImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "Camera RAW (LibRaw)"

    def _open(self) -> None:
        try:
            kind = raw_kind(self.fp)
        except (OSError, ValueError, KeyError) as exc:
            raise SyntaxError("not a camera RAW file") from exc
        if kind is None:
            raise SyntaxError("not a camera RAW file")  # a plain TIFF: Pillow tries the next format
        self._raw = rawpy.RawPy()
        try:
            if self.filename:
                self._raw.open_file(os.fspath(self.filename))
            else:
                self.fp.seek(0)
                self._raw.open_buffer(self.fp)
            sizes = self._raw.sizes
        except rawpy.LibRawError as exc:
            self._raw.close()
            raise CameraRawError(kind, type(exc).__name__) from exc
        width, height = sizes.width, sizes.height
        if sizes.flip in TRANSPOSING_FLIPS:
            width, height = height, width
        self._size = (width, height)
        self._mode = "RGB"
        self.custom_mimetype = MIME_TYPES[kind]
        self._half_size = False
        self.tile = []

    def draft(self, mode: str | None, size: tuple[int, int] | None) -> tuple[str, tuple[int, int, int, int]] | None:
        """Demosaic at half size (four times less work) when the caller needs no more than that."""
        if size and not self._half_size and size[0] <= self.size[0] // 2 and size[1] <= self.size[1] // 2:
            self._half_size = True
            self._size = (self.size[0] // 2, self.size[1] // 2)
            return self.mode, (0, 0, self.size[0] * 2, self.size[1] * 2)
        return None

    def load(self) -> object:
        if self._im is None and getattr(self, "_raw", None) is not None:
            try:
                sensor = self._raw.raw_image_visible
                # A sensor of one value is no photograph: its data was left out (a DNG without its strips)
                # or blanked, and would come out as a black picture marked done.
                if sensor.size == 0 or sensor.min() == sensor.max():
                    raise ProcessingError(gettext_noop("has no image data: its sensor data is missing or blank"))
                pixels = self._raw.postprocess(use_camera_wb=True, output_bps=8, half_size=self._half_size)
            except rawpy.LibRawError as exc:
                raise OSError("its sensor data could not be decoded") from exc
            finally:
                self._raw.close()
                self._raw = None
            decoded = Image.fromarray(pixels)
            self._size = decoded.size  # LibRaw's margins can differ by a pixel from the header's
            self.im = decoded.im
        return Image.Image.load(self)


Image.register_open(FORMAT, CameraRawImageFile, _accept)
