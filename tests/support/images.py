"""Test images of every kind the processors must handle, built from real photographs.

The photographs are the ones scikit-image ships (astronaut, coffee, chelsea,
camera); the rest (CMYK, 16-bit, palette, alpha, animations) are made from them.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image, ImageCms
from skimage import data as skdata

import backend.processors.imaging  # noqa: F401 - registers HEIC/HEIF and JPEG XL with Pillow, as the service does

GPS_IFD = 0x8825
MAKE = 0x010F
ORIENTATION = 0x0112
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">' \
      b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Jane Doe"/></rdf:RDF></x:xmpmeta>'


@functools.cache
def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def photo(name: str = "astronaut") -> Image.Image:
    """A real photograph from scikit-image's data set, as a Pillow image."""
    return Image.fromarray(getattr(skdata, name)())


def save(image: Image.Image | list[Image.Image], fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    if isinstance(image, list):
        image[0].save(buffer, fmt, save_all=True, append_images=image[1:], duration=80, loop=0, **params)
    else:
        image.save(buffer, fmt, **params)
    return buffer.getvalue()


def camera_exif(orientation: int = 1) -> Image.Exif:
    """EXIF as a phone writes it: maker, orientation and a GPS position."""
    exif = Image.Exif()
    exif[MAKE] = "PhoneMaker"
    exif[ORIENTATION] = orientation
    gps = exif.get_ifd(GPS_IFD)
    gps.update({1: "N", 2: (52.0, 13.0, 0.0), 3: "E", 4: (21.0, 0.0, 30.0)})
    return exif


def phone_jpeg(name: str = "astronaut", orientation: int = 1) -> bytes:
    """A JPEG with a colour profile, camera EXIF including GPS, and XMP: what phones upload."""
    return save(photo(name), "JPEG", quality=92, icc_profile=srgb_profile(), exif=camera_exif(orientation),
                xmp=XMP)


def cmyk_jpeg() -> bytes:
    return save(photo("coffee").convert("CMYK"), "JPEG", quality=92)


def png16() -> bytes:
    """A 16-bit greyscale PNG (scanners and raw developers write these)."""
    pixels = skdata.camera().astype(np.uint16) * 257
    return save(Image.fromarray(pixels), "PNG")


def palette_png() -> bytes:
    """A palette PNG with one transparent palette entry."""
    image = photo("coffee").quantize(64)
    return save(image, "PNG", transparency=0, icc_profile=srgb_profile())


def rgba_png() -> bytes:
    """A photograph fading to fully transparent at the left edge, with a colour profile."""
    image = photo("chelsea").convert("RGBA")
    image.putalpha(Image.linear_gradient("L").rotate(90).resize(image.size))
    return save(image, "PNG", icc_profile=srgb_profile())


def grey_jpeg() -> bytes:
    return save(photo("camera"), "JPEG", quality=92)


def animation_frames() -> list[Image.Image]:
    base = photo("coffee").resize((300, 200))
    return [base.rotate(angle) for angle in (0, 8, 16)]


def animated_gif() -> bytes:
    return save([frame.convert("P", palette=Image.Palette.ADAPTIVE) for frame in animation_frames()], "GIF")


def animated_webp() -> bytes:
    return save(animation_frames(), "WEBP", quality=90)


def logo_png(size: int = 200) -> bytes:
    """A red disc on a transparent background."""
    logo = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    from PIL import ImageDraw

    ImageDraw.Draw(logo).ellipse((0, 0, size - 1, size - 1), fill=(230, 20, 20, 255))
    return save(logo, "PNG")


# ---------------------------------------------------------------------------
# The newer formats, made by the libraries themselves (pillow-heif, Pillow's AVIF, pillow-jxl-plugin)


def phone_heic(name: str = "coffee", orientation: int = 6) -> bytes:
    """A HEIC as an iPhone writes one: landscape pixels shown turned, an sRGB profile, camera EXIF."""
    return save(photo(name), "HEIF", quality=80, icc_profile=srgb_profile(),
                exif=camera_exif(orientation).tobytes())


def burst_heic() -> bytes:
    """A HEIC of two pictures whose primary (the photo to show) is the second: blue, 200×300."""
    buffer = io.BytesIO()
    Image.new("RGB", (320, 160), (220, 30, 30)).save(
        buffer, "HEIF", save_all=True, append_images=[Image.new("RGB", (200, 300), (20, 40, 220))], primary_index=1)
    return buffer.getvalue()


def huge_heic(side: int = 60000) -> bytes:
    """A small HEIC whose header (its `ispe` box) declares side × side pixels: a decompression bomb."""
    data = bytearray(save(Image.new("RGB", (64, 64), "white"), "HEIF"))
    at = data.index(b"ispe") + 8  # box type, then version and flags
    data[at:at + 8] = side.to_bytes(4, "big") + side.to_bytes(4, "big")
    return bytes(data)


def avif_with_alpha() -> bytes:
    """The astronaut on a transparent left half."""
    image = photo("astronaut").convert("RGBA")
    alpha = Image.new("L", image.size, 255)
    alpha.paste(0, (0, 0, 256, 512))
    image.putalpha(alpha)
    return save(image, "AVIF", quality=80)


def jpeg_xl() -> bytes:
    return save(photo("rocket"), "JXL", quality=85)


# Every kind of input the issue names, with its file suffix.
KINDS = {
    "photo.jpg": phone_jpeg,
    "cmyk.jpg": cmyk_jpeg,
    "grey.jpg": grey_jpeg,
    "sixteen-bit.png": png16,
    "palette.png": palette_png,
    "alpha.png": rgba_png,
    "animated.gif": animated_gif,
    "animated.webp": animated_webp,
}


# ---------------------------------------------------------------------------
# Camera RAW: a DNG as a camera writes one, its sensor data made from a real photograph


def camera_dng(name: str = "chelsea", orientation: int = 1, make: str = "TestCam", dng: bool = True,
               declared: tuple[int, int] | None = None, blank: int | None = None) -> bytes:
    """The photograph seen through an RGGB Bayer filter: 12-bit sensor values over a black level,
    greens stronger than red and blue (so the camera's white balance must be applied), the
    orientation in the TIFF tag. `dng=False` leaves out the DNG version: a TIFF a camera maker's
    RAW format is built on. `declared` overrides the width and height the header states; `blank`
    gives every sensor value that one number (a file whose image data is missing or wiped)."""
    import tifffile

    rgb = np.asarray(photo(name).convert("RGB"), dtype=np.float64) / 255
    height, width = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    rgb = rgb[:height, :width] ** 2.2  # sensor values are linear light
    gains = (0.5, 1.0, 0.6)  # what the sensor sees under daylight, before white balance
    black, white = 64, 4095
    mosaic = np.empty((height, width), np.uint16)
    for (dy, dx), channel in {(0, 0): 0, (0, 1): 1, (1, 0): 1, (1, 1): 2}.items():
        values = rgb[dy::2, dx::2, channel] * gains[channel] * (white - black) + black
        mosaic[dy::2, dx::2] = values.round().astype(np.uint16)
    if blank is not None:
        mosaic[:] = blank
    neutral = [int(g * 10000) for g in gains]
    # XYZ to this sensor: to linear sRGB, then the sensor's gains (what a camera's DNG states).
    xyz_to_srgb = np.array([[3.2406, -1.5372, -0.4986], [-0.9689, 1.8758, 0.0415], [0.0557, -0.2040, 1.0570]])
    colour_matrix = (np.diag(gains) @ xyz_to_srgb).flatten()
    cfa_tags = [
        (33421, "H", 2, (2, 2), True),  # CFA repeat pattern: 2×2
        (33422, "B", 4, (0, 1, 1, 2), True),  # RGGB
        (50714, "H", 1, black, True),
        (50717, "H", 1, white, True),
    ]
    camera_tags = [
        (50721, "2i", 9, [v for m in colour_matrix for v in (round(m * 10000), 10000)], True),
        (50778, "H", 1, 21, True),  # the matrix is for daylight (D65)
        (50728, "2I", 3, [v for n in neutral for v in (n, 10000)], True),  # as-shot neutral
        (271, "s", 0, make, True),
        (272, "s", 0, f"{make} Model 1", True),
        (274, "H", 1, orientation, True),
    ]
    if dng:
        camera_tags += [(50706, "B", 4, (1, 4, 0, 0), True), (50707, "B", 4, (1, 1, 0, 0), True),
                        (50708, "s", 0, f"{make} Model 1", True)]
    # As cameras lay it out: a small preview first, the sensor data in a sub-directory.
    preview = np.asarray(photo(name).convert("RGB").resize((width // 4, height // 4)))
    buffer = io.BytesIO()
    with tifffile.TiffWriter(buffer) as tiff:
        tiff.write(preview, photometric="rgb", subfiletype=1, subifds=1, extratags=camera_tags, metadata=None)
        tiff.write(mosaic, photometric=32803, extratags=cfa_tags, metadata=None)
    data = bytearray(buffer.getvalue())
    if declared:
        # Patch ImageWidth (256) and ImageLength (257) of the sensor data's directory, which the SubIFDs
        # tag (330) of the first one points to: 12-byte entries after a two-byte count.
        def entries(offset: int):
            for index in range(int.from_bytes(data[offset:offset + 2], "little")):
                yield offset + 2 + 12 * index

        first = int.from_bytes(data[4:8], "little")
        (sub,) = [int.from_bytes(data[at + 8:at + 12], "little") for at in entries(first)
                  if int.from_bytes(data[at:at + 2], "little") == 330]
        for at in entries(sub):
            tag = int.from_bytes(data[at:at + 2], "little")
            if tag in (256, 257):
                size = 2 if int.from_bytes(data[at + 2:at + 4], "little") == 3 else 4
                value = declared[0] if tag == 256 else declared[1]
                data[at + 8:at + 8 + size] = value.to_bytes(size, "little")
    return bytes(data)


# The formats added after JPEG, PNG, WebP, GIF, TIFF and BMP: a file of each, with the type sniffing gives it.
NEWER_FORMATS = {
    "iphone.heic": (phone_heic, "image/heif"),
    "burst.heic": (burst_heic, "image/heif"),
    "alpha.avif": (avif_with_alpha, "image/avif"),
    "rocket.jxl": (jpeg_xl, "image/jxl"),
    "camera.dng": (lambda: camera_dng(orientation=6), "image/x-adobe-dng"),
}


def jxl_declaring(width: int, height: int, container: bool = False, tail: bytes = b"\x00" * 64) -> bytes:
    """A JPEG XL codestream whose SizeHeader declares `width`×`height`, followed by `tail` (no real
    image): what a decompression bomb looks like to a reader of headers. In a container's `jxlc` box
    with `container`."""
    bits: list[int] = []

    def put(value: int, count: int) -> None:
        bits.extend((value >> shift) & 1 for shift in range(count))

    def dimension(value: int) -> None:
        for selector, count in enumerate((9, 13, 18, 30)):
            if value - 1 < 1 << count:
                put(selector, 2)
                put(value - 1, count)
                return
        raise ValueError(value)

    put(0, 1)  # not a multiple-of-8 small size
    dimension(height)
    put(0, 3)  # no ratio: the width follows
    dimension(width)
    bits.extend([0] * (-len(bits) % 8))
    header = bytes(sum(bit << index for index, bit in enumerate(bits[i:i + 8])) for i in range(0, len(bits), 8))
    codestream = b"\xff\x0a" + header + tail
    if not container:
        return codestream
    signature = b"\x00\x00\x00\x0cJXL \x0d\x0a\x87\x0a"
    ftyp = b"\x00\x00\x00\x14ftypjxl \x00\x00\x00\x00jxl "
    exif = b"\x00\x00\x00\x10Exif\x00\x00\x00\x00MM\x00*"
    return signature + ftyp + exif + len(codestream + b"12345678").to_bytes(4, "big") + b"jxlc" + codestream


def tiff_pages(count: int, loop: bool = False) -> bytes:
    """A TIFF chaining `count` one-pixel pages in as few bytes as a page can take, the last one pointing
    back to the first with `loop`."""
    import struct

    page = 2 + 12 * 8 + 4  # eight entries: the least a page needs
    body = bytearray(b"II*\x00" + struct.pack("<I", 8))
    pixel = 8 + count * page
    for index in range(count):
        offset = 8 + index * page
        next_offset = offset + page if index + 1 < count else (8 if loop else 0)
        entries = [(256, 3, 1, 1), (257, 3, 1, 1), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
                   (273, 4, 1, pixel), (278, 3, 1, 1), (279, 4, 1, 1)]
        body += struct.pack("<H", len(entries))
        for tag, kind, number, value in entries:
            body += struct.pack("<HHII", tag, kind, number, value)
        body += struct.pack("<I", next_offset)
    return bytes(body + b"\x80")
