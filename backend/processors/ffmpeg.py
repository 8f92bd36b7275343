"""Running ffprobe and ffmpeg on untrusted media, safely.

Crafted media are a known way into ffmpeg: a "video" that is really an HLS
playlist or concat list makes ffmpeg open other files (or URLs) and copy them
into the output. Every run here therefore
- allows only the demuxers of an allow-list (`-format_whitelist`), so playlist
  and concat demuxers never run, whatever the file is named;
- allows only local file and pipe I/O (`-protocol_whitelist file,pipe`), never
  the network;
- reads no terminal input (`-nostdin`), works in a directory of its own, and
  is bounded in time, duration, resolution and output size.
The probe result is then checked against allow-lists of codecs before any
decoding run starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext_noop

from .base import ProcessingError, Progress

log = logging.getLogger(__name__)

# Demuxers that may open an input. No hls, concat, image2 (patterns), tty, lavfi, etc.
DEMUXERS = ("mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm", "avi", "wav", "flac", "ogg", "mp3",
            "aac")
VIDEO_CODECS = {"h264", "hevc", "vp8", "vp9", "av1", "mpeg4", "mpeg2video", "mpeg1video", "mjpeg", "prores",
                "theora", "h263", "msmpeg4v3", "dnxhd"}
AUDIO_CODECS = {"aac", "mp3", "mp2", "opus", "vorbis", "flac", "alac", "ac3", "eac3", "amr_nb", "amr_wb",
                "pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s24be", "pcm_s32le", "pcm_f32le", "pcm_f64le",
                "pcm_u8", "pcm_alaw", "pcm_mulaw"}
INPUT_GUARDS = ("-protocol_whitelist", "file,pipe", "-format_whitelist", ",".join(DEMUXERS))
# Frames pass through with their own timestamps: a file of two frames two hours apart stays two
# frames, where a constant-rate output would encode every frame of the gap (hundreds of thousands).
NO_INVENTED_FRAMES = ("-fps_mode", "vfr")


def unavailable() -> str | None:
    """Why ffmpeg-based processors cannot run here, or None.

    With MEDIA_ON_WORKERS the web offers them whatever this machine has: ffmpeg runs on the media
    workers (the web image has none)."""
    if settings.MEDIA_ON_WORKERS:
        return None
    missing = [tool for tool in ("ffmpeg", "ffprobe") if shutil.which(tool) is None]
    if missing:
        return f"needs {' and '.join(missing)} (Debian: apt-get install ffmpeg), which this machine lacks"
    return None


@dataclass(frozen=True)
class VideoStream:
    codec: str
    width: int  # as displayed, after the rotation metadata is applied
    height: int
    fps: float | None
    frames: int | None = None  # as the container counts them, where it does

    def frames_over(self, duration: float | None) -> float:
        """How many frames decoding it means: the container's count, else duration × average rate."""
        if self.frames:
            return float(self.frames)
        return (duration or 0.0) * (self.fps or 30.0)


@dataclass(frozen=True)
class AudioStream:
    codec: str
    channels: int
    sample_rate: int


@dataclass(frozen=True)
class MediaInfo:
    container: str
    duration: float | None
    video: VideoStream | None
    audio: AudioStream | None


def _prepare_child() -> None:
    """Run in the child before ffmpeg starts.

    - SIGKILL it when the process that started it dies: ffmpeg runs in a session of its own
      (so a kill reaches all of it), and without this a pool process killed mid-encode would
      leave its ffmpeg running beside the retry.
    - Lift the pool process's own address-space limit (see workers.limits): ffmpeg's threads
      reserve much address space, and its work is bounded by the probe's budget and the time limit.
    """
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL)
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (hard, hard))


PR_SET_PDEATHSIG = 1
try:  # resolved now, not in the forked child
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):
    _PRCTL = None


