"""Video and audio processors: ffmpeg on the `media` queue.

Every input is probed first (see ffmpeg.py); the conversion then reads only
the first video and the first audio track, so subtitle, data and attachment
streams of a crafted file are never decoded.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from PIL import Image, ImageChops, ImageMath

from . import ffmpeg
from .base import ProcessingError, Processor, Progress
from .ffmpeg import MediaInfo
from .watermark import ImageWatermark, ImageWatermarkOptions, TextWatermark, TextWatermarkOptions

VIDEO_TYPES = ("video/*",)
MEDIA_TYPES = ("video/*", "audio/*")
HEIGHTS = [("", _("Original")), ("1080", "1080p"), ("720", "720p"), ("480", "480p")]
FRAME_RATES = [("", _("Original")), ("30", "30 fps"), ("24", "24 fps"), ("15", "15 fps")]
PRESETS = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
# libvpx's speed knob (0 best … 5 fastest) for each x264-style preset name.
VP9_SPEED = {"ultrafast": 5, "superfast": 5, "veryfast": 4, "faster": 4, "fast": 3, "medium": 2, "slow": 1,
             "slower": 0, "veryslow": 0}


# Re-encoding an audio file keeps its container, with that container's usual codec.
AUDIO_CODECS = {".mp3": ["-c:a", "libmp3lame", "-q:a", "2"], ".m4a": ["-c:a", "aac", "-b:a", "192k"],
                ".aac": ["-c:a", "aac", "-b:a", "192k"], ".wav": ["-c:a", "pcm_s16le"], ".flac": ["-c:a", "flac"],
                ".ogg": ["-c:a", "libvorbis", "-q:a", "6"]}


def audio_codec(suffix: str) -> list[str]:
    return AUDIO_CODECS.get(suffix.lower(), ["-c:a", "aac", "-b:a", "192k"])


class FfmpegProcessor(Processor):
    """Any processor whose work ffmpeg does: on the `media` queue, offered only where ffmpeg is installed."""

    queue = "media"
    accepts = MEDIA_TYPES

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return ffmpeg.unavailable()


def output_check(target: Path) -> None:
    """Refuse a result ffmpeg did not write, or cut short at the size limit (its `-fs`)."""
    if not target.exists() or target.stat().st_size == 0:
        raise ProcessingError(gettext_noop("produced no output"))
    if target.stat().st_size >= settings.MEDIA_MAX_OUTPUT_BYTES:
        raise ProcessingError(gettext_noop("would be larger than %(limit)s MB, the limit for one result"),
                              limit=f"{settings.MEDIA_MAX_OUTPUT_BYTES / 1e6:.0f}")


def probe_with(source: Path, needs: str) -> MediaInfo:
    """The probe of a file that must have a `needs` track ("video" or "audio")."""
    info = ffmpeg.probe(source)
    if needs == "video" and info.video is None:
        raise ProcessingError(gettext_noop("has no video track"))
    if needs == "audio" and info.audio is None:
        raise ProcessingError(gettext_noop("has no audio track"))
    return info


class MediaProcessor(FfmpegProcessor):
    """An ffmpeg-based processor: probes the input, then builds one ffmpeg command."""

    needs: ClassVar[str] = "video"  # the track the input must have: "video" or "audio"

    def edit(self, source: Path, target_dir: Path, options: dict, progress: Progress) -> list[Path]:
        info = probe_with(source, self.needs)
        target = target_dir / f"{source.stem}{self.suffix(options)}"
        arguments = [*self.input_arguments(info, options), *ffmpeg.INPUT_GUARDS, "-i", str(source),
                     *self.arguments(info, options, target_dir),
                     "-fs", str(settings.MEDIA_MAX_OUTPUT_BYTES), str(target)]
        ffmpeg.run(arguments, cwd=target_dir, duration=self.output_duration(info, options), progress=progress,
                   limit=ffmpeg.time_limit(info))
        output_check(target)
        return [target]

    def output_duration(self, info: MediaInfo, options: dict) -> float | None:
        return info.duration

    def input_arguments(self, info: MediaInfo, options: dict) -> list[str]:
        """ffmpeg options for reading the input (placed before its -i)."""
        return []

    @abc.abstractmethod
    def suffix(self, options: dict) -> str:
        """The output file's extension."""

    @abc.abstractmethod
    def arguments(self, info: MediaInfo, options: dict, workdir: Path) -> list[str]:
        """ffmpeg arguments between the input and the output file."""


