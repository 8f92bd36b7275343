"""Animations to video: an animated GIF, WebP or PNG as an MP4 or WebM, usually a tenth of the size."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from PIL import Image, ImageSequence

from . import ffmpeg
from .base import ProcessingError, Progress
from .imaging import DECODE_ERRORS, pixels_check
from .media import FfmpegProcessor, output_check

ANIMATED_TYPES = ("image/gif", "image/webp", "image/png")
# A frame with no duration shows for 100 ms; none is shorter than this (no video plays faster).
MIN_FRAME_MS = 20
ENCODERS = {
    "mp4": [".mp4", "-c:v", "libx264", "-preset", "medium", "-profile:v", "high", "-movflags", "+faststart"],
    "webm": [".webm", "-c:v", "libvpx-vp9", "-b:v", "0", "-deadline", "good", "-cpu-used", "3", "-row-mt", "1"],
}


class AnimationOptions(forms.Form):
    format = forms.ChoiceField(label=_("Video format"), initial="mp4", choices=[
        ("mp4", _("MP4 (H.264), plays everywhere")), ("webm", _("WebM (VP9), smaller"))])
    crf = forms.IntegerField(label=_("Quality (CRF)"), min_value=0, max_value=63, initial=26,
                             help_text=_("Lower is better and larger."))


class AnimationToVideo(FfmpegProcessor):
    name = "animation_video"
    label = _("Animation to video")
    description = _("An animated GIF, WebP or PNG as a silent MP4 or WebM with the same timing: usually a tenth "
                    "of the size. Transparent parts become white.")
    accepts = ANIMATED_TYPES
    produces = "video"
    Options = AnimationOptions
    order = 270

    def edit(self, source: Path, target_dir: Path, options: dict, progress: Progress) -> list[Path]:
        frames_dir = target_dir / "frames"
        frames_dir.mkdir()
        try:
            playlist, seconds = _frames(source, frames_dir, progress)
        except DECODE_ERRORS as exc:
            raise ProcessingError(gettext_noop("could not be read: the image is damaged or incomplete")) from exc
        suffix, *encoder = ENCODERS[options.get("format") or "mp4"]
        target = target_dir / f"{source.stem}{suffix}"
        # The inputs are the frames just written here and their list, not the upload: the concat
        # demuxer (refused for uploads) reads only those files.
        ffmpeg.run(["-protocol_whitelist", "file", "-f", "concat", "-safe", "0", "-i", str(playlist),
                    "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2,setsar=1,format=yuv420p", *ffmpeg.NO_INVENTED_FRAMES,
                    *encoder, "-crf", str(options.get("crf", 26)), "-an", "-map_metadata", "-1",
                    "-fs", str(settings.MEDIA_MAX_OUTPUT_BYTES), str(target)],
                   cwd=target_dir, duration=seconds, progress=lambda f: progress(0.5 + 0.5 * f),
                   limit=ffmpeg.duration_time_limit(seconds))
        output_check(target)
        return [target]


def _frames(source: Path, folder: Path, progress: Progress) -> tuple[Path, float]:
    """Every frame as a PNG on white, and a concat list giving each its own duration."""
    with Image.open(source, formats=["GIF", "WEBP", "PNG"]) as image:
        count = getattr(image, "n_frames", 1)
        if count < 2:
            raise ProcessingError(gettext_noop("is a still image, not an animation"))
        pixels_check(image)
        lines, total = ["ffconcat version 1.0"], 0.0
        for index, frame in enumerate(ImageSequence.Iterator(image)):
            seconds = max(MIN_FRAME_MS, int(frame.info.get("duration") or 100)) / 1000
            picture = frame.convert("RGBA")
            flat = Image.new("RGB", picture.size, "white")
            flat.paste(picture, mask=picture.getchannel("A"))
            name = f"frame-{index:05d}.png"
            flat.save(folder / name, compress_level=1)
            lines += [f"file '{name}'", f"duration {seconds:.3f}"]
            total += seconds
            progress(0.5 * (index + 1) / count)
        lines.append(f"file 'frame-{count - 1:05d}.png'")  # the last duration counts only if the file follows
    playlist = folder / "frames.ffconcat"
    playlist.write_text("\n".join(lines) + "\n")
    return playlist, total
