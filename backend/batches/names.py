"""File names from uploads: made safe to show, to put in a ZIP and to derive keys from."""

from __future__ import annotations

import re
import unicodedata
from pathlib import PurePosixPath

MAX_NAME_LENGTH = 120
_FORBIDDEN = re.compile(r'[\\/:*?"<>|]')


def _is_unsafe_char(char: str) -> bool:
    # Control characters (Cc) and format characters (Cf: bidi overrides such as
    # U+202E, zero-width joiners) can hide a name's real extension.
    return unicodedata.category(char) in {"Cc", "Cf", "Cs", "Co", "Cn"}


def safe_filename(name: str, fallback: str = "file") -> str:
    """A bare file name with no path, no control characters and a bounded length."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # no directories, either separator
    name = "".join(" " if _is_unsafe_char(c) else c for c in name)
    name = name.replace("\ufffd", "_")  # bytes that were not text (a name in another encoding)
    name = _FORBIDDEN.sub("_", name)
    name = re.sub(r"\s+", " ", name).strip(" .")  # no leading dots: no hidden files, no ".."
    if not name:
        return fallback
    path = PurePosixPath(name)
    stem, suffix = path.stem, path.suffix
    if len(suffix) > 16 or not suffix[1:].isalnum():
        stem, suffix = name, ""
    stem = stem[: MAX_NAME_LENGTH - len(suffix)].rstrip(" .") or fallback
    return stem + suffix


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name (2)`, `name (3)`…, whichever is not in `taken` (case-insensitive); records it."""
    path = PurePosixPath(name)
    candidate, counter = name, 1
    while candidate.lower() in taken:
        counter += 1
        candidate = f"{path.stem} ({counter}){path.suffix}"
    taken.add(candidate.lower())
    return candidate


def with_suffix(name: str, suffix: str) -> str:
    """The name with its extension replaced, e.g. photo.png -> photo.webp."""
    return PurePosixPath(name).stem + suffix
