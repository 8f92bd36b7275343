"""Video and audio through real worker processes: one per queue, live progress, cancel mid-encode."""

from __future__ import annotations

import io
import re
import subprocess
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from backend.batches.models import Batch, BatchFile
from tests.helpers import download_zip, form_fields, wait_for_batch
from tests.support import images, media

pytestmark = [pytest.mark.integration, media.needs_ffmpeg]


def submit(client: Client, files: dict[str, bytes], processor: str, **options: object) -> str:
    response = client.post("/", {**form_fields(processor, **options),
                                 "files": [SimpleUploadedFile(n, c) for n, c in files.items()]})
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"].strip("/").split("/")[-1]


def test_a_mixed_batch_runs_on_the_image_and_the_media_workers(processes, tmp_path, s3_server):
    image_worker = processes.start("worker", "--concurrency", "1", WORKER_QUEUES="images,default")
    media_worker = processes.start("worker", "--concurrency", "1", WORKER_QUEUES="media")
    client = Client()
    files = {
        "photo.jpg": images.phone_jpeg("astronaut"),
        "clip.mov": media.video(tmp_path / "clip.mov", size="640x360", seconds=2).read_bytes(),
        "voice.wav": media.audio(tmp_path / "voice.wav", seconds=3).read_bytes(),
    }
    batch_id = submit(client, files, "web_ready")
    batch = wait_for_batch(batch_id, timeout=180)
    assert (batch.status, batch.done_count, batch.failed_count) == ("ready", 3, 0)

    archive = download_zip(client, batch_id)
    assert sorted(archive.namelist()) == ["clip.mp4", "photo.webp", "voice.mp3"]
    photo = Image.open(io.BytesIO(archive.read("photo.webp")))
    assert photo.format == "WEBP" and photo.size == (512, 512)
    for name, expected in [("clip.mp4", ("h264", "aac")), ("voice.mp3", (None, "mp3"))]:
        path = tmp_path / f"result-{name}"
        path.write_bytes(archive.read(name))
        report = media.probe(path)
        video = media.stream(report, "video")
        assert ((video or {}).get("codec_name"), media.stream(report, "audio")["codec_name"]) == expected
    assert abs(media.duration(media.probe(tmp_path / "result-voice.mp3")) - 3.0) <= 0.1

    # Each file ran on the worker of its queue.
    ids = dict(BatchFile.objects.filter(batch_id=batch_id).values_list("original_name", "pk"))
    logs = {p.name: p.read_text(errors="replace") for p in Path(tmp_path).glob("worker-*.log")}
    image_log = logs[f"worker-{processes.running.index(image_worker)}.log"]
    media_log = logs[f"worker-{processes.running.index(media_worker)}.log"]
    assert str(ids["photo.jpg"]) in image_log and str(ids["photo.jpg"]) not in media_log
    for name in ("clip.mov", "voice.wav"):
        assert str(ids[name]) in media_log and str(ids[name]) not in image_log


def ffmpeg_processes() -> list[str]:
    found = subprocess.run(["pgrep", "-af", "ffmpeg .*libvpx-vp9"], capture_output=True, text=True).stdout
    return [line for line in found.splitlines() if line.strip()]


def test_cancel_in_the_middle_of_a_long_encode(processes, tmp_path, s3_server):
    processes.start("worker", "--concurrency", "1", WORKER_QUEUES="images,default")
    processes.start("worker", "--concurrency", "1", WORKER_QUEUES="media")
    client = Client()
    clip = media.video(tmp_path / "long.mp4", size="1280x720", seconds=30).read_bytes()
    batch_id = submit(client, {"long.mp4": clip, "short.mp4": media.video(tmp_path / "s.mp4").read_bytes()},
                      "video_webm", preset="veryslow")

    # Live progress: the waiting page's JSON shows the encode moving.
    seen: list[float] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(set(seen)) < 3:
        state = client.get(f"/b/{batch_id}/status.json").json()
        running = [f["progress"] for f in state["files"] if f["status"] == "processing"]
        if running and running[0] > 0:
            seen.append(running[0])
        time.sleep(0.5)
    assert len(set(seen)) >= 3 and seen == sorted(seen), f"progress did not move: {seen}"
    assert ffmpeg_processes(), "an encode is running"

    page = client.get(f"/b/{batch_id}/").content.decode()
    assert re.search(r'<form method="post" action="/b/[^"]+/cancel" id="cancel-form"\s*>', page), "cancel offered"
    cancelled = time.monotonic()
    assert client.post(f"/b/{batch_id}/cancel").status_code == 302
    while ffmpeg_processes() and time.monotonic() - cancelled < 10:
        time.sleep(0.2)
    assert not ffmpeg_processes(), "ffmpeg still running after the cancel"
    assert time.monotonic() - cancelled < 5, "ffmpeg stopped within 5 seconds"

    deadline = time.monotonic() + 30
    while s3_server.keys(f"batches/{batch_id}/") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert s3_server.keys(f"batches/{batch_id}/") == [], "every object of the batch is deleted"
    batch = Batch.objects.get(pk=batch_id)
    assert batch.status == Batch.Status.CANCELLED and batch.expired_at is not None
    assert set(batch.files.values_list("status", flat=True)) == {BatchFile.Status.CANCELLED}
    assert "This batch was cancelled" in client.get(f"/b/{batch_id}/").content.decode()
    assert client.get(f"/b/{batch_id}/download").status_code == 410

    # The media worker is free again and takes the next batch.
    next_id = submit(client, {"tone.flac": media.audio(tmp_path / "tone.flac").read_bytes()}, "audio_mp3")
    assert wait_for_batch(next_id, timeout=60).status == Batch.Status.READY
