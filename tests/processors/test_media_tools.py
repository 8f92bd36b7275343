"""Animations to video, trim, loudness (EBU R128) and HLS: real ffmpeg on real media, checked by ffprobe."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from django.test import Client
from PIL import Image

from backend.processors.base import ProcessingError
from backend.processors.chain import run_steps
from tests.helpers import download_zip, post_batch, wait_for_batch
from tests.support import images, media

pytestmark = media.needs_ffmpeg


def run(steps: list[dict], source: Path, workdir: Path) -> list[Path]:
    workdir.mkdir()
    return run_steps(steps, source, workdir, lambda fraction: None)


def loud_and_quiet(path: Path) -> Path:
    """Three seconds loud, three seconds quiet: what loudness normalisation is for."""
    # lavfi's sine is at 1/8 of full scale: ×7 makes it loud (about −4 LUFS), ×0.25 quiet.
    media.ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3,volume=7",
                 "-f", "lavfi", "-i", "sine=frequency=660:sample_rate=48000:duration=3,volume=0.25",
                 "-filter_complex", "[0][1]concat=n=2:v=0:a=1", "-ac", "2", str(path))
    return path


def integrated_loudness(path: Path) -> float:
    output = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128", "-f", "null",
                             "-"], capture_output=True, text=True, timeout=120).stderr
    return float(re.findall(r"I:\s+(-?[\d.]+) LUFS", output)[-1])


def test_an_animated_gif_becomes_a_much_smaller_mp4_with_its_timing(tmp_path):
    source = tmp_path / "spin.gif"
    # What animated GIFs mostly are: a still scene with something moving across it.
    scene = images.photo("coffee").resize((400, 266))
    frames = []
    for step in range(30):
        frame = scene.copy()
        frame.paste((230, 30, 30), (step * 12, 100, step * 12 + 40, 140))
        frames.append(frame.convert("P", palette=Image.Palette.ADAPTIVE))
    source.write_bytes(images.save(frames, "GIF"))  # 30 frames × 80 ms
    (video,) = run([{"processor": "animation_video", "options": {"format": "mp4", "crf": 26}}], source,
                   tmp_path / "work")
    report = media.probe(video)
    stream = media.stream(report, "video")
    assert video.suffix == ".mp4" and stream["codec_name"] == "h264" and media.stream(report, "audio") is None
    assert (stream["width"], stream["height"]) == (400, 266)
    assert abs(media.duration(report) - 30 * 0.08) < 0.15
    assert video.stat().st_size * 5 < source.stat().st_size, (video.stat().st_size, source.stat().st_size)
    webm = run([{"processor": "animation_video", "options": {"format": "webm", "crf": 32}}], source,
               tmp_path / "webm")[0]
    assert media.stream(media.probe(webm), "video")["codec_name"] == "vp9"


def test_a_still_image_or_an_animation_over_budget_is_refused(tmp_path, settings):
    still = tmp_path / "still.png"
    still.write_bytes(images.save(images.photo("coffee"), "PNG"))
    with pytest.raises(ProcessingError, match="not an animation"):
        run([{"processor": "animation_video", "options": {}}], still, tmp_path / "a")
    gif = tmp_path / "anim.gif"
    gif.write_bytes(images.animated_gif())
    settings.MAX_ANIMATION_FRAMES = 2
    with pytest.raises(ProcessingError, match="at most 2 are accepted"):
        run([{"processor": "animation_video", "options": {}}], gif, tmp_path / "b")


def test_trim_exact_and_lossless(tmp_path):
    clip = media.video(tmp_path / "clip.mp4", size="640x360", seconds=6)
    (exact,) = run([{"processor": "media_trim", "options": {"start": 1.5, "end": 4.0, "exact": True}}], clip,
                   tmp_path / "exact")
    assert abs(media.duration(media.probe(exact)) - 2.5) < 0.1
    (copied,) = run([{"processor": "media_trim", "options": {"start": 0, "duration": 2.0}}], clip, tmp_path / "copy")
    report = media.probe(copied)
    assert abs(media.duration(report) - 2.0) < 0.15, "from a key frame, a stream copy cuts where asked"
    assert media.stream(report, "video")["codec_name"] == "h264"
    song = tmp_path / "song.wav"
    media.ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=5", str(song))
    (cut,) = run([{"processor": "media_trim", "options": {"start": 1, "duration": 1.5, "exact": True}}], song,
                 tmp_path / "audio")
    assert cut.suffix == ".wav" and abs(media.duration(media.probe(cut)) - 1.5) < 0.05
    with pytest.raises(ProcessingError, match="is empty"):
        run([{"processor": "media_trim", "options": {"start": 60}}], clip, tmp_path / "late")


@pytest.mark.parametrize("target", [-16, -23])
def test_loudness_reaches_the_target_within_one_lu(tmp_path, target):
    source = loud_and_quiet(tmp_path / "speech.wav")
    assert abs(integrated_loudness(source) - target) > 3, "the input is far from the target"
    (result,) = run([{"processor": "loudness", "options": {"target": target, "true_peak": -1.5}}], source,
                    tmp_path / "work")
    assert result.suffix == ".wav"
    assert abs(integrated_loudness(result) - target) <= 1.0


def test_a_videos_sound_is_normalised_and_its_picture_copied(tmp_path):
    clip = media.video(tmp_path / "clip.mp4", size="320x240", seconds=4)
    (result,) = run([{"processor": "loudness", "options": {"target": -20, "true_peak": -1.5}}], clip,
                    tmp_path / "work")
    report = media.probe(result)
    assert media.stream(report, "video")["codec_name"] == "h264"
    assert media.stream(report, "audio")["codec_name"] == "aac"
    assert abs(integrated_loudness(result) - (-20)) <= 1.0


def hls_duration(playlist: Path) -> float:
    return sum(float(d) for d in re.findall(r"#EXTINF:([\d.]+),", playlist.read_text()))


def test_hls_renditions_and_a_master_playlist_that_plays(tmp_path):
    clip = media.video(tmp_path / "clip.mp4", size="1280x720", seconds=5)
    outputs = run([{"processor": "video_hls", "options": {"segment_seconds": 2}}], clip, tmp_path / "work")
    folder = tmp_path / "work" / "step0" / "clip-hls"
    master = (folder / "master.m3u8").read_text()
    assert master.startswith("#EXTM3U") and "RESOLUTION=1280x720" in master and "RESOLUTION=854x480" in master
    assert "1080p" not in master, "no rendition larger than the source"
    for rendition in ("720p", "480p"):
        playlist = folder / rendition / "index.m3u8"
        assert "#EXT-X-ENDLIST" in playlist.read_text() and abs(hls_duration(playlist) - 5) < 0.2
        assert playlist.read_text().count("#EXT-X-BYTERANGE:") >= 2, "segments of one file, by byte range"
        assert sorted(p.name for p in (folder / rendition).iterdir()) == ["index.m3u8", "stream.ts"]
        assert media.stream(media.probe(folder / rendition / "stream.ts"), "video")["codec_name"] == "h264"
        # A player's view: the rendition plays through its playlist, every byte range in place.
        played = media.probe(playlist)
        assert abs(float(played["format"]["duration"]) - 5) < 0.3, played["format"]
    assert folder / "master.m3u8" in outputs and len(outputs) == 5, "a few objects, however long the film"


@pytest.mark.integration
def test_the_new_media_types_run_end_to_end_on_a_media_worker(processes, s3_server, tmp_path):
    processes.start("worker", "--concurrency", "1", WORKER_QUEUES="media,default")  # default: the archives
    clip = media.video(tmp_path / "clip.mp4", size="640x360", seconds=4).read_bytes()
    cases = {
        "video_hls": ({"clip.mp4": clip}, {"segment_seconds": 2}),
        "loudness": ({"speech.wav": loud_and_quiet(tmp_path / "speech.wav").read_bytes()}, {"target": -16}),
        "media_trim": ({"clip.mp4": clip}, {"start": 1, "end": 3, "exact": True}),
        "animation_video": ({"spin.gif": images.animated_gif()}, {"format": "mp4"}),
    }
    batches = {}
    for processor, (files, options) in cases.items():
        response = post_batch(Client(), files, processor=processor, options=options)
        assert response.status_code == 201, response.json()
        batches[processor] = response.json()["id"]
    names = {}
    for processor, batch_id in batches.items():
        batch = wait_for_batch(batch_id, timeout=240)
        assert batch.status == "ready", (processor, list(batch.files.values_list("error", flat=True)))
        archive = download_zip(Client(), batch_id)
        names[processor] = archive.namelist()
        archive.extractall(tmp_path / processor)
    assert {"clip-hls/master.m3u8", "clip-hls/360p/index.m3u8"} <= set(names["video_hls"]), names["video_hls"]
    assert abs(integrated_loudness(tmp_path / "loudness" / "speech.wav") - (-16)) <= 1.0
    assert abs(media.duration(media.probe(tmp_path / "media_trim" / "clip.mp4")) - 2.0) < 0.1
    assert media.stream(media.probe(tmp_path / "animation_video" / "spin.mp4"), "video")["codec_name"] == "h264"


def test_a_web_without_ffmpeg_offers_video_types_when_its_media_workers_have_it(monkeypatch, settings):
    """The compose files' web image has no ffmpeg; its media workers do (MEDIA_ON_WORKERS)."""
    from backend.processors import ffmpeg as ffmpeg_module
    from backend.processors import registry

    monkeypatch.setattr(ffmpeg_module.shutil, "which", lambda tool: None)
    settings.MEDIA_ON_WORKERS = False
    assert registry.get("video_mp4") is None and registry.get("media_trim") is None
    settings.MEDIA_ON_WORKERS = True
    assert registry.get("video_mp4") is not None and registry.get("media_trim") is not None


