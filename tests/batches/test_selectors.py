"""A batch's state as figures (`selectors.batch_state`): progress, times, what is offered and when it
stops, reasons in the reader's language, and a chain's recent pace."""

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from backend.batches.models import Batch, BatchFile
from backend.batches.selectors import batch_state, chain_seconds_per_pixel, file_error

pytestmark = pytest.mark.django_db


def batch_with(statuses: list[tuple[str, float]], now=None, **fields: object) -> Batch:
    now = now or timezone.now()
    batch = Batch.objects.create(steps=[{"processor": "resize", "options": {}}], file_count=len(statuses),
                                 created_at=now - timedelta(seconds=100), **fields)
    for position, (status, progress) in enumerate(statuses):
        BatchFile.objects.create(
            batch=batch, position=position, original_name=f"f{position}.jpg", safe_name=f"f{position}.jpg",
            source_key=f"{batch.prefix}in/{position}.jpg", content_type="image/jpeg", size=1000, status=status,
            progress=progress, pixels=1_000_000,
            results=[{"name": f"f{position}.webp", "key": f"{batch.prefix}out/{position}.webp", "size": 250}]
            if status == "done" else [])
    return batch


def test_progress_and_time_left_follow_the_pace_so_far():
    now = timezone.now()
    batch = batch_with([("done", 1.0), ("processing", 0.5), ("queued", 0.0), ("queued", 0.0)],
                       status="processing", started_at=now - timedelta(seconds=30), done_count=1, now=now)
    state = batch_state(batch, now)
    assert state["progress"] == 0.375 and state["elapsed_seconds"] == 100
    assert state["eta_seconds"] == 50, "30 s for 37.5%: 50 s for the rest"
    assert (state["cancellable"], state["downloadable"], state["expires_in_seconds"]) == (True, False, None)
    assert state["files"][0]["results"] == [{"name": "f0.webp", "size": 250, "index": 0}]
    assert state["files"][0]["size_change"] == -75 and state["files"][1]["size_change"] is None


def test_a_ready_batch_is_offered_until_its_deadline_then_reads_expired_even_before_the_sweep():
    now = timezone.now()
    batch = batch_with([("done", 1.0), ("failed", 0.0)], status="ready", ready_at=now, done_count=1,
                       failed_count=1, expires_at=now + timedelta(hours=1), archive_name="a.zip", archive_size=9)
    state = batch_state(batch, now)
    assert state["status"] == "ready" and state["downloadable"] and state["errors_report"]
    assert state["expires_in_seconds"] == 3600 and (state["archive_name"], state["archive_size"]) == ("a.zip", 9)
    later = batch_state(batch, now + timedelta(hours=1, seconds=1))
    assert later["status"] == "expired" and not later["downloadable"] and not later["errors_report"]
    assert later["archive_name"] is None and all(f["results"] == [] and not f["preview"] for f in later["files"])


def test_a_cancelled_batch_offers_nothing_and_has_no_deadline():
    now = timezone.now()
    batch = batch_with([("done", 1.0), ("queued", 0.0)], status="cancelled", cancelled_at=now,
                       expires_at=now + timedelta(hours=1))
    state = batch_state(batch, now)
    assert state["status"] == "cancelled" and state["expires_at"] is None and not state["cancellable"]
    assert state["files"][0]["results"] == []


def test_a_reason_is_read_in_the_readers_language_and_its_english_sentence_otherwise():
    batch = batch_with([("failed", 0.0)])
    file = batch.files.get()
    file.error = "Could not be read: the image is damaged or incomplete."
    file.error_template = "could not be read: the image is damaged or incomplete"
    with translation.override("ru"):
        assert file_error(file) != file.error and file_error(file)
    file.error_template, file.error_params = "Has %(missing)s", {"other": 1}  # placeholders that do not match
    assert file_error(file) == file.error


def test_a_chains_pace_comes_from_its_recent_images():
    assert chain_seconds_per_pixel("resize") is None, "no image yet"
    batch = batch_with([("done", 1.0), ("done", 1.0)])
    BatchFile.objects.filter(batch=batch).update(timings={"process": 0.5}, finished_at=timezone.now())
    assert chain_seconds_per_pixel(batch.chain) == pytest.approx(0.5 / 1_000_000)