def even(value: float) -> int:
    """The nearest even number (H.264 and VP9 in 4:2:0 need even sides): 853.3 → 854."""
    return max(2, round(value / 2) * 2)


def scaled_size(width: int, height: int, max_short_side: int | None) -> tuple[int, int]:
    """Display size limited on its shorter side (720p portrait is 720×1280), in even numbers."""
    factor = min(1.0, max_short_side / min(width, height)) if max_short_side else 1.0
    return even(width * factor), even(height * factor)


# ---------------------------------------------------------------------------
# Video to MP4 / WebM


class VideoOptions(forms.Form):
    max_height = forms.TypedChoiceField(
        label=_("Maximum resolution"), choices=HEIGHTS, required=False, coerce=int, empty_value=None,
        help_text=_("Applies to the shorter side: a portrait phone video at 720p becomes 720×1280."))
    crf = forms.IntegerField(label=_("Quality (CRF)"), min_value=0, max_value=51, initial=23,
                             help_text=_("Lower is better and larger; 18–28 is usual."))
    max_fps = forms.TypedChoiceField(label=_("Frame-rate cap"), choices=FRAME_RATES, required=False, coerce=int,
                                     empty_value=None)
    audio_bitrate = forms.TypedChoiceField(label=_("Audio bitrate"), coerce=int, initial=128, choices=[
        (64, "64 kbit/s"), (96, "96 kbit/s"), (128, "128 kbit/s"), (192, "192 kbit/s"), (256, "256 kbit/s")])
    preset = forms.ChoiceField(label=_("Encoder speed"), choices=[(p, p) for p in PRESETS], initial="medium",
                               help_text=_("Slower presets make smaller files of the same quality."))


class WebmOptions(VideoOptions):
    crf = forms.IntegerField(label=_("Quality (CRF)"), min_value=0, max_value=63, initial=32,
                             help_text=_("Lower is better and larger; 24–36 is usual for VP9."))


def video_filters(info: MediaInfo, options: dict) -> list[str]:
    """Scale to even dimensions (encoders need them), square pixels, 4:2:0 for every browser."""
    assert info.video is not None
    width, height = scaled_size(info.video.width, info.video.height, options.get("max_height"))
    return ["-vf", f"scale={width}:{height}:flags=lanczos,setsar=1,format=yuv420p"]


def video_streams(info: MediaInfo, options: dict) -> list[str]:
    """The first video track, scaled and capped, and the first audio track if any; nothing else, no metadata."""
    return ["-map", "0:v:0", "-map", "0:a:0?", "-sn", "-dn", "-map_metadata", "-1",
            *video_filters(info, options), *frame_rate(options)]


def frame_rate(options: dict) -> list[str]:
    """Keep the input's timestamps (never invent frames to fill a gap); the cap only drops frames."""
    return [*ffmpeg.NO_INVENTED_FRAMES, *(["-fpsmax", str(options["max_fps"])] if options.get("max_fps") else [])]


def stereo(info: MediaInfo) -> list[str]:
    return ["-ac", "2"] if info.audio and info.audio.channels > 2 else []


