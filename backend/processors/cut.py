"""Trim: a video or audio file cut to a start and an end (or a duration)."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from . import ffmpeg
from .base import ProcessingError, Progress
from .media import FfmpegProcessor, audio_codec, output_check


class TrimOptions(forms.Form):
    start = forms.FloatField(label=_("Start (seconds)"), min_value=0, initial=0)
    end = forms.FloatField(label=_("End (seconds)"), min_value=0, required=False,
                           help_text=_("Leave empty to keep everything after the start, or give a duration."))
    duration = forms.FloatField(label=_("Or duration (seconds)"), min_value=0.1, required=False)
    exact = forms.BooleanField(label=_("Exact cut (re-encode)"), required=False, initial=False,
                               help_text=_("Without it the cut is instant and lossless, at the nearest key frame."))

    def clean(self) -> dict:
        data = super().clean()
        start, end, duration = data.get("start") or 0, data.get("end"), data.get("duration")
        if end is not None and duration is not None:
            raise forms.ValidationError(_("Give an end or a duration, not both."))
        if end is not None and end <= start:
            raise forms.ValidationError(_("The end must come after the start."))
        return data


class MediaTrim(FfmpegProcessor):
    name = "media_trim"
    label = _("Trim video or audio")
    description = _("Keeps the part between a start and an end. Instant and lossless at the nearest key frame, or "
                    "exact to the frame when re-encoded (video as H.264/AAC in MP4).")
    Options = TrimOptions
    order = 250

    def edit(self, source: Path, target_dir: Path, options: dict, progress: Progress) -> list[Path]:
        info = ffmpeg.probe(source)
        start = float(options.get("start") or 0)
        length = options.get("duration") or (options["end"] - start if options.get("end") is not None else None)
        if info.duration is not None and start >= info.duration:
            raise ProcessingError(gettext_noop("is %(duration)s s long, so a cut starting at %(start)s s is empty"),
                                  duration=f"{info.duration:.1f}", start=f"{start:g}")
        if length is None or (info.duration is not None and start + length > info.duration):
            length = (info.duration - start) if info.duration is not None else None
        exact = options.get("exact", False)
        if exact and info.video is not None:
            suffix = ".mp4"
            codecs = ["-c:v", "libx264", "-preset", "fast", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac",
                      "-b:a", "192k", "-movflags", "+faststart"]
        elif exact:
            suffix, codecs = source.suffix, audio_codec(source.suffix)
        else:
            # Stream copy from the key frame before `start`; timestamps made to start at zero.
            suffix, codecs = source.suffix, ["-c", "copy", "-avoid_negative_ts", "make_zero"]
        target = target_dir / f"{source.stem}{suffix}"
        length_arguments = ["-t", f"{length:.3f}"] if length else []
        ffmpeg.run(["-ss", f"{start:.3f}", *ffmpeg.INPUT_GUARDS, "-i", str(source), *length_arguments,
                    "-map", "0:v:0?", "-map", "0:a:0?", "-sn", "-dn", "-map_metadata", "-1", *codecs,
                    "-fs", str(settings.MEDIA_MAX_OUTPUT_BYTES), str(target)],
                   cwd=target_dir, duration=length, progress=progress, limit=ffmpeg.time_limit(info))
        output_check(target)
        return [target]
