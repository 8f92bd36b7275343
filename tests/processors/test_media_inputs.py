"""Media uploads: recognised by their bytes, and hostile ones refused before ffmpeg can be tricked."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from backend.batches.models import Batch
from backend.batches.uploads import sniff
from backend.processors import ProcessingError, registry
from backend.processors.ffmpeg import probe
from tests.helpers import form_fields
from tests.support import images, media

pytestmark = [media.needs_ffmpeg, pytest.mark.django_db]

PLAYLIST = b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
CONCAT = b"ffconcat version 1.0\nfile '/etc/passwd'\n"
# A real AVI header in front of the playlist: passes the upload's first look, so the worker must stop it.
AVI_DISGUISE = b"RIFF\x00\x10\x00\x00AVI LIST" + b"\x00" * 16 + PLAYLIST


def post(client, files: dict[str, bytes], processor: str):
    """Upload with the processor's default options, as the form shows them."""
    return client.post("/", {**form_fields(processor),
                                 "files": [SimpleUploadedFile(n, c) for n, c in files.items()]})


@pytest.mark.parametrize("name", ["movie.mp4", "movie.avi", "movie.mkv", "list.m3u8"])
@pytest.mark.parametrize("content", [PLAYLIST, CONCAT], ids=["hls", "ffconcat"])
def test_playlists_are_refused_at_upload_whatever_their_name(client, name, content):
    response = post(client, {name: content}, "video_mp4")
    assert response.status_code == 400
    assert f"“{name}” is not an image, video or audio file" in response.content.decode()
    assert not Batch.objects.exists()


def test_the_crafted_files_really_are_playlists_to_a_careless_ffprobe(tmp_path):
    """Without the guards, ffmpeg's own detection takes them for HLS and concat lists: the danger is real."""
    for name, content, demuxer in [("a.mp4", PLAYLIST, "hls"), ("b.avi", PLAYLIST, "hls"), ("c.mkv", CONCAT, "concat")]:
        (tmp_path / name).write_bytes(content)
        careless = subprocess.run(["ffprobe", "-v", "error", "-protocol_whitelist", "file,pipe", name],
                                  cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert f"[{demuxer} @" in careless.stderr, careless.stderr


@pytest.mark.parametrize(("name", "content"), [
    ("movie.mp4", PLAYLIST), ("movie.avi", PLAYLIST), ("movie.mkv", CONCAT), ("disguised.avi", AVI_DISGUISE),
])
@pytest.mark.parametrize("processor", ["video_mp4", "audio_mp3", "video_thumbnail"])
def test_the_worker_refuses_playlists_and_nothing_reaches_an_output(tmp_path, name, content, processor):
    source = tmp_path / "in" / name
    source.parent.mkdir()
    source.write_bytes(content)
    out = tmp_path / "out"
    out.mkdir()
    refused = r"not a video or audio (file|container) this converter accepts|has neither a video nor an audio track"
    with pytest.raises(ProcessingError, match=refused) as caught:
        registry.get(processor)().edit(source, out, registry.get(processor).default_options(), lambda f: None)
    assert list(out.iterdir()) == [], "no output at all"
    assert "root:" not in str(caught.value) and "passwd" not in str(caught.value)


def test_a_disguised_playlist_passes_the_first_look_but_not_the_probe(tmp_path):
    assert sniff(SimpleUploadedFile("x.avi", AVI_DISGUISE)).content_type == "video/x-msvideo"
    (tmp_path / "x.avi").write_bytes(AVI_DISGUISE)
    with pytest.raises(ProcessingError):
        probe(tmp_path / "x.avi")


def test_codecs_outside_the_allow_list_are_refused(tmp_path):
    path = tmp_path / "lossless.mkv"
    media.ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64:rate=5:duration=0.4", "-c:v", "ffv1", str(path))
    with pytest.raises(ProcessingError, match="uses the video codec “ffv1”"):
        probe(path)


def test_duration_and_resolution_limits(tmp_path, settings):
    path = media.video(tmp_path / "clip.mp4", size="640x360", seconds=3)
    settings.MEDIA_MAX_DURATION_SECONDS = 1
    with pytest.raises(ProcessingError, match="minutes are accepted"):
        probe(path)
    settings.MEDIA_MAX_DURATION_SECONDS = 60
    settings.MEDIA_MAX_SIDE = 320
    with pytest.raises(ProcessingError, match="videos up to 320 pixels wide"):
        probe(path)


def test_media_to_an_image_processor_is_refused_with_the_types_named(client, tmp_path):
    clip = media.video(tmp_path / "clip.mp4", seconds=0.5).read_bytes()
    response = post(client, {"clip.mp4": clip}, "resize")
    assert response.status_code == 400
    accepted = "JPEG, PNG, WebP, GIF, TIFF, BMP, HEIC/HEIF, AVIF, JPEG XL, DNG, Canon CR2, Nikon NEF and Sony ARW"
    assert f"“clip.mp4” is MP4 video; Resize accepts {accepted}" in response.content.decode()
    response = post(client, {"photo.png": images.save(images.photo("coffee"), "PNG")}, "video_mp4")
    assert "“photo.png” is PNG; Video to web MP4 accepts videos" in response.content.decode()


def test_media_size_limit_is_its_own(client, tmp_path, settings):
    clip = media.video(tmp_path / "clip.mp4", seconds=0.5).read_bytes()
    settings.MAX_FILE_BYTES = 10  # images only
    settings.MAX_MEDIA_FILE_BYTES = len(clip) - 1
    response = post(client, {"clip.mp4": clip}, "video_mp4")
    assert response.status_code == 400
    assert "each video or audio file may be at most" in response.content.decode()


def test_a_mixed_upload_goes_to_both_queues(client, tmp_path, published, django_capture_on_commit_callbacks):
    files = {"photo.jpg": images.phone_jpeg("coffee"), "clip.mp4": media.video(tmp_path / "c.mp4").read_bytes(),
             "tone.wav": media.audio(tmp_path / "t.wav").read_bytes()}
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, files, "web_ready")
    assert response.status_code == 302, response.content.decode()[:2000]
    batch = Batch.objects.get()
    queues = {file.original_name: file.queue for file in batch.files.all()}
    assert queues == {"photo.jpg": "images", "clip.mp4": "media", "tone.wav": "media"}
    assert sorted(q for _, q in published["queues"]) == ["images", "media", "media"]
    assert batch.queue == "media"


def test_probe_reports_what_it_found(tmp_path):
    info = probe(media.video(tmp_path / "clip.mkv", size="320x240", seconds=1))
    assert info.video is not None and (info.video.codec, info.video.width, info.video.height) == ("h264", 320, 240)
    assert info.audio is not None and info.audio.codec == "opus"
    assert abs(info.duration - 1.0) < 0.1
    assert probe(Path(media.audio(tmp_path / "a.flac"))).video is None