class VideoToMp4(MediaProcessor):
    name = "video_mp4"
    label = _("Video to web MP4")
    description = _("H.264 and AAC in an MP4 that starts playing before it has fully downloaded; plays in every "
                   "browser and phone. Phone rotation is applied.")
    accepts = VIDEO_TYPES
    Options = VideoOptions
    order = 200

    def suffix(self, options: dict) -> str:
        return ".mp4"

    def arguments(self, info: MediaInfo, options: dict, workdir: Path) -> list[str]:
        return [
            *video_streams(info, options),
            "-c:v", "libx264", "-preset", options["preset"], "-crf", str(options["crf"]), "-profile:v", "high",
            "-c:a", "aac", "-b:a", f"{options['audio_bitrate']}k", *stereo(info),
            "-movflags", "+faststart",
        ]


class VideoToWebm(MediaProcessor):
    name = "video_webm"
    label = _("Video to WebM")
    description = _("VP9 and Opus in WebM: smaller than MP4 at the same quality, slower to encode.")
    accepts = VIDEO_TYPES
    Options = WebmOptions
    order = 210

    def suffix(self, options: dict) -> str:
        return ".webm"

    def arguments(self, info: MediaInfo, options: dict, workdir: Path) -> list[str]:
        return [
            *video_streams(info, options),
            "-c:v", "libvpx-vp9", "-crf", str(options["crf"]), "-b:v", "0", "-deadline", "good",
            "-cpu-used", str(VP9_SPEED[options["preset"]]), "-row-mt", "1",
            "-c:a", "libopus", "-b:a", f"{options['audio_bitrate']}k", *stereo(info),
        ]


# ---------------------------------------------------------------------------
# Audio


class AudioOptions(forms.Form):
    bitrate = forms.TypedChoiceField(label=_("Bitrate"), coerce=int, initial=192,
                                     choices=[(rate, f"{rate} kbit/s") for rate in (128, 192, 256, 320)])


class AudioProcessor(MediaProcessor):
    """Audio at a constant bitrate from any audio file, or from the sound of a video (only its first track)."""

    Options = AudioOptions
    needs = "audio"
    produces = "audio"
    codec: ClassVar[str]
    extension: ClassVar[str]
    container_options: ClassVar[tuple[str, ...]] = ()

    def suffix(self, options: dict) -> str:
        return self.extension

    def arguments(self, info: MediaInfo, options: dict, workdir: Path) -> list[str]:
        return ["-map", "0:a:0", "-vn", "-sn", "-dn", "-c:a", self.codec, "-b:a", f"{options['bitrate']}k",
                *stereo(info), *self.container_options]


class AudioToMp3(AudioProcessor):
    name = "audio_mp3"
    label = _("Audio to MP3")
    description = _("MP3 at a constant bitrate, from any audio file or from the sound of a video.")
    codec, extension = "libmp3lame", ".mp3"
    order = 230


class AudioToAac(AudioProcessor):
    name = "audio_m4a"
    label = _("Audio to AAC (M4A)")
    description = _("AAC in an M4A file (Apple devices, browsers), from any audio file or from the sound of a video.")
    codec, extension = "aac", ".m4a"
    container_options = ("-movflags", "+faststart")
    order = 240


# ---------------------------------------------------------------------------
# Video thumbnail


class VideoThumbnailOptions(forms.Form):
    percent = forms.FloatField(label=_("At (percentage of the duration)"), min_value=0, max_value=100, initial=10)
    seconds = forms.FloatField(label=_("Or at (seconds)"), min_value=0, required=False,
                               help_text=_("When given, used instead of the percentage; never past the end."))
    width = forms.IntegerField(label=_("Width (pixels)"), min_value=16, max_value=4096, required=False,
                               help_text=_("Leave empty for the video's own size."))


def thumbnail_time(info: MediaInfo, options: dict) -> float:
    """The moment to grab, clamped to the last frame rather than past the end."""
    duration = info.duration or 0.0
    wanted = options["seconds"] if options.get("seconds") is not None else duration * options["percent"] / 100
    if duration:
        wanted = min(wanted, max(0.0, duration - 0.1))
    return max(0.0, wanted)


