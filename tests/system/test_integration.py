"""End to end through real processes: upload view → broker → worker → S3 → ZIP → expiry by beat."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.test import Client
from django.utils import timezone

from backend.batches.models import Batch, BatchFile
from tests.helpers import (
    assert_watermarked,
    download_zip,
    encode,
    noisy_image,
    upload,
    upright,
    wait_for_batch,
    with_orientation,
)

pytestmark = pytest.mark.integration


def sample_images() -> dict[str, bytes]:
    return {
        "holiday photo.jpg": encode(noisy_image((1600, 1067), seed=1), "JPEG", quality=90),
        "portrait.jpg": with_orientation(noisy_image((640, 480), seed=2), 6),  # shown upright as 480×640
        "logo.png": encode(noisy_image((500, 400), "RGBA", seed=3), "PNG"),
        "palette.png": encode(noisy_image((300, 300), seed=4).convert("P"), "PNG"),
        "banner.webp": encode(noisy_image((1200, 300), seed=5), "WEBP", quality=90),
        "tiny.jpg": encode(noisy_image((120, 90), seed=6), "JPEG", quality=95),
    }


def test_batch_runs_end_to_end_on_real_workers_and_expires(processes, s3_server):
    processes.start("worker", "--concurrency", "2", ARCHIVE_LIFETIME_SECONDS=25)
    processes.start("beat", SWEEP_INTERVAL_SECONDS=2)
    images = sample_images()
    good = encode(noisy_image((800, 600), seed=7), "JPEG")
    corrupt = good[: len(good) // 2]  # a valid header, so it passes the upload check, then fails to decode

    client = Client()
    response = upload(client, {**images, "corrupt.jpg": corrupt})
    assert response.status_code == 302
    batch_id = response["Location"].strip("/").split("/")[-1]
    assert s3_server.keys(f"batches/{batch_id}/in/"), "originals must be in S3 before processing"

    batch = wait_for_batch(batch_id)
    assert batch.status == Batch.Status.READY
    assert (batch.done_count, batch.failed_count) == (6, 1)
    failed = BatchFile.objects.get(batch=batch, status=BatchFile.Status.FAILED)
    assert failed.original_name == "corrupt.jpg" and "damaged or incomplete" in failed.error
    # Lifetime runs from the moment the archive was ready.
    assert abs((batch.expires_at - batch.ready_at).total_seconds() - 25) < 1

    # The download link redirects to S3; the presigned URL expires no later than the batch.
    link = client.get(f"/b/{batch_id}/download")
    assert link.status_code == 302
    query = parse_qs(urlparse(link["Location"]).query)
    assert int(query["X-Amz-Expires"][0]) <= (batch.expires_at - timezone.now()).total_seconds() + 1
    archive = download_zip(client, batch_id)
    names = archive.namelist()
    assert sorted(names) == sorted([*images, "errors.txt"]), names
    for name, original in images.items():
        assert_watermarked(original, archive.read(name))
    assert upright(archive.read("portrait.jpg")).size == (480, 640)
    assert "corrupt.jpg" in archive.read("errors.txt").decode()

    page = client.get(f"/b/{batch_id}/")
    assert "Download ZIP" in page.content.decode()

    # Beat's sweeper deletes everything once the lifetime has passed.
    batch = wait_for_batch(batch_id, ("expired",), timeout=90)
    assert s3_server.keys(f"batches/{batch_id}/") == []
    assert client.get(f"/b/{batch_id}/download").status_code == 410
    assert requests.get(link["Location"], timeout=10).status_code != 200
    assert "expired" in client.get(f"/b/{batch_id}/").content.decode()


def test_two_batches_with_the_same_names_never_mix(processes):
    processes.start("worker", "--concurrency", "2")
    client = Client()
    first = {"photo.jpg": encode(noisy_image((300, 200), seed=11), "JPEG")}
    second = {"photo.jpg": encode(noisy_image((200, 300), seed=12), "JPEG")}
    ids = [upload(client, files)["Location"].strip("/").split("/")[-1] for files in (first, second)]
    for batch_id, files in zip(ids, (first, second), strict=True):
        wait_for_batch(batch_id)
        archive = download_zip(client, batch_id)
        assert archive.namelist() == ["photo.jpg"]
        assert_watermarked(files["photo.jpg"], archive.read("photo.jpg"))


def test_worker_started_after_upload_picks_up_the_queued_work(processes):
    """Nothing is lost while no worker runs: messages wait in the broker, rows in Postgres."""
    client = Client()
    batch_id = upload(client, {"a.png": encode(noisy_image((200, 200)), "PNG")})["Location"].strip("/").split("/")[-1]
    time.sleep(1)
    assert Batch.objects.get(pk=batch_id).status == Batch.Status.PENDING
    processes.start("worker", "--concurrency", "1")
    assert wait_for_batch(batch_id).status == Batch.Status.READY
