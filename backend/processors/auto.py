"""One choice for a mixed upload: every file made ready for the web by its kind."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from PIL import UnidentifiedImageError

from . import ffmpeg
from .base import ProcessingError, Processor, Progress
from .imaging import DECODE_ERRORS, IMAGE_TYPES, open_image, run_image_chain
from .media import HEIGHTS, AudioToMp3, VideoToMp4
from .transform import ConvertFormat, Resize


class WebReadyOptions(forms.Form):
    image_size = forms.IntegerField(label=_("Images: longest side (pixels)"), min_value=64, max_value=8192,
                                    initial=2048, help_text=_("Smaller images are not enlarged."))
    image_format = forms.ChoiceField(label=_("Images: format"), initial="WEBP", required=False, choices=[
        ("WEBP", _("WebP (every browser)")), ("AVIF", _("AVIF (smaller; browsers since 2022)"))])
    image_quality = forms.IntegerField(label=_("Images: quality"), min_value=1, max_value=100, initial=82)
    video_height = forms.TypedChoiceField(label=_("Videos: maximum resolution"), choices=HEIGHTS, required=False,
                                          coerce=int, empty_value=None, initial="720")
    audio_bitrate = forms.TypedChoiceField(label=_("Audio: MP3 bitrate"), coerce=int, initial=192,
                                           choices=[(rate, f"{rate} kbit/s") for rate in (128, 192, 256, 320)])


class WebReady(Processor):
    name = "web_ready"
    label = _("Make web-ready (images, video and audio)")
    description = _(
        "Each file by its kind: images resized and saved as WebP or AVIF (animations stay animated in WebP), "
        "videos as web MP4 (H.264 and AAC), audio as MP3. Images run on the image workers, video and audio on "
        "the media workers."
    )
    accepts = (*IMAGE_TYPES, "video/*", "audio/*")
    Options = WebReadyOptions
    order = 5

    @classmethod
    def queue_for(cls, content_type: str) -> str:
        return "media" if content_type.startswith(("video/", "audio/")) else "images"

    def edit(self, source: Path, target_dir: Path, options: dict, progress: Progress) -> list[Path]:
        if _is_image(source):
            resize = {"mode": "fit", "width": options["image_size"], "height": options["image_size"]}
            convert = {"format": options.get("image_format") or "WEBP", "quality": options["image_quality"],
                       "lossless": False}
            return run_image_chain([(Resize(), resize), (ConvertFormat(), convert)], source, target_dir, progress)
        if ffmpeg.unavailable():
            raise ProcessingError(gettext_noop("is a video or audio file, which this server cannot convert right now"))
        info = ffmpeg.probe(source)
        if info.video is not None:
            video = {**VideoToMp4.default_options(), "max_height": options.get("video_height")}
            return VideoToMp4().edit(source, target_dir, video, progress)
        return AudioToMp3().edit(source, target_dir, {"bitrate": options["audio_bitrate"]}, progress)


def _is_image(path: Path) -> bool:
    try:
        with open_image(path):
            return True
    except ProcessingError:
        return True  # an image over its budget, or damaged: the image chain says which
    except (UnidentifiedImageError, *DECODE_ERRORS):
        return False
