"""Breaking things on purpose: a killed worker, a restarted broker, storage and database
outages, a sweeper that was away, a file that crashes every time. Each ends with the
batch finished, every accepted file delivered exactly once or failed with a reason.

Real worker and beat processes against the real Redis, Postgres and SeaweedFS.
"""

from __future__ import annotations

import signal
import tempfile
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client

from backend.batches.models import Batch, BatchFile
from tests.helpers import download_zip, encode, form_fields, noisy_image, s3_storage_setting, wait_for_batch
from tests.support import crashing_processor, slow_processor
from tests.support.redisserver import RedisServer
from tests.support.s3server import S3Server

pytestmark = pytest.mark.integration
SLOW = slow_processor.SlowWatermark.name
# Fast recovery, so each fault heals within seconds rather than the production minutes.
FAST = {"STALE_AFTER_SECONDS": 4, "HEARTBEAT_SECONDS": 1, "SWEEP_INTERVAL_SECONDS": 2, "REQUEUE_AFTER_SECONDS": 6,
        "BROKER_VISIBILITY_TIMEOUT": 20,
        "PROCESSOR_MODULES": "tests.support.slow_processor,tests.support.crashing_processor"}
needs_redis = pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis"), reason="needs the Redis broker")
needs_postgres = pytest.mark.skipif("postgresql" not in settings.DATABASES["default"]["ENGINE"],
                                    reason="needs Postgres")


def photos(count: int, size: tuple[int, int] = (480, 320)) -> dict[str, bytes]:
    return {f"photo-{i:02d}.jpg": encode(noisy_image(size, seed=i), "JPEG") for i in range(count)}


def submit(files: dict[str, bytes], processor: str = SLOW) -> str:
    response = Client().post("/", {**form_fields(processor, text="© Faults"),
                                   "files": [SimpleUploadedFile(n, c) for n, c in files.items()]})
    assert response.status_code == 302, response.content.decode()[:1500]
    return response["Location"].strip("/").split("/")[-1]