def _minimal_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def probe(source: Path) -> MediaInfo:
    """Identify a media file, refusing anything outside the allow-lists or the limits."""
    command = ["ffprobe", "-hide_banner", "-v", "error", *INPUT_GUARDS, "-print_format", "json",
               "-show_format", "-show_streams", "-i", source.name]
    try:
        completed = subprocess.run(command, cwd=source.parent, capture_output=True, env=_minimal_env(),
                                   timeout=settings.MEDIA_PROBE_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise ProcessingError(gettext_noop("could not be read in time: it is damaged or not a normal "
                                           "media file")) from None
    if completed.returncode != 0:
        raise ProcessingError(gettext_noop("is not a video or audio file this converter accepts, or it is damaged"))
    try:
        report = json.loads(completed.stdout)
    except ValueError:
        raise ProcessingError(gettext_noop("is not a video or audio file this converter accepts")) from None
    return check(report)


def check(report: dict) -> MediaInfo:
    """Turn ffprobe's JSON into MediaInfo, enforcing the allow-lists and limits."""
    fmt = report.get("format") or {}
    container = str(fmt.get("format_name", ""))
    if not set(container.split(",")) & set(DEMUXERS):
        raise ProcessingError(gettext_noop("is not a video or audio container this converter accepts"))
    video = audio = None
    for stream in report.get("streams") or []:
        kind, codec = stream.get("codec_type"), stream.get("codec_name", "")
        if kind == "video" and not (stream.get("disposition") or {}).get("attached_pic") and video is None:
            if codec not in VIDEO_CODECS:
                raise ProcessingError(gettext_noop("uses the video codec “%(codec)s”, which this "
                                                   "converter does not accept"),
                                      codec=codec)
            video = _video(stream)
        elif kind == "audio" and audio is None:
            if codec not in AUDIO_CODECS:
                raise ProcessingError(gettext_noop("uses the audio codec “%(codec)s”, which this "
                                                   "converter does not accept"),
                                      codec=codec)
            audio = AudioStream(codec, int(stream.get("channels") or 0), int(stream.get("sample_rate") or 0))
    if video is None and audio is None:
        raise ProcessingError(gettext_noop("has neither a video nor an audio track"))
    duration = _float(fmt.get("duration"))
    if duration is not None and duration > settings.MEDIA_MAX_DURATION_SECONDS:
        raise ProcessingError(gettext_noop("is %(minutes)s minutes long; at most %(limit)s minutes are accepted"),
                              minutes=f"{duration / 60:.0f}", limit=f"{settings.MEDIA_MAX_DURATION_SECONDS / 60:.0f}")
    info = MediaInfo(container, duration, video, audio)
    check_cost(info)
    return info


def check_cost(info: MediaInfo) -> None:
    """Refuse a file whose decoding would cost more than the budget, judged from the probe alone:
    frames (the container's count, else duration × rate) and pixels over all of them."""
    if info.video is None:
        return
    frames = info.video.frames_over(info.duration)
    if frames > settings.MEDIA_MAX_FRAMES:
        raise ProcessingError(gettext_noop("has about %(frames)s frames; at most %(limit)s are accepted in one video"),
                              frames=f"{frames:,.0f}", limit=f"{settings.MEDIA_MAX_FRAMES:,}")
    pixels = frames * info.video.width * info.video.height
    if pixels > settings.MEDIA_MAX_PIXELS:
        raise ProcessingError(gettext_noop("would take too much work to convert (%(frames)s frames of "
                                           "%(width)s×%(height)s); the limit is about %(minutes)s minutes of "
                                           "1080p at 30 fps"),
                              frames=f"{frames:,.0f}", width=info.video.width, height=info.video.height,
                              minutes=f"{settings.MEDIA_MAX_PIXELS / (1920 * 1080 * 30 * 60):.0f}")


def _float(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _video(stream: dict) -> VideoStream:
    width, height = int(stream.get("width") or 0), int(stream.get("height") or 0)
    if width < 2 or height < 2:
        raise ProcessingError(gettext_noop("has a video track without a picture size"))
    if max(width, height) > settings.MEDIA_MAX_SIDE:
        raise ProcessingError(gettext_noop("is %(width)s×%(height)s; videos up to %(limit)s pixels wide are accepted"),
                              width=width, height=height, limit=settings.MEDIA_MAX_SIDE)
    rotation = 0.0
    for side_data in stream.get("side_data_list") or []:
        if "rotation" in side_data:
            rotation = float(side_data["rotation"])
    rotation = rotation or float((stream.get("tags") or {}).get("rotate", 0) or 0)
    if round(abs(rotation)) % 180 == 90:
        width, height = height, width
    fps = None
    numerator, _, denominator = str(stream.get("avg_frame_rate", "0/0")).partition("/")
    if numerator.isdigit() and denominator.isdigit() and int(denominator):
        fps = int(numerator) / int(denominator) or None
    frames = str(stream.get("nb_frames") or "")
    return VideoStream(stream.get("codec_name", ""), width, height, fps, int(frames) if frames.isdigit() else None)


def time_limit(info: MediaInfo) -> float:
    """Seconds an ffmpeg run may take for this input: a base plus a multiple of its duration."""
    return duration_time_limit(info.duration)


def duration_time_limit(duration: float | None) -> float:
    """Seconds an ffmpeg run may take for media of this duration (unknown: a quarter of the longest)."""
    return settings.MEDIA_TIME_LIMIT_BASE + settings.MEDIA_TIME_LIMIT_FACTOR * (
        duration or settings.MEDIA_MAX_DURATION_SECONDS / 4)


UNKNOWN_DURATION_FLOOR_SECONDS = 60  # what a file whose container gives no duration is first allowed for


def longest_time_limit() -> float:
    """No ffmpeg run takes longer than the time a file of the longest accepted duration is given, whatever
    its container declares or leaves out, and however many renditions it makes."""
    return duration_time_limit(settings.MEDIA_MAX_DURATION_SECONDS)


def run(arguments: list[str], *, cwd: Path, duration: float | None, progress: Progress, limit: float) -> None:
    """Run ffmpeg, reporting progress from its `-progress` output against `duration`.

    `progress` is called at least twice a second; if it raises (the batch was
    cancelled), ffmpeg is killed at once and the exception propagates.

    What the output reaches is counted as ffmpeg goes: past MEDIA_MAX_DURATION_SECONDS of media the
    run is stopped, whatever the container said. Without a declared duration the time allowed grows
    with the media made so far (the base, plus the factor times what has been made), so a file that
    claims nothing cannot claim the longest time limit either.
    """
    limit = min(limit, longest_time_limit())
    command = ["ffmpeg", "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-progress", "pipe:1",
               "-nostats", "-stats_period", "0.5", *arguments]
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL, env=_minimal_env(), start_new_session=True,
                               preexec_fn=_prepare_child)  # two system calls, nothing that takes a lock
    state = {"seconds": 0.0}
    errors: deque[str] = deque(maxlen=5)
    readers = [
        threading.Thread(target=_read_progress, args=(process.stdout, state), daemon=True),
        threading.Thread(target=_read_errors, args=(process.stderr, errors), daemon=True),
    ]
    for reader in readers:
        reader.start()
    started = time.monotonic()
    try:
        while process.poll() is None:
            made = state["seconds"]
            _length_check(made)
            allowed = limit if duration else min(limit, duration_time_limit(
                max(made, UNKNOWN_DURATION_FLOOR_SECONDS)))
            if time.monotonic() - started > allowed:
                raise ProcessingError(
                    gettext_noop("took longer than %(minutes)s minutes, the time limit for a file of this "
                                 "length, so it was stopped"), minutes=f"{allowed / 60:.0f}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.4)
            if duration:
                progress(min(0.99, state["seconds"] / duration))
            else:
                progress(0.0)
    finally:
        if process.poll() is None:
            _kill(process)
        for reader in readers:
            reader.join(timeout=2)
    _length_check(state["seconds"])  # a run quicker than one look still made what it made
    if process.returncode != 0:
        # ffmpeg's own last words go to the log, not to the person.
        log.warning("ffmpeg failed (%s): %s", process.returncode, _clean(errors[-1]) if errors else "")
        raise ProcessingError(gettext_noop("could not be converted: ffmpeg could not decode or encode it"))
    progress(1.0)


def _length_check(made: float) -> None:
    if made > settings.MEDIA_MAX_DURATION_SECONDS:
        raise ProcessingError(gettext_noop("is longer than the %(limit)s minutes accepted (found while converting "
                                           "it), so it was stopped"),
                              limit=f"{settings.MEDIA_MAX_DURATION_SECONDS / 60:g}")


LOUDNESS_MEASURES = ("input_i", "input_tp", "input_lra", "input_thresh", "target_offset")


def loudness_measure(source: Path, loudnorm: str, limit: float) -> dict[str, float]:
    """The first pass of two-pass loudness normalisation: loudnorm's measurements of the first
    audio track (input_i, input_tp, input_lra, input_thresh, target_offset), as numbers: they go
    into the second pass's filter string, so nothing but a finite number may come through."""
    command = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "info", *INPUT_GUARDS, "-i", source.name,
               "-map", "0:a:0", "-af", f"{loudnorm}:print_format=json", "-f", "null", "-"]
    try:
        completed = subprocess.run(command, cwd=source.parent, capture_output=True, env=_minimal_env(),
                                   timeout=limit, stdin=subprocess.DEVNULL, check=False, preexec_fn=_prepare_child)
    except subprocess.TimeoutExpired:
        raise ProcessingError(gettext_noop("took longer than %(minutes)s minutes to measure, so it was stopped"),
                              minutes=f"{limit / 60:.0f}") from None
    text = completed.stderr.decode(errors="replace")
    start, end = text.rfind("{"), text.rfind("}")
    try:
        measured = json.loads(text[start:end + 1]) if completed.returncode == 0 and start >= 0 else None
    except ValueError:
        measured = None
    try:
        numbers = {key: float(measured[key]) for key in LOUDNESS_MEASURES}
    except (KeyError, TypeError, ValueError):
        numbers = {}
    if not numbers or not all(math.isfinite(value) for value in numbers.values()):
        # A silent track measures -inf; anything else unreadable is not a normal media file.
        raise ProcessingError(gettext_noop("could not be measured for loudness"))
    return numbers


def _read_progress(stream, state: dict) -> None:  # noqa: ANN001 - a pipe
    for raw in stream:
        key, _, value = raw.decode(errors="replace").strip().partition("=")
        if key == "out_time_us" and value.lstrip("-").isdigit():
            state["seconds"] = max(0, int(value)) / 1_000_000


def _read_errors(stream, errors: deque[str]) -> None:  # noqa: ANN001 - a pipe
    for raw in stream:
        line = raw.decode(errors="replace").strip()
        if line:
            errors.append(line)


def _clean(message: str) -> str:
    """A short, path-free version of an ffmpeg error line for people to read."""
    message = message.split(": ", 1)[-1] if message.startswith(("[", "/")) else message
    return message[:160]


def _kill(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
