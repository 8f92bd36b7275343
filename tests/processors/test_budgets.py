"""Input budgets, judged before decoding: animation frames and pixels, and the work a video costs.

Each class of input is generated in its variants (format, many small frames, few large ones),
not one sample."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from backend.processors import ProcessingError
from backend.processors.ffmpeg import probe
from backend.processors.imaging import run_image_chain
from backend.processors.media import VideoToMp4, VideoToWebm
from backend.processors.transform import Resize
from tests.helpers import animation, form_fields, valid_options
from tests.support import media

BOMBS = [(fmt, frames, size) for fmt in ("GIF", "WEBP", "PNG")
         for frames, size in ((1500, (64, 64)), (260, (1000, 800)))]


@pytest.mark.parametrize(("fmt", "frames", "size"), BOMBS)
@pytest.mark.django_db
def test_animation_bombs_are_refused_at_upload(client, fmt, frames, size):
    data = animation(fmt, frames, size)
    assert Image.open(io.BytesIO(data)).n_frames == frames, "every frame is really in the file"
    response = client.post("/", {**form_fields("resize"), "files": [SimpleUploadedFile(f"a.{fmt.lower()}", data)]})
    assert response.status_code == 400
    assert "is an animation too large to process: at most 1000 frames and 200 megapixels" in response.content.decode()


@pytest.mark.parametrize(("fmt", "frames", "size"), BOMBS)
def test_animation_bombs_fail_on_the_worker_before_any_frame_is_decoded(tmp_path, monkeypatch, fmt, frames, size):
    source = tmp_path / f"a.{fmt.lower()}"
    source.write_bytes(animation(fmt, frames, size))
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self, *a: decoded.append(1))  # any decode would show here
    with pytest.raises(ProcessingError, match="is animated with"):
        run_image_chain([(Resize(), valid_options("resize", width=100, height=100))], source, tmp_path,
                        lambda _: None)
    assert decoded == []


def test_an_animation_within_the_budget_is_processed(tmp_path):
    source = tmp_path / "ok.gif"
    source.write_bytes(animation("GIF", 40, (120, 90)))
    (result,) = run_image_chain([(Resize(), valid_options("resize", width=60, height=60))], source, tmp_path,
                                lambda _: None)
    assert Image.open(result).n_frames == 40


# ---------------------------------------------------------------------------
# Video: the work a file costs


def gap_video(path: Path, container: str) -> Path:
    """Two 1080p frames almost two hours apart: a few KB that a constant-rate encoder turns into ~200,000 frames."""
    plain = path.with_name("gap-source.mp4")
    media.ffmpeg("-f", "lavfi", "-i", "color=c=teal:size=1920x1080:rate=1:duration=2", "-vf",
                 "setpts='if(eq(N,0),0,7100/TB)'", "-fps_mode", "passthrough", "-c:v", "libx264", "-preset",
                 "ultrafast", str(plain))
    if container == "mp4":
        return plain
    media.ffmpeg("-i", str(plain), "-c", "copy", str(path))
    return path


def frame_count(path: Path) -> int:
    report = media.probe_frames(path)
    return int(media.stream(report, "video")["nb_read_frames"])


@media.needs_ffmpeg
@pytest.mark.parametrize("container", ["mp4", "mkv"])
@pytest.mark.parametrize(("processor", "options"), [
    (VideoToMp4, {"max_fps": 30}), (VideoToMp4, {"max_fps": None}), (VideoToWebm, {"max_fps": 30})])
def test_a_video_with_a_long_gap_is_never_filled_with_invented_frames(tmp_path, container, processor, options):
    source = gap_video(tmp_path / f"gap.{container}", container)
    assert source.stat().st_size < 100_000
    out = tmp_path / "out"
    out.mkdir()
    cleaned = {**valid_options(processor.name, preset="ultrafast"), **options}
    (result,) = processor().edit(source, out, cleaned, lambda _: None)
    assert frame_count(result) <= 2


@media.needs_ffmpeg
def test_a_video_over_the_frame_or_pixel_budget_fails_from_its_probe(tmp_path, settings):
    clip = media.video(tmp_path / "clip.mkv", size="640x360", seconds=4, rate=25)
    settings.MEDIA_MAX_FRAMES = 50
    with pytest.raises(ProcessingError, match=r"has about 100 frames; at most 50 are accepted"):
        probe(clip)
    settings.MEDIA_MAX_FRAMES, settings.MEDIA_MAX_PIXELS = 10_000, 50 * 640 * 360
    with pytest.raises(ProcessingError, match=r"would take too much work to convert \(100 frames of 640×360\)"):
        probe(clip)
    settings.MEDIA_MAX_PIXELS = 10 ** 12
    assert probe(clip).video.frames_over(4.0) == pytest.approx(100, abs=2)


@media.needs_ffmpeg
@pytest.mark.parametrize(("processor", "options"), [
    ("video_mp4", {}), ("audio_mp3", {}), ("media_trim", {"start": 0, "end": 0, "exact": True}),
    ("video_hls", {"segment_seconds": 4}),
])
def test_a_video_that_does_not_say_how_long_it_is_is_stopped_at_the_longest_accepted(tmp_path, settings,
                                                                                     processor, options):
    """Its length is counted while it is converted: past MEDIA_MAX_DURATION_SECONDS the file fails."""
    from backend.processors import registry

    settings.MEDIA_MAX_DURATION_SECONDS = 20
    source = media.without_duration(media.video(tmp_path / "long.mkv", size="160x120", seconds=45, rate=10))
    assert probe(source).duration is None, "the container says nothing"
    out = tmp_path / "out"
    out.mkdir()
    cls = registry.get(processor)
    with pytest.raises(ProcessingError, match=r"is longer than the 0.333333 minutes accepted \(found while"):
        cls().edit(source, out, {**cls.default_options(), **options}, lambda _: None)


@media.needs_ffmpeg
def test_no_ffmpeg_run_is_given_more_than_the_longest_files_time(tmp_path, settings):
    """Renditions multiply a file's time limit; the longest accepted duration's limit caps it all the same."""
    from backend.processors import ffmpeg

    settings.MEDIA_TIME_LIMIT_BASE, settings.MEDIA_TIME_LIMIT_FACTOR = 1, 0  # the longest file: 1 s
    with pytest.raises(ProcessingError, match="took longer than"):
        ffmpeg.run(["-re", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=6", "-f", "null", "-"],
                   cwd=tmp_path, duration=6, progress=lambda _: None, limit=10_000)
