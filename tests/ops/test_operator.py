"""What operators see: /metrics, the admin's actions, the API docs (tests/api/test_schemathesis.py checks
the API against its own schema)."""

from __future__ import annotations

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from backend.batches import archive, processing
from backend.batches.models import Batch, BatchFile
from tests.helpers import encode, noisy_image, run_in_process

pytestmark = pytest.mark.django_db


def photo(seed: int = 1) -> bytes:
    return encode(noisy_image((320, 240), seed=seed), "JPEG")


def processed_batch(client: Client, files: dict[str, bytes]) -> Batch:
    answer = client.post("/api/v1/batches", {
        "processor": "thumbnail", "files": [SimpleUploadedFile(name, data) for name, data in files.items()]})
    assert answer.status_code == 201, answer.content
    batch_id = answer.json()["id"]
    return run_in_process(batch_id)


def scrape(client: Client, **headers: str) -> dict[tuple[str, tuple], float]:
    answer = client.get("/metrics", **headers)
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_parse_and_move_after_a_batch(client, published):
    before = scrape(client)
    assert before[("mediaconv_batches", (("status", "ready"),))] == 0
    batch = processed_batch(client, {"a.jpg": photo(1), "b.jpg": photo(2), "bad.jpg": photo(3)[:900]})
    after = scrape(client)
    assert after[("mediaconv_batches", (("status", "ready"),))] == 1
    assert after[("mediaconv_files_finished_total", (("outcome", "done"),))] == 2
    assert after[("mediaconv_files_finished_total", (("outcome", "failed"),))] == 1
    assert after[("mediaconv_processing_seconds_count", (("processor", "thumbnail"),))] == 3
    assert after[("mediaconv_processing_seconds_bucket", (("le", "+Inf"), ("processor", "thumbnail")))] == 3
    assert after[("mediaconv_archive_bytes", ())] == batch.archive_size > 0
    assert after[("mediaconv_archive_bytes_built_total", ())] >= batch.archive_size
    assert {labels for name, labels in after if name == "mediaconv_queue_depth"} == {
        (("queue", "images"),), (("queue", "media"),), (("queue", "default"),)}


def test_metrics_need_an_allowed_address_or_the_token(settings):
    settings.METRICS_TOKEN = "scrape-me"
    stranger = Client(REMOTE_ADDR="203.0.113.9")
    assert stranger.get("/metrics").status_code == 403
    assert stranger.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert scrape(stranger, HTTP_AUTHORIZATION="Bearer scrape-me")
    settings.METRICS_ALLOWED_IPS = ["203.0.113.9"]
    assert scrape(stranger)


def run_action(admin_client, action: str, batch: Batch) -> None:
    answer = admin_client.post("/admin/batches/batch/", {"action": action, "_selected_action": [str(batch.pk)]})
    assert answer.status_code == 302, answer.content[:500]


def test_admin_retries_failed_files_into_a_new_archive(admin_client, client, published, s3_server,
                                                       django_capture_on_commit_callbacks, monkeypatch):
    batch = processed_batch(client, {"a.jpg": photo(1), "b.jpg": photo(2)})
    assert batch.status == Batch.Status.READY
    # Make one file fail as a crash would, then let the operator retry it.
    failed = BatchFile.objects.get(batch=batch, original_name="b.jpg")
    BatchFile.objects.filter(pk=failed.pk).update(status=BatchFile.Status.FAILED, error="worker crashed", results=[])
    Batch.objects.filter(pk=batch.pk).update(done_count=1, failed_count=1)
    published["files"].clear()
    with django_capture_on_commit_callbacks(execute=True):
        run_action(admin_client, "retry_failed", batch)
    batch.refresh_from_db()
    assert batch.status == Batch.Status.PROCESSING and batch.failed_count == 0 and batch.expires_at is None
    assert published["files"] == [str(failed.pk)]
    assert client.get(f"/b/{batch.pk}/download").status_code == 409, "no download until the new archive"
    processing.file_process(str(failed.pk))
    archive.archive_build(str(batch.pk))
    batch.refresh_from_db()
    assert (batch.status, batch.done_count, batch.failed_count) == (Batch.Status.READY, 2, 0)


def test_admin_cancels_and_expires(admin_client, client, published, s3_server, django_capture_on_commit_callbacks):
    queued = client.post("/api/v1/batches", {"processor": "thumbnail",
                                             "files": [SimpleUploadedFile("a.jpg", photo())]}).json()
    with django_capture_on_commit_callbacks(execute=True):
        run_action(admin_client, "cancel", Batch.objects.get(pk=queued["id"]))
    assert Batch.objects.get(pk=queued["id"]).status == Batch.Status.CANCELLED

    ready = processed_batch(client, {"a.jpg": photo()})
    assert s3_server.keys(ready.prefix)
    run_action(admin_client, "expire", ready)
    ready.refresh_from_db()
    assert ready.status == Batch.Status.EXPIRED and ready.expired_at is not None
    assert s3_server.keys(ready.prefix) == []
    assert client.get(f"/b/{ready.pk}/download").status_code == 410


def test_admin_lists_filter_by_status_and_processor_and_search_by_id_and_name(admin_client, client, published):
    thumb = processed_batch(client, {"holiday.jpg": photo()})
    resize = client.post("/api/v1/batches", {"processor": "resize",
                                             "files": [SimpleUploadedFile("other.jpg", photo())]}).json()
    page = admin_client.get("/admin/batches/batch/?processor=thumbnail").content.decode()
    assert str(thumb.pk) in page and resize["id"] not in page
    page = admin_client.get("/admin/batches/batch/?status__exact=pending").content.decode()
    assert resize["id"] in page and str(thumb.pk) not in page
    page = admin_client.get(f"/admin/batches/batch/?q={resize['id']}").content.decode()
    assert resize["id"] in page and str(thumb.pk) not in page
    page = admin_client.get("/admin/batches/batch/?q=holiday").content.decode()
    assert str(thumb.pk) in page and resize["id"] not in page
    detail = admin_client.get(f"/admin/batches/batchfile/{thumb.files.get().pk}/change/").content.decode()
    assert "timings" in detail.lower() and "process" in detail


def test_the_docs_page_uses_only_this_sites_assets(client):
    page = client.get("/api/docs/").content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/") for s in sources), sources
    schema = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    assert {"/api/v1/batches", "/api/v1/processors", "/api/v1/stats"} <= set(schema["paths"])


