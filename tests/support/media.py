"""Real media made with ffmpeg for the tests, and ffprobe to check results."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None,
                                  reason="ffmpeg is not installed (Debian: apt-get install ffmpeg; .ci/run does)")

# Container → (video codec args, audio codec args)
CONTAINERS = {
    "mp4": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], ["-c:a", "aac"]),
    "mov": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], ["-c:a", "aac"]),
    "mkv": (["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"], ["-c:a", "libopus"]),
    "avi": (["-c:v", "mpeg4", "-q:v", "5"], ["-c:a", "libmp3lame"]),
    "webm": (["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"], ["-c:a", "libopus"]),
}
AUDIO = {"wav": ["-c:a", "pcm_s16le"], "flac": ["-c:a", "flac"], "ogg": ["-c:a", "libvorbis"],
         "mp3": ["-c:a", "libmp3lame"]}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=120)


def video(path: Path, *, size: str = "320x240", seconds: float = 2.0, rate: int = 25, container: str | None = None,
          audio: bool = True, rotate: int | None = None) -> Path:
    """A test-pattern video with a sine tone, in the container its suffix names.

    `rotate` adds the display-rotation flag phones write (stored landscape, shown portrait).
    """
    vcodec, acodec = CONTAINERS[container or path.suffix.lstrip(".")]
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    encoded = path.with_name("unrotated-" + path.name) if rotate is not None else path
    ffmpeg(*inputs, *vcodec, *(acodec if audio else []), str(encoded))
    if rotate is not None:  # ffmpeg 5 writes the flag only when copying, not while encoding
        ffmpeg("-i", str(encoded), "-c", "copy", "-metadata:s:v:0", f"rotate={rotate}", str(path))
    return path


def audio(path: Path, seconds: float = 2.0) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}", "-ac", "2",
           *AUDIO[path.suffix.lstrip(".")], str(path))
    return path


def probe(path: Path) -> dict:
    output = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                             str(path)], check=True, capture_output=True, timeout=30).stdout
    return json.loads(output)


def stream(report: dict, kind: str) -> dict | None:
    return next((s for s in report["streams"] if s["codec_type"] == kind), None)


def duration(report: dict) -> float:
    return float(report["format"]["duration"])


def top_level_boxes(path: Path) -> list[str]:
    """The order of an MP4's top-level boxes (moov before mdat means it streams at once)."""
    boxes, data, offset = [], path.read_bytes(), 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if size == 1:
            size = struct.unpack(">Q", data[offset + 8:offset + 16])[0]
        boxes.append(kind.decode("latin-1"))
        if size < 8:
            break
        offset += size
    return boxes


def frame(path: Path, at: float, target: Path) -> Path:
    ffmpeg("-ss", str(at), "-i", str(path), "-frames:v", "1", str(target))
    return target


def probe_frames(path: Path) -> dict:
    """ffprobe's report with every frame counted (nb_read_frames), not the container's claim."""
    output = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-print_format", "json", "-show_streams",
                             str(path)], check=True, capture_output=True, timeout=120).stdout
    return json.loads(output)


def without_duration(path: Path) -> Path:
    """The Matroska file with its Duration element blanked out (an EBML Void of the same length): a
    container that does not say how long it is, as a crafted upload would."""
    data = bytearray(path.read_bytes())
    at = data.find(b"\x44\x89")  # Duration, inside the Segment's Info
    width = data[at + 2] & 0x0F  # its size byte: 0x84 or 0x88
    assert at > 0 and data[at + 2] in (0x84, 0x88), "no Duration element where Matroska puts it"
    total = 3 + width
    data[at:at + total] = bytes([0xEC, 0x80 | (total - 2)]) + bytes(total - 2)
    path.write_bytes(data)
    return path
