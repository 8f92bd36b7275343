"""What a worker process runs with: jemalloc preloaded and one kept database connection per pool process."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.helpers import encode, form_fields, noisy_image, wait_for_batch
from workers.__main__ import JEMALLOC_PATHS, worker_env

pytestmark = pytest.mark.integration
JEMALLOC = next((path for path in JEMALLOC_PATHS if Path(path).exists()), None)
needs_jemalloc = pytest.mark.skipif(JEMALLOC is None, reason="libjemalloc2 is not installed (.ci/run installs it)")


def pool_process(worker_pid: int, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.2)
    raise AssertionError("the worker started no pool process")


def loaded_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def environment(pid: int) -> dict[str, str]:
    pairs = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(pair.decode().split("=", 1) for pair in pairs if b"=" in pair)


@needs_jemalloc
def test_a_worker_runs_on_jemalloc_and_keeps_its_database_connection(processes):
    worker = processes.start("worker", "--concurrency", "1", WORKER_QUEUES="images,default")
    pool = pool_process(worker.pid)
    assert JEMALLOC in loaded_libraries(pool), "the pool process allocates through jemalloc"
    assert environment(pool)["DATABASE_CONN_MAX_AGE"] == "600"

    files = [SimpleUploadedFile(f"p{i}.jpg", encode(noisy_image((320, 240), seed=i), "JPEG")) for i in range(3)]
    response = Client().post("/", {**form_fields("watermark_text", text="jemalloc"), "files": files})
    assert response.status_code == 302
    batch = wait_for_batch(response["Location"].strip("/").split("/")[-1], timeout=120)
    assert (batch.status, batch.done_count) == ("ready", 3), processes.logs()


@needs_jemalloc
def test_glibc_can_be_chosen(processes):
    worker = processes.start("worker", "--concurrency", "1", WORKER_QUEUES="images,default", WORKER_MALLOC="glibc")
    assert "jemalloc" not in loaded_libraries(pool_process(worker.pid))


def test_the_worker_environment_keeps_what_the_site_set():
    env = worker_env({"LD_PRELOAD": "/opt/other.so", "DATABASE_CONN_MAX_AGE": "30", "WORKER_MALLOC": "jemalloc"})
    assert env["DATABASE_CONN_MAX_AGE"] == "30"
    assert env["LD_PRELOAD"].startswith("/opt/other.so")
    assert worker_env({"WORKER_MALLOC": "glibc"}).get("LD_PRELOAD") is None