class VideoThumbnail(MediaProcessor):
    name = "video_thumbnail"
    label = _("Video thumbnail")
    description = _("One JPEG frame from the video, at a percentage of its length or a time in seconds.")
    accepts = VIDEO_TYPES
    produces = "image"
    Options = VideoThumbnailOptions
    order = 250

    def suffix(self, options: dict) -> str:
        return ".jpg"

    def output_duration(self, info: MediaInfo, options: dict) -> float | None:
        return None  # one frame: progress jumps to done

    def input_arguments(self, info: MediaInfo, options: dict) -> list[str]:
        # Seeking on the input jumps to the nearest keyframe, then decodes to the exact moment: fast and exact.
        return ["-ss", f"{thumbnail_time(info, options):.3f}"]

    def arguments(self, info: MediaInfo, options: dict, workdir: Path) -> list[str]:
        assert info.video is not None
        width = options.get("width") or info.video.width
        height = even(info.video.height * width / info.video.width)
        return ["-map", "0:v:0", "-an", "-sn", "-dn",
                "-frames:v", "1", "-vf", f"scale={even(width)}:{height}:flags=lanczos", "-q:v", "2",
                "-update", "1"]


# ---------------------------------------------------------------------------
# Video watermark: the image processors' watermark, burned into every frame


def overlay_image(apply: Callable[[Image.Image], Image.Image], size: tuple[int, int]) -> Image.Image:
    """The watermark a still-image step would draw, as an RGBA overlay of `size`.

    The step is applied to a black and to a white canvas; where the two results
    differ, the background shows through, which gives each pixel's alpha
    (difference matting). The overlay is therefore exactly what the image
    watermark draws, with no second drawing code to keep in step.
    """
    black = apply(Image.new("RGB", size, (0, 0, 0))).convert("RGB")
    white = apply(Image.new("RGB", size, (255, 255, 255))).convert("RGB")
    alpha = ImageChops.invert(ImageChops.subtract(white, black).convert("L"))
    # On black, each band holds colour × alpha: divide it back out.
    bands = [
        ImageMath.lambda_eval(lambda e: e["convert"](e["band"] * 255 / e["alpha"], "L"), band=band, alpha=alpha)
        for band in black.split()
    ]
    return Image.merge("RGBA", [*bands, alpha])


class VideoWatermarkBase(MediaProcessor):
    accepts = VIDEO_TYPES
    still: ClassVar[type[Processor]]

    def suffix(self, options: dict) -> str:
        return ".mp4"

    def arguments(self, info: MediaInfo, options: dict, workdir: Path) -> list[str]:
        assert info.video is not None
        size = scaled_size(info.video.width, info.video.height, None)
        step = self.still()
        overlay = overlay_image(lambda canvas: step.transform(canvas, options), size)  # type: ignore[attr-defined]
        overlay_path = workdir / "watermark-overlay.png"
        overlay.save(overlay_path, "PNG")
        return [
            "-f", "png_pipe", "-i", str(overlay_path),
            "-filter_complex", f"[0:v:0]scale={size[0]}:{size[1]},setsar=1[base];"
                               "[base][1:v]overlay=0:0:format=auto,format=yuv420p[out]",
            "-map", "[out]", "-map", "0:a:0?", "-sn", "-dn", "-map_metadata", "-1", *ffmpeg.NO_INVENTED_FRAMES,
            "-c:v", "libx264", "-preset", "medium", "-crf", "21", "-c:a", "aac", "-b:a", "160k", *stereo(info),
            "-movflags", "+faststart",
        ]


class VideoWatermarkText(VideoWatermarkBase):
    name = "video_watermark_text"
    label = _("Video watermark (text)")
    description = _("The text watermark burned into every frame; writes a web MP4 (H.264 and AAC).")
    Options = TextWatermarkOptions
    still = TextWatermark
    order = 260


class VideoWatermarkImage(VideoWatermarkBase):
    name = "video_watermark_image"
    label = _("Video watermark (image)")
    description = _("Your logo burned into every frame; writes a web MP4 (H.264 and AAC).")
    Options = ImageWatermarkOptions
    still = ImageWatermark
    order = 270