@pytest.mark.parametrize("measured", [
    '"input_i": "-23.0:af=volume=99", "input_tp": "-1", "input_lra": "5", "input_thresh": "-33", "target_offset": "0"',
    '"input_i": "-inf", "input_tp": "-inf", "input_lra": "0", "input_thresh": "-70", "target_offset": "0"',
    '"input_i": "-23", "input_tp": "-1", "input_lra": "5", "input_thresh": "-33"',
    '"input_i": ["-23"], "input_tp": "-1", "input_lra": "5", "input_thresh": "-33", "target_offset": "0"',
], ids=["filter-text", "silence", "missing", "not-a-number"])
def test_loudness_measurements_are_numbers_or_the_file_fails(monkeypatch, tmp_path, measured):
    """What the first pass prints goes into the second pass's filter string: only finite numbers do."""
    from backend.processors import ffmpeg

    def first_pass(*args, **kwargs):
        return subprocess.CompletedProcess(args, 0, b"", ("[Parsed_loudnorm_0 @ 0x1]\n{" + measured + "}\n").encode())

    monkeypatch.setattr(ffmpeg.subprocess, "run", first_pass)
    with pytest.raises(ProcessingError, match="could not be measured for loudness"):
        ffmpeg.loudness_measure(tmp_path / "a.wav", "loudnorm=I=-23", 60)


def test_loudness_measurements_come_back_as_numbers(monkeypatch, tmp_path):
    from backend.processors import ffmpeg

    printed = b'{"input_i": "-31.40", "input_tp": "-9.5", "input_lra": "6.1", "input_thresh": "-41.8", ' \
              b'"target_offset": "0.3"}'
    monkeypatch.setattr(ffmpeg.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 0, b"", printed))
    assert ffmpeg.loudness_measure(tmp_path / "a.wav", "loudnorm=I=-23", 60) == {
        "input_i": -31.4, "input_tp": -9.5, "input_lra": 6.1, "input_thresh": -41.8, "target_offset": 0.3}
