"""Text rendering that never draws a missing-glyph box.

Pillow draws one string with one font, and no single small font covers Latin,
Cyrillic and Chinese. The text is therefore split into runs, each drawn with
the first font of the chain whose character map has it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from fontTools.ttLib import TTFont
from PIL import ImageDraw, ImageFont

# Looked up in order; Debian: fonts-dejavu-core (Latin, Cyrillic, Greek), fonts-droid-fallback (CJK).
FONT_CHAIN = (
    ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf"),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
     "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
)


@functools.cache
def font_files() -> tuple[tuple[str, frozenset[int]], ...]:
    """The installed fonts of the chain, each with the code points it covers."""
    found = []
    for candidates in FONT_CHAIN:
        path = next((p for p in candidates if Path(p).exists()), None)
        if path:
            with TTFont(path, fontNumber=0, lazy=True) as font:
                found.append((path, frozenset(font.getBestCmap())))
    return tuple(found)


@functools.lru_cache(maxsize=64)
def _font(path: str | None, size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(path, size) if path else ImageFont.load_default(size)


@dataclass(frozen=True)
class TextLayout:
    runs: tuple[tuple[ImageFont.FreeTypeFont | ImageFont.ImageFont, str], ...]
    width: int
    ascent: int
    descent: int
    stroke: int

    @property
    def size(self) -> tuple[int, int]:
        return self.width + 2 * self.stroke, self.ascent + self.descent + 2 * self.stroke


def layout(text: str, size: int) -> TextLayout:
    """Split `text` into runs by font coverage and measure it at `size` pixels."""
    chain = font_files()
    runs: list[tuple[str | None, str]] = []
    for char in text:
        path = next((p for p, cmap in chain if ord(char) in cmap), chain[0][0] if chain else None)
        if runs and runs[-1][0] == path:
            runs[-1] = (path, runs[-1][1] + char)
        else:
            runs.append((path, char))
    fonts = [(_font(path, size), chunk) for path, chunk in runs]
    metrics = [font.getmetrics() for font, _ in fonts] or [(size, 0)]
    width = round(sum(font.getlength(chunk) for font, chunk in fonts))
    return TextLayout(tuple(fonts), max(width, 1), max(m[0] for m in metrics), max(m[1] for m in metrics),
                      stroke=max(1, size // 18))


def fitting_layout(text: str, size: int, max_width: float) -> TextLayout:
    """The layout at `size`, shrunk so that it is no wider than `max_width`."""
    measured = layout(text, size)
    if measured.size[0] > max_width:
        measured = layout(text, max(6, int(size * max_width / measured.size[0])))
    return measured


def draw(canvas: ImageDraw.ImageDraw, origin: tuple[float, float], text: TextLayout, *, outline: bool) -> None:
    """Draw the text (or only its outline band) in white on an "L" mask, top-left at `origin`."""
    x = origin[0] + text.stroke
    baseline = origin[1] + text.stroke + text.ascent
    for font, chunk in text.runs:
        stroke = text.stroke if outline else 0
        canvas.text((x, baseline), chunk, font=font, fill=255, anchor="ls", stroke_width=stroke, stroke_fill=255)
        x += font.getlength(chunk)
