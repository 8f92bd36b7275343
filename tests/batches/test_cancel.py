"""Cancelling a batch, in-process on real S3: nothing more starts, running ffmpeg stops, every object goes."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest
from django.db import connection
from django.test import Client

from backend.batches import archive, lifecycle, processing, sweeper
from backend.batches.lifecycle import batch_cancel
from backend.batches.models import Batch, BatchFile
from tests.helpers import batch_of
from tests.support import images, media

make_batch = batch_of


WATERMARK = [{"processor": "watermark_text", "options": {"text": "©", "size": 5, "opacity": 50, "color": "#ffffff",
                                                         "position": "bottom-right", "margin": 3}}]


@pytest.mark.django_db
def test_cancelling_a_queued_batch(published, s3_server):
    batch = make_batch({"a.jpg": images.phone_jpeg(), "b.png": images.rgba_png()}, WATERMARK)
    assert s3_server.keys(batch.prefix)
    client = Client()
    assert client.get(f"/b/{batch.pk}/cancel").status_code == 405, "only a POST cancels"
    response = client.post(f"/b/{batch.pk}/cancel")
    assert response.status_code == 302 and response["Location"] == f"/b/{batch.pk}/"

    batch.refresh_from_db()
    assert batch.status == Batch.Status.CANCELLED and batch.cancelled_at is not None
    assert set(batch.files.values_list("status", flat=True)) == {BatchFile.Status.CANCELLED}
    for file_id in batch.files.values_list("pk", flat=True):
        assert lifecycle.file_claim(str(file_id)) is None, "a cancelled file never starts"

    state = client.get(f"/b/{batch.pk}/status.json").json()
    assert state["status"] == "cancelled" and state["cancel_url"] is None and state["download_url"] is None
    page = client.get(f"/b/{batch.pk}/").content.decode()
    assert "This batch was cancelled" in page
    download = client.get(f"/b/{batch.pk}/download")
    assert download.status_code == 410 and "This batch was cancelled" in download.content.decode()

    sweeper.batch_purge(str(batch.pk))  # what the purge task queued by the cancel does
    assert s3_server.keys(batch.prefix) == []
    batch.refresh_from_db()
    assert batch.status == Batch.Status.CANCELLED and batch.expired_at is not None


@pytest.mark.django_db
def test_a_finished_batch_cannot_be_cancelled(published, django_capture_on_commit_callbacks):
    batch = make_batch({"a.jpg": images.phone_jpeg()}, WATERMARK)
    with django_capture_on_commit_callbacks(execute=True):
        for file_id in batch.files.values_list("pk", flat=True):
            processing.file_process(str(file_id))
    archive.archive_build(str(batch.pk))
    assert batch_cancel(batch.pk) is False
    Client().post(f"/b/{batch.pk}/cancel")
    batch.refresh_from_db()
    assert batch.status == Batch.Status.READY
    link = Client().get(f"/b/{batch.pk}/download")
    assert link.status_code == 302 and Client().get(link["Location"]).status_code == 200, "still offered"


@media.needs_ffmpeg
@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_running_encode_within_seconds_and_uploads_nothing(tmp_path, published, s3_server):
    clip = media.video(tmp_path / "long.mp4", size="1280x720", seconds=20).read_bytes()
    steps = [{"processor": "video_webm", "options": {"crf": 32, "audio_bitrate": 128, "preset": "veryslow",
                                                     "max_height": None, "max_fps": None}}]
    batch = make_batch({"long.mp4": clip}, steps)
    (file_id,) = [str(pk) for pk in batch.files.values_list("pk", flat=True)]

    def work() -> None:
        try:
            processing.file_process(file_id)
        finally:
            connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    deadline = time.monotonic() + 60
    while BatchFile.objects.get(pk=file_id).progress <= 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert BatchFile.objects.get(pk=file_id).status == BatchFile.Status.PROCESSING, "the encode is under way"

    cancelled_at = time.monotonic()
    assert batch_cancel(batch.pk) is True
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert time.monotonic() - cancelled_at < 5, "ffmpeg stopped within 5 seconds"
    assert not media_running(), "no ffmpeg left behind"
    assert s3_server.keys(f"{batch.prefix}out/") == [], "nothing of the stopped work was uploaded"
    assert BatchFile.objects.get(pk=file_id).status == BatchFile.Status.CANCELLED
    sweeper.batch_purge(str(batch.pk))
    assert s3_server.keys(batch.prefix) == []


def media_running() -> bool:
    return subprocess.run(["pgrep", "-f", "ffmpeg .*libvpx-vp9"], capture_output=True).returncode == 0