def wait_until(condition, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def done(batch_id: str) -> int:
    return BatchFile.objects.filter(batch_id=batch_id, status=BatchFile.Status.DONE).count()


def assert_each_file_exactly_once(batch_id: str, files: dict[str, bytes], s3: S3Server | None = None) -> None:
    batch = wait_for_batch(batch_id, timeout=240)
    assert (batch.status, batch.done_count, batch.failed_count) == (Batch.Status.READY, len(files), 0), \
        list(batch.files.values_list("original_name", "status", "error"))
    names = download_zip(Client(), batch_id).namelist()
    assert sorted(names) == sorted(files), "every file exactly once in the archive"
    if s3 is not None:  # and one result object per file: no second, different result was written
        assert len(s3.keys(f"batches/{batch_id}/out/")) == len(files)


def test_a_worker_killed_mid_file_is_replaced_and_nothing_is_lost(processes, s3_server):
    victim = processes.start("worker", "--concurrency", "1", WORKER_HOSTNAME="victim@test", **FAST)
    files = photos(8)
    batch_id = submit(files)
    wait_until(lambda: done(batch_id) >= 2, what="two files done")
    wait_until(lambda: BatchFile.objects.filter(batch_id=batch_id, status="processing").exists(), what="a file")
    midway = BatchFile.objects.filter(batch_id=batch_id, status="processing").values_list("pk", flat=True).first()
    processes.stop(victim, signal.SIGKILL)  # the whole worker, as when its host dies: no goodbye, no ack

    processes.start("worker", "--concurrency", "2", WORKER_HOSTNAME="survivor@test", **FAST)
    processes.start("beat", **FAST)
    assert_each_file_exactly_once(batch_id, files, s3_server)
    assert BatchFile.objects.get(pk=midway).attempts >= 2, "the interrupted file was started again"


@needs_redis
def test_the_broker_restarted_mid_batch_loses_no_file(processes, tmp_path, s3_server):
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        broker = {**FAST, "CELERY_BROKER_URL": redis.url}
        web = processes.start_web(**broker)
        processes.start("worker", "--concurrency", "2", **broker)
        processes.start("beat", **broker)
        files = photos(30)
        answer = requests.post(f"{web}/api/v1/batches", timeout=60, data={"processor": SLOW},
                               files=[("files", (name, data, "image/jpeg")) for name, data in files.items()])
        assert answer.status_code == 201, answer.text
        batch_id = answer.json()["id"]
        wait_until(lambda: done(batch_id) >= 3, what="three files done")
        redis.stop()  # every queued message is gone with it
        time.sleep(3)
        redis.start()
        assert_each_file_exactly_once(batch_id, files, s3_server)
    finally:
        processes.stop_all()
        redis.stop()


def test_storage_down_for_ten_seconds_is_waited_out(processes, settings):
    own = S3Server(Path(tempfile.mkdtemp(prefix="mediaconv-weed-outage-")))
    own.start()
    try:
        settings.STORAGES = {**settings.STORAGES, "default": s3_storage_setting(own)}
        processes.server = own
        processes.start("worker", "--concurrency", "2", **FAST)
        processes.start("beat", **FAST)
        files = photos(12)
        batch_id = submit(files)
        wait_until(lambda: done(batch_id) >= 2, what="two files done")
        own.stop()
        time.sleep(10)
        own.start()
        assert_each_file_exactly_once(batch_id, files, own)
    finally:
        processes.stop_all()
        own.stop()


@needs_postgres
def test_database_connections_cut_under_the_workers_are_reopened(processes, s3_server):
    processes.start("worker", "--concurrency", "2", **FAST)
    processes.start("beat", **FAST)
    files = photos(12)
    batch_id = submit(files)
    wait_until(lambda: done(batch_id) >= 2, what="two files done")
    # For five seconds, cut every other session on the test database (workers and beat)
    # as soon as it appears; they open connections per task, so some moments have none.
    cut = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            cut += cursor.fetchone()[0]
        time.sleep(0.1)
    assert cut >= 3, "connections were cut under the workers"
    assert_each_file_exactly_once(batch_id, files, s3_server)


def test_downloads_stop_at_the_deadline_even_without_the_sweeper_which_catches_up(processes, s3_server):
    processes.start("worker", "--concurrency", "2", ARCHIVE_LIFETIME_SECONDS=4)
    files = photos(2)
    batch_id = submit(files, "watermark_text")
    batch = wait_for_batch(batch_id)
    assert Client().get(f"/b/{batch_id}/download").status_code == 302
    wait_until(lambda: time.time() > batch.expires_at.timestamp() + 1, what="the deadline")
    assert Client().get(f"/b/{batch_id}/download").status_code == 410
    assert s3_server.keys(f"batches/{batch_id}/"), "no sweeper yet: the objects are still there"
    processes.start("beat", SWEEP_INTERVAL_SECONDS=1)
    wait_for_batch(batch_id, ("expired",), timeout=60)
    wait_until(lambda: s3_server.keys(f"batches/{batch_id}/") == [], what="the objects to go")


def test_a_file_that_always_crashes_fails_after_bounded_attempts_and_the_rest_completes(processes, s3_server):
    processes.start("worker", "--concurrency", "2", MAX_ATTEMPTS=3, **FAST)
    processes.start("beat", MAX_ATTEMPTS=3, **FAST)
    files = {
        "good-1.jpg": encode(noisy_image((300, 200), seed=1), "JPEG"),
        "kills.jpg": encode(noisy_image((crashing_processor.KILLS_ITS_PROCESS, 200), seed=2), "JPEG"),
        "raises.jpg": encode(noisy_image((crashing_processor.RAISES, 200), seed=3), "JPEG"),
        "good-2.jpg": encode(noisy_image((300, 200), seed=4), "JPEG"),
    }
    batch_id = submit(files, crashing_processor.CrashingWatermark.name)
    batch = wait_for_batch(batch_id, timeout=180)
    assert (batch.status, batch.done_count, batch.failed_count) == (Batch.Status.READY, 2, 2)
    kills = BatchFile.objects.get(batch_id=batch_id, original_name="kills.jpg")
    assert kills.attempts <= 4 and "stopped unexpectedly 3 times" in kills.error
    raises = BatchFile.objects.get(batch_id=batch_id, original_name="raises.jpg")
    assert raises.attempts == 1 and "unexpected error" in raises.error
    archive = download_zip(Client(), batch_id)
    assert sorted(archive.namelist()) == ["errors.txt", "good-1.jpg", "good-2.jpg"]
    report = archive.read("errors.txt").decode()
    assert "kills.jpg" in report and "raises.jpg" in report
