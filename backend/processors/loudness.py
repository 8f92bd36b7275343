"""Loudness: the sound of an audio or video file normalised to EBU R128 (ffmpeg's loudnorm, two passes)."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from . import ffmpeg
from .base import ProcessingError, Progress
from .media import FfmpegProcessor, audio_codec, output_check

# The sound's codec in each video container (the picture is copied untouched).
VIDEO_AUDIO = {".webm": ["-c:a", "libopus", "-b:a", "160k"], ".avi": ["-c:a", "libmp3lame", "-b:a", "192k"]}


class LoudnessOptions(forms.Form):
    target = forms.IntegerField(label=_("Target loudness (LUFS)"), min_value=-40, max_value=-5, initial=-16,
                                help_text=_("−23 is the EBU R128 broadcast level; −16 suits the web and podcasts."))
    true_peak = forms.FloatField(label=_("Highest peak (dBTP)"), min_value=-9, max_value=0, initial=-1.5)


class Loudness(FfmpegProcessor):
    name = "loudness"
    label = _("Normalise loudness (EBU R128)")
    description = _("Measures the whole sound, then brings it to the target level in one even change, so quiet "
                    "and loud files play alike. A video's picture is kept as it is.")
    Options = LoudnessOptions
    order = 260

    def edit(self, source: Path, target_dir: Path, options: dict, progress: Progress) -> list[Path]:
        info = ffmpeg.probe(source)
        if info.audio is None:
            raise ProcessingError(gettext_noop("has no sound to normalise"))
        loudnorm = f"loudnorm=I={options['target']}:TP={options['true_peak']}:LRA=11"
        limit = ffmpeg.time_limit(info)
        progress(0.05)
        measured = ffmpeg.loudness_measure(source, loudnorm, limit)
        progress(0.4)
        second = (f"{loudnorm}:measured_I={measured['input_i']:.2f}:measured_TP={measured['input_tp']:.2f}"
                  f":measured_LRA={measured['input_lra']:.2f}:measured_thresh={measured['input_thresh']:.2f}"
                  f":offset={measured['target_offset']:.2f}:linear=true")
        # loudnorm works at 192 kHz; the result keeps the input's rate.
        rate = str(info.audio.sample_rate or 48000)
        if info.video is not None:
            streams = ["-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy",
                       *VIDEO_AUDIO.get(source.suffix.lower(), ["-c:a", "aac", "-b:a", "192k"])]
        else:
            streams = ["-map", "0:a:0", "-vn", *audio_codec(source.suffix)]
        target = target_dir / source.name
        ffmpeg.run([*ffmpeg.INPUT_GUARDS, "-i", str(source), *streams, "-af", f"{second},aresample={rate}",
                    "-sn", "-dn", "-fs", str(settings.MEDIA_MAX_OUTPUT_BYTES), str(target)],
                   cwd=target_dir, duration=info.duration, progress=lambda f: progress(0.4 + 0.6 * f), limit=limit)
        output_check(target)
        return [target]
