"""The worker's plain functions, run in-process on real S3: claim, process, finish, archive, expire, sweep."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from botocore.config import Config
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from backend.batches import archive, lifecycle, processing, storage, sweeper
from backend.batches.models import Batch, BatchFile
from tests.helpers import (
    WATERMARK,
    assert_watermarked,
    batch_of,
    encode,
    noisy_image,
    run_in_process,
    s3_storage_setting,
)

pytestmark = pytest.mark.django_db
STEPS = [{"processor": "watermark_text", "options": {"text": "© Test", "size": 6, "opacity": 70,
                                                       "color": "#ffffff", "position": "bottom-right", "margin": 3}}]


def make_batch(files: dict[str, bytes]) -> Batch:
    return batch_of(files, STEPS)


def file_ids(batch: Batch) -> list[str]:
    return [str(pk) for pk in batch.files.order_by("position").values_list("pk", flat=True)]


def run_all(batch: Batch) -> Batch:
    return run_in_process(str(batch.pk))


def test_a_batch_is_processed_archived_and_expired(published, s3_server, django_capture_on_commit_callbacks):
    photo = encode(noisy_image((400, 300)), "JPEG")
    with django_capture_on_commit_callbacks(execute=True):
        batch = make_batch({"photo.jpg": photo, "broken.png": encode(noisy_image((50, 50)), "PNG")[:120]})
    assert published["files"] == file_ids(batch)

    with django_capture_on_commit_callbacks(execute=True):
        for file_id in file_ids(batch):
            processing.file_process(file_id)
    assert published["archives"] == [str(batch.pk)], "the last file to finish queues the archive, once"
    archive.archive_build(str(batch.pk))
    batch.refresh_from_db()
    assert batch.status == Batch.Status.READY and batch.archive_size > 0

    # Presigned link: works, and expires no later than the batch.
    link = Client().get(f"/b/{batch.pk}/download")
    assert link.status_code == 302
    assert int(parse_qs(urlparse(link["Location"]).query)["X-Amz-Expires"][0]) <= 3600
    zipped = zipfile.ZipFile(io.BytesIO(requests.get(link["Location"], timeout=10).content))
    assert zipped.namelist() == ["photo.jpg", "errors.txt"]
    assert_watermarked(photo, zipped.read("photo.jpg"))
    assert "broken.png: Could not be read" in zipped.read("errors.txt").decode()

    # Past the deadline the download is refused even before the sweeper comes by...
    after = batch.expires_at + timedelta(seconds=1)
    Batch.objects.filter(pk=batch.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Client().get(f"/b/{batch.pk}/download").status_code == 410
    # ...and the sweeper, with the clock past the deadline, deletes every object of the batch.
    report = sweeper.batches_sweep(now=after)
    assert report.expired == [str(batch.pk)]
    assert s3_server.keys(batch.prefix) == []
    batch.refresh_from_db()
    assert batch.status == Batch.Status.EXPIRED
    response = Client().get(f"/b/{batch.pk}/download")
    assert response.status_code == 410 and "expired" in response.content.decode()


def test_running_a_file_twice_changes_nothing(published, s3_server):
    batch = make_batch({"a.jpg": encode(noisy_image((200, 100)), "JPEG")})
    (file_id,) = file_ids(batch)
    processing.file_process(file_id, worker="celery@host-a")
    first = BatchFile.objects.get(pk=file_id)
    processing.file_process(file_id, worker="celery@host-b")  # a redelivered message
    again = BatchFile.objects.get(pk=file_id)
    assert (again.status, again.attempts, again.results) == (BatchFile.Status.DONE, 1, first.results)
    assert again.worker == "celery@host-a", "the worker that did the work is named on the file"
    assert Batch.objects.get(pk=batch.pk).done_count == 1
    assert len(s3_server.keys(f"{batch.prefix}out/")) == 1


def test_a_worker_that_lost_its_claim_cannot_finish(published):
    batch = make_batch({"a.jpg": encode(noisy_image((64, 64)), "JPEG")})
    (file_id,) = file_ids(batch)
    old = lifecycle.file_claim(file_id)
    BatchFile.objects.filter(pk=file_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    new = lifecycle.file_claim(file_id)  # the sweeper or a redelivery gave it to someone else
    assert new is not None and new.attempt == old.attempt + 1
    assert lifecycle.file_finish(old, error="stale worker's outcome") is False
    assert lifecycle.file_finish(new, results=[]) is True
    file = BatchFile.objects.get(pk=file_id)
    assert file.status == BatchFile.Status.DONE and file.error == ""
    assert Batch.objects.get(pk=batch.pk).done_count == 1


def test_storage_outage_hands_the_file_back_without_counting_an_attempt(published, settings, s3_server):
    batch = make_batch({"a.jpg": encode(noisy_image((64, 64)), "JPEG")})
    (file_id,) = file_ids(batch)

    class Dead:  # an S3 endpoint where nothing listens
        endpoint = "http://127.0.0.1:9"

    dead = s3_storage_setting(Dead)
    dead["OPTIONS"]["client_config"] = Config(connect_timeout=1, retries={"max_attempts": 1})
    settings.STORAGES = {**settings.STORAGES, "default": dead}
    with pytest.raises(storage.StorageUnavailable):
        processing.file_process(file_id)
    file = BatchFile.objects.get(pk=file_id)
    assert (file.status, file.attempts) == (BatchFile.Status.QUEUED, 0)

    settings.STORAGES = {**settings.STORAGES, "default": s3_storage_setting(s3_server)}
    processing.file_process(file_id)
    assert BatchFile.objects.get(pk=file_id).status == BatchFile.Status.DONE


def test_a_missing_original_fails_the_file(published, s3_server):
    batch = make_batch({"a.jpg": encode(noisy_image((64, 64)), "JPEG")})
    (file_id,) = file_ids(batch)
    storage.delete_prefix(f"{batch.prefix}in/")
    processing.file_process(file_id)
    file = BatchFile.objects.get(pk=file_id)
    assert file.status == BatchFile.Status.FAILED and "no longer in storage" in file.error


def test_a_batch_where_every_file_failed_ends_failed_without_archive(published):
    batch = make_batch({"x.jpg": encode(noisy_image((64, 64)), "JPEG")[:200]})
    batch = run_all(batch)
    assert batch.status == Batch.Status.FAILED and batch.archive_key == "" and batch.expires_at is not None
    page = Client().get(f"/b/{batch.pk}/").content.decode()
    assert "No file could be processed" in page and "Could not be read" in page


class TestSweeper:
    def test_a_file_whose_worker_went_silent_is_queued_again(self, published, settings):
        batch = make_batch({"a.jpg": encode(noisy_image((64, 64)), "JPEG")})
        (file_id,) = file_ids(batch)
        lifecycle.file_claim(file_id)
        later = timezone.now() + timedelta(seconds=settings.STALE_AFTER_SECONDS + 1)
        report = sweeper.batches_sweep(now=later)
        assert report.requeued == [file_id] and published["files"][-1] == file_id
        assert BatchFile.objects.get(pk=file_id).status == BatchFile.Status.QUEUED
        processing.file_process(file_id)
        assert BatchFile.objects.get(pk=file_id).status == BatchFile.Status.DONE

    def test_a_file_that_keeps_killing_its_worker_is_given_up(self, published, settings):
        batch = make_batch({"a.jpg": encode(noisy_image((64, 64)), "JPEG")})
        (file_id,) = file_ids(batch)
        now = timezone.now()
        for attempt in range(1, settings.MAX_ATTEMPTS + 1):
            assert lifecycle.file_claim(file_id).attempt == attempt  # ...and the worker dies
            now += timedelta(seconds=settings.STALE_AFTER_SECONDS + 1)
            silent_since = now - timedelta(seconds=settings.STALE_AFTER_SECONDS + 1)
            BatchFile.objects.filter(pk=file_id).update(heartbeat_at=silent_since)
            sweeper.batches_sweep(now=now)
        file = BatchFile.objects.get(pk=file_id)
        assert file.status == BatchFile.Status.FAILED and "given up" in file.error
        assert published["archives"] == [str(batch.pk)]

    def test_queued_files_whose_message_was_lost_are_published_again(self, published, settings):
        batch = make_batch({"a.jpg": encode(noisy_image((64, 64)), "JPEG")})
        (file_id,) = file_ids(batch)
        assert sweeper.batches_sweep().requeued == []  # young: its message is probably still in the queue
        later = timezone.now() + timedelta(seconds=settings.REQUEUE_AFTER_SECONDS + 1)
        assert sweeper.batches_sweep(now=later).requeued == [file_id]

    def test_an_archive_that_was_never_built_is_queued_again(self, published, settings):
        batch = make_batch({"a.jpg": encode(noisy_image((64, 64)), "JPEG")})
        processing.file_process(file_ids(batch)[0])
        published["archives"].clear()  # as if the publish after commit had been lost
        later = timezone.now() + timedelta(seconds=settings.STALE_AFTER_SECONDS + 1)
        assert sweeper.batches_sweep(now=later).archives_requeued == [str(batch.pk)]


def test_embedded_mode_streams_the_archive_from_local_storage(published, tmp_path):
    photo = encode(noisy_image((120, 80)), "PNG")
    client = Client()
    response = client.post("/", {**WATERMARK, "files": [SimpleUploadedFile("p.png", photo)]})
    batch = run_all(Batch.objects.get(pk=response["Location"].strip("/").split("/")[-1]))
    link = client.get(f"/b/{batch.pk}/download")
    assert link.status_code == 302 and link["Location"].startswith("/files/"), "local storage's signed link"
    download = client.get(link["Location"])
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    zipped = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert_watermarked(photo, zipped.read("p.png"))
    sweeper.batches_sweep(now=batch.expires_at + timedelta(seconds=1))
    assert not (tmp_path / "media" / "batches" / str(batch.pk)).exists()


def test_a_file_held_by_another_claim_is_busy_not_dropped(published):
    batch = make_batch({"a.jpg": encode(noisy_image((64, 64)), "JPEG")})
    (file_id,) = file_ids(batch)
    lifecycle.file_claim(file_id)  # another worker holds it (perhaps a dead one whose heartbeat is not stale yet)
    with pytest.raises(processing.FileBusy) as busy:
        processing.file_process(file_id)
    assert busy.value.queue == "images"
    BatchFile.objects.filter(pk=file_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    processing.file_process(file_id)  # the retry, once the silent claim is stale, takes the file over
    file = BatchFile.objects.get(pk=file_id)
    assert (file.status, file.attempts) == (BatchFile.Status.DONE, 2)


def test_a_batchs_files_are_published_in_fair_share_priorities(published, settings,
                                                              django_capture_on_commit_callbacks):
    settings.FAIR_SHARE_FILES = 2
    with django_capture_on_commit_callbacks(execute=True):
        batch = make_batch({f"p{i}.jpg": encode(noisy_image((32, 32), seed=i), "JPEG") for i in range(7)})
    assert published["priorities"] == [0, 0, 1, 1, 2, 2, 3]
    assert published["files"] == file_ids(batch)


@pytest.mark.django_db(transaction=True)
def test_the_bar_moves_on_the_chains_pace_while_a_step_reports_nothing(scratch_registry, settings):
    """A long encode reports nothing until it ends: between reports the bar follows the time this chain
    has taken per pixel on recent files, never past 95%, and never backwards."""
    import time

    from tests.support.pacing import PIXELS, processing_thread, silent_batch

    file = silent_batch(3).files.get()
    assert file.pixels == PIXELS
    seen = []
    worker = processing_thread(str(file.pk))
    while worker.is_alive():
        seen.append(BatchFile.objects.get(pk=file.pk).progress)
        time.sleep(0.25)
    worker.join()
    moving = [value for value in seen if 0 < value < 1]
    assert any(0.3 <= value <= 0.95 for value in moving), seen
    assert moving == sorted(moving), "never backwards"
    assert BatchFile.objects.get(pk=file.pk).status == "done"


@pytest.mark.s3
def test_a_worker_taken_over_while_uploading_leaves_the_new_claims_results_in_place(published, monkeypatch):
    """The slow worker's claim is taken over (its heartbeat looked stale) while it uploads; the new claim
    finishes first with the same keys. The slow one's results go unrecorded, and deleting them would
    delete the finished row's: they stay, and the archive holds every file."""
    batch = make_batch({"a.jpg": encode(noisy_image((64, 64)), "JPEG")})
    (file_id,) = file_ids(batch)
    real_upload = processing._upload_results
    taken_over = []

    def upload_while_another_takes_over(file, outputs, workdir):
        if not taken_over:
            taken_over.append(True)
            BatchFile.objects.filter(pk=file_id).update(heartbeat_at=timezone.now() - timedelta(hours=1))
            processing.file_process(file_id)  # the new claim runs and finishes while this one uploads
        return real_upload(file, outputs, workdir)

    monkeypatch.setattr(processing, "_upload_results", upload_while_another_takes_over)
    processing.file_process(file_id)
    file = BatchFile.objects.get(pk=file_id)
    assert (file.status, file.attempts) == (BatchFile.Status.DONE, 2)
    assert all(storage.exists(result["key"]) for result in file.results), "the finished row's results exist"
    archive.archive_build(str(batch.pk))
    assert Batch.objects.get(pk=batch.pk).status == Batch.Status.READY
