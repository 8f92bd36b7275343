"""A large batch does not make everyone else wait: a small batch's files overtake its later files."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from backend.batches.models import Batch, BatchFile
from tests.helpers import encode, form_fields, noisy_image, wait_for_batch
from tests.support import slow_processor

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not settings.CELERY_BROKER_URL.startswith("redis"),
                                 reason="priorities need the Redis broker (the filesystem broker has none)")]
SLOW = slow_processor.SlowWatermark.name


def submit(count: int, seed: int) -> str:
    files = [SimpleUploadedFile(f"p{i}.jpg", encode(noisy_image((160, 120), seed=seed + i), "JPEG"))
             for i in range(count)]
    response = Client().post("/", {**form_fields(SLOW, text="fair"), "files": files})
    assert response.status_code == 302, response.content.decode()[:1000]
    return response["Location"].strip("/").split("/")[-1]


def test_a_one_file_batch_does_not_wait_for_a_large_batch_to_drain(processes):
    processes.start("worker", "--concurrency", "1", PROCESSOR_MODULES="tests.support.slow_processor",
                    WORKER_QUEUES="images,default")
    large = submit(24, seed=0)
    deadline = time.monotonic() + 60
    while BatchFile.objects.filter(batch_id=large, status="done").count() < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    small = submit(1, seed=100)
    assert wait_for_batch(small, timeout=120).status == "ready"
    done_meanwhile = BatchFile.objects.filter(batch_id=large, status="done").count()
    # One worker process, one file at a time: the small batch waited for the file running and the
    # few the worker had reserved, not for the 20-odd files of the large batch still queued.
    assert done_meanwhile <= 7, f"the large batch finished {done_meanwhile} of 24 files first"
    assert Batch.objects.get(pk=large).status == "processing"
    assert wait_for_batch(large, timeout=180).done_count == 24, "and the large batch still completes"
