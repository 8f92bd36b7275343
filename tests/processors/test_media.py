"""Video and audio processors on real media made by ffmpeg, checked with ffprobe."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from backend.processors import ProcessingError, Stopped, registry
from backend.processors.media import scaled_size
from tests.helpers import changed_fraction
from tests.helpers import valid_options as options
from tests.support import images, media

pytestmark = media.needs_ffmpeg


def convert(tmp_path: Path, source: Path, name: str, seen: list[float] | None = None, **overrides: object) -> Path:
    out = tmp_path / f"out-{name}"
    out.mkdir(exist_ok=True)
    progress = seen.append if seen is not None else (lambda fraction: None)
    (result,) = registry.get(name)().edit(source, out, options(name, **overrides), progress)
    return result


# ---------------------------------------------------------------------------
# Video to MP4 and WebM


@pytest.mark.parametrize("container", list(media.CONTAINERS))
def test_every_container_becomes_a_web_mp4(tmp_path, container):
    source = media.video(tmp_path / f"clip.{container}", size="322x242")  # odd halves: must end up even
    seen: list[float] = []
    result = convert(tmp_path, source, "video_mp4", seen, preset="ultrafast")
    report = media.probe(result)
    video, audio = media.stream(report, "video"), media.stream(report, "audio")
    assert result.suffix == ".mp4" and "mp4" in report["format"]["format_name"]
    assert (video["codec_name"], video["pix_fmt"]) == ("h264", "yuv420p")
    assert (video["width"], video["height"]) == (322, 242)
    assert audio["codec_name"] == "aac"
    assert abs(media.duration(report) - media.duration(media.probe(source))) <= 0.1
    boxes = media.top_level_boxes(result)
    assert boxes.index("moov") < boxes.index("mdat"), f"not fast-start: {boxes}"
    assert seen and seen[-1] == 1.0 and all(0 <= f <= 1 for f in seen)


def test_odd_dimensions_are_made_even(tmp_path):
    source = media.video(tmp_path / "odd.mkv", size="321x241", audio=False)
    report = media.probe(convert(tmp_path, source, "video_mp4", preset="ultrafast"))
    video = media.stream(report, "video")
    assert (video["width"], video["height"]) == (320, 240) and media.stream(report, "audio") is None


def test_resolution_and_frame_rate_caps(tmp_path):
    source = media.video(tmp_path / "hd.mp4", size="1280x720", seconds=1, rate=50)
    report = media.probe(convert(tmp_path, source, "video_mp4", preset="ultrafast", max_height="480", max_fps="24"))
    video = media.stream(report, "video")
    assert (video["width"], video["height"]) == (854, 480)
    numerator, denominator = map(int, video["avg_frame_rate"].split("/"))
    assert numerator / denominator <= 24.01


def test_a_portrait_phone_video_is_turned_upright(tmp_path):
    # Phones store landscape frames and a rotation flag; players that ignore it show the video sideways.
    source = media.video(tmp_path / "phone.mp4", size="1280x720", seconds=1, rotate=90)
    stored = media.stream(media.probe(source), "video")
    assert stored["width"] == 1280 and stored["side_data_list"][0]["rotation"] == 90
    report = media.probe(convert(tmp_path, source, "video_mp4", preset="ultrafast", max_height="480"))
    video = media.stream(report, "video")
    assert (video["width"], video["height"]) == (480, 854), "480p-style limits apply to the shorter side"
    rotation = [d.get("rotation") for d in video.get("side_data_list", []) if "rotation" in d]
    assert not any(rotation) and not video.get("tags", {}).get("rotate"), "no rotation left for players to get wrong"


def test_video_to_webm(tmp_path):
    source = media.video(tmp_path / "clip.mov", seconds=1)
    result = convert(tmp_path, source, "video_webm", preset="ultrafast", audio_bitrate="96")
    report = media.probe(result)
    assert result.suffix == ".webm" and "webm" in report["format"]["format_name"]
    assert media.stream(report, "video")["codec_name"] == "vp9"
    assert media.stream(report, "video")["pix_fmt"] == "yuv420p"
    assert media.stream(report, "audio")["codec_name"] == "opus"
    assert abs(media.duration(report) - 1.0) <= 0.1


def test_scaled_size():
    assert scaled_size(1920, 1080, 720) == (1280, 720)
    assert scaled_size(1080, 1920, 720) == (720, 1280)
    assert scaled_size(640, 360, 1080) == (640, 360), "never enlarged"
    assert scaled_size(641, 361, None) == (640, 360)


# ---------------------------------------------------------------------------
# Audio


@pytest.mark.parametrize("source_name", ["tone.wav", "tone.flac", "tone.ogg", "tone.mp3", "movie.mp4"])
@pytest.mark.parametrize("bitrate", [128, 320])
def test_audio_to_mp3(tmp_path, source_name, bitrate):
    source = (media.video(tmp_path / source_name) if source_name.endswith(".mp4")
              else media.audio(tmp_path / source_name))
    result = convert(tmp_path, source, "audio_mp3", bitrate=str(bitrate))
    report = media.probe(result)
    audio = media.stream(report, "audio")
    assert result.suffix == ".mp3" and report["format"]["format_name"] == "mp3"
    assert audio["codec_name"] == "mp3" and int(audio["bit_rate"]) == bitrate * 1000
    assert media.stream(report, "video") is None
    assert abs(media.duration(report) - 2.0) <= 0.1


def test_audio_to_m4a(tmp_path):
    result = convert(tmp_path, media.audio(tmp_path / "tone.flac"), "audio_m4a", bitrate="256")
    report = media.probe(result)
    assert result.suffix == ".m4a" and media.stream(report, "audio")["codec_name"] == "aac"
    assert abs(media.duration(report) - 2.0) <= 0.1
    assert abs(int(media.stream(report, "audio")["bit_rate"]) - 256_000) < 40_000


def test_a_silent_video_has_no_audio_to_extract(tmp_path):
    source = media.video(tmp_path / "silent.mp4", audio=False)
    with pytest.raises(ProcessingError, match="has no audio track"):
        convert(tmp_path, source, "audio_mp3")


def test_audio_is_not_a_video(tmp_path):
    with pytest.raises(ProcessingError, match="has no video track"):
        convert(tmp_path, media.audio(tmp_path / "tone.wav"), "video_mp4")


# ---------------------------------------------------------------------------
# Thumbnail and watermark


def test_video_thumbnail_defaults_to_ten_percent(tmp_path):
    source = media.video(tmp_path / "clip.mp4", size="640x360", seconds=4)
    result = convert(tmp_path, source, "video_thumbnail")
    image = Image.open(result)
    assert image.format == "JPEG" and image.size == (640, 360)
    expected = Image.open(media.frame(source, 0.4, tmp_path / "expected.png"))
    assert changed_fraction(expected, image, (0, 0, 640, 360)) < 0.01, "the frame at 10% of 4 s"
    other = Image.open(media.frame(source, 2.0, tmp_path / "other.png"))
    assert changed_fraction(other, image, (0, 0, 640, 360)) > 0.05


def test_video_thumbnail_never_past_the_end_and_scaled(tmp_path):
    source = media.video(tmp_path / "clip.webm", size="640x360", seconds=1)
    image = Image.open(convert(tmp_path, source, "video_thumbnail", seconds="30", width="160"))
    assert image.size == (160, 90)


@pytest.mark.parametrize("name", ["video_watermark_text", "video_watermark_image"])
def test_video_watermark_is_burned_in_where_asked(tmp_path, name):
    source = media.video(tmp_path / "clip.mp4", size="640x360", seconds=1)
    extra = {"text": "© Studio", "size": "8"} if name == "video_watermark_text" else {"logo": images.logo_png()}
    cls = registry.get(name)
    cleaned = options(name, **extra, opacity="90", position="bottom-right")
    if "logo" in cleaned:
        logo = tmp_path / "logo.png"
        logo.write_bytes(images.logo_png())
        cleaned["logo"] = str(logo)
    out = tmp_path / "out"
    out.mkdir()
    (result,) = cls().edit(source, out, cleaned, lambda fraction: None)
    report = media.probe(result)
    assert media.stream(report, "video")["codec_name"] == "h264" and media.stream(report, "audio")
    before = Image.open(media.frame(source, 0.5, tmp_path / "before.png")).convert("RGB")
    after = Image.open(media.frame(result, 0.5, tmp_path / "after.png")).convert("RGB")
    assert changed_fraction(before, after, (320, 180, 640, 360)) > 0.01, "watermark at the bottom right"
    assert changed_fraction(before, after, (0, 0, 320, 180)) < 0.01, "and nowhere else"


# ---------------------------------------------------------------------------
# Progress, time limit, stop


def test_progress_is_reported_while_ffmpeg_runs(tmp_path):
    source = media.video(tmp_path / "long.mp4", size="640x360", seconds=12)
    seen: list[float] = []
    convert(tmp_path, source, "video_mp4", seen, preset="slower")
    middle = [f for f in seen if 0.02 < f < 0.98]
    assert middle, f"no progress between start and end: {seen}"
    assert middle == sorted(middle), "progress never goes backwards"


def ffmpeg_running(marker: str) -> bool:
    return subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0


def test_a_runaway_encode_is_stopped_at_the_time_limit(tmp_path, settings):
    settings.MEDIA_TIME_LIMIT_BASE, settings.MEDIA_TIME_LIMIT_FACTOR = 1, 0
    source = media.video(tmp_path / "slow.mp4", size="1280x720", seconds=10)
    started = time.monotonic()
    with pytest.raises(ProcessingError, match=r"took longer than .* the time limit"):
        convert(tmp_path, source, "video_webm", preset="veryslow")
    assert time.monotonic() - started < 5
    assert not ffmpeg_running(str(tmp_path / "out-video_webm")), "no ffmpeg left behind"


def test_stop_kills_ffmpeg_at_once(tmp_path):
    source = media.video(tmp_path / "slow.mp4", size="1280x720", seconds=10)
    calls = []

    def progress(fraction: float) -> None:
        calls.append(fraction)
        if len(calls) >= 3:
            raise Stopped("batch cancelled")

    started = time.monotonic()
    with pytest.raises(Stopped):
        registry.get("video_webm")().edit(source, tmp_path, options("video_webm", preset="veryslow"), progress)
    assert time.monotonic() - started < 5
    assert not ffmpeg_running(str(tmp_path / "slow.webm"))


def test_output_size_limit(tmp_path, settings):
    settings.MEDIA_MAX_OUTPUT_BYTES = 20_000
    source = media.video(tmp_path / "clip.mp4", size="640x360", seconds=3)
    with pytest.raises(ProcessingError, match="larger than"):
        convert(tmp_path, source, "video_mp4", preset="ultrafast", crf="10")
