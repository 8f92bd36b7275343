"""docker-compose.yml, built and run for real under Podman: every service healthy, photographs and a
video through nginx, the ZIP through the presigned link, three image workers sharing a batch, a
worker killed mid-batch losing nothing, and `down -v` leaving nothing behind."""

from __future__ import annotations

import io
import time
import uuid
from collections.abc import Iterator

import pytest
from PIL import Image

from tests.compose import client
from tests.compose.stack import Podman, Project
from tests.helpers import ROOT
from tests.support.media import probe, stream, video
from tests.support.s3server import free_port

pytestmark = [pytest.mark.compose, pytest.mark.timeout(1800)]
WEB_READY = [{"processor": "web_ready", "options": {}}]
WATERMARK = [{"processor": "watermark_text", "options": {"text": "© Compose test", "size": 5}}]
SERVICES = {"postgres", "redis", "minio", "web", "worker-images", "worker-media", "beat", "flower", "nginx"}


@pytest.fixture(scope="module")
def stack(podman: Podman, image_variables: dict[str, str]) -> Iterator[Project]:
    ports = {name: str(free_port()) for name in ("NGINX_PORT", "WEB_PORT", "S3_CONSOLE_PORT", "FLOWER_PORT")}
    # Lost work is noticed within seconds rather than minutes, so the kill test does not wait long.
    # A message that never reached the broker (Podman's DNS answering late) is published again soon, too.
    timing = {"SWEEP_INTERVAL_SECONDS": "5", "STALE_AFTER_SECONDS": "20", "HEARTBEAT_SECONDS": "3",
              "REQUEUE_AFTER_SECONDS": "15"}
    project = Project(podman, f"mcdev{uuid.uuid4().hex[:6]}", ROOT / "docker-compose.yml",
                      {**image_variables, **ports, **timing})
    project.base_url = f"http://localhost:{ports['NGINX_PORT']}"
    with project.running():
        yield project


def test_every_service_turns_healthy(stack):
    states = stack.wait_healthy()
    assert {stack.service_of(name) for name in states} == SERVICES, states


def test_photographs_and_a_video_go_through_nginx_and_come_back_in_the_zip(stack, tmp_path):
    files = client.ten_photographs()
    files["clip.mov"] = video(tmp_path / "clip.mov", size="640x360", seconds=2).read_bytes()
    created = client.post_batch(stack.base_url, files, WEB_READY)
    assert created["status_url"].startswith(stack.base_url), "links name the address the client used"

    state = client.follow(created["status_url"])
    assert (state["status"], state["done_count"], state["failed_count"]) == ("ready", 11, 0), state["files"]
    archive, served_from = client.fetch_zip(state["download_url"])
    assert served_from.startswith(f"{stack.base_url}/mediaconv/"), "nginx serves the presigned link"

    names = archive.namelist()
    assert sorted(n.rsplit(".", 1)[1] for n in names) == ["mp4"] + ["webp"] * 10, names
    for name in names:
        if name.endswith(".webp"):
            with Image.open(io.BytesIO(archive.read(name))) as image:
                assert image.format == "WEBP" and min(image.size) >= 300
    report = probe(client.extract(archive, next(n for n in names if n.endswith(".mp4")), tmp_path))
    assert stream(report, "video")["codec_name"] == "h264" and stream(report, "audio")["codec_name"] == "aac"
    # The phone's photograph is stood upright (EXIF orientation 6): the landscape coffee cup turns portrait.
    coffee = next(n for n in names if n.startswith("coffee-phone"))
    with Image.open(io.BytesIO(archive.read(coffee))) as image:
        assert image.height > image.width


def test_a_file_sent_in_parts_goes_through_nginx_to_storage(stack, tmp_path):
    """The documented client (docs/examples/upload_in_parts.py): parts PUT to presigned URLs that nginx
    passes to MinIO under the site's own address, completed, and made into a batch."""
    import importlib.util

    import requests

    spec = importlib.util.spec_from_file_location("upload_in_parts", ROOT / "docs/examples/upload_in_parts.py")
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    clip = video(tmp_path / "clip.mp4", size="1280x720", seconds=60)  # several parts of 8 MiB
    parts = requests.post(f"{stack.base_url}/api/v1/uploads", json={"name": "x", "size": clip.stat().st_size},
                          timeout=30).json()
    url = requests.post(parts["parts_url"], json={"parts": [1]}, timeout=30).json()["urls"]["1"]
    assert url.startswith(f"{stack.base_url}/mediaconv/"), "part URLs name the site; nginx passes them to S3"
    upload_id = example.upload_in_parts(stack.base_url, clip)
    created = requests.post(f"{stack.base_url}/api/v1/batches", timeout=60, data={
        "uploads": upload_id, "processor": "media_trim", "options": '{"duration": 3}'})
    assert created.status_code == 201, client.answer_summary(created)
    state = client.follow(created.json()["status_url"])
    assert state["status"] == "ready", state["files"]
    archive, _ = client.fetch_zip(state["download_url"])
    report = probe(client.extract(archive, "clip.mp4", tmp_path))
    assert abs(float(report["format"]["duration"]) - 3) < 1.5


def workers_of(stack: Project, batch_id: str) -> set[str]:
    """The Celery node names that processed the batch's files."""
    return {row[0] for row in stack.sql(f"SELECT DISTINCT worker FROM batches_batchfile WHERE batch_id = '{batch_id}'")}


def test_three_image_workers_share_one_batch(stack):
    stack.up("--scale", "worker-images=3", "--no-recreate")
    stack.wait_healthy()
    containers = stack.containers("worker-images")
    assert len(containers) == 3
    hosts = {stack.podman.inspect(name)["Config"]["Hostname"] for name in containers}

    created = client.post_batch(stack.base_url, client.large_photographs(12), WATERMARK)
    state = client.follow(created["status_url"])
    assert (state["status"], state["done_count"]) == ("ready", 12), state["files"]
    used = workers_of(stack, created["id"])
    assert len(used) > 1, f"one container did all the work: {used}"
    assert {worker.split("@", 1)[1] for worker in used} <= hosts, (used, hosts)
    archive, _ = client.fetch_zip(state["download_url"])
    assert len(archive.namelist()) == 12


def test_a_worker_killed_mid_batch_loses_nothing(stack):
    created = client.post_batch(stack.base_url, client.large_photographs(18), WATERMARK)
    batch_id = created["id"]
    # Wait until a file is being processed, then kill the container that holds it.
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline:
        rows = stack.sql(f"SELECT id, worker FROM batches_batchfile WHERE batch_id = '{batch_id}' "
                         "AND status = 'processing' AND worker <> ''")
        if rows:
            victim = rows[0]
        else:
            time.sleep(0.2)
    assert victim, "no file was ever processing"
    file_id, worker = victim
    host = worker.split("@", 1)[1]
    container = next(name for name in stack.containers("worker-images")
                     if stack.podman.inspect(name)["Config"]["Hostname"] == host)
    stack.podman("kill", "--signal", "KILL", container)

    state = client.follow(created["status_url"], timeout=300)
    assert (state["status"], state["done_count"], state["failed_count"]) == ("ready", 18, 0), state["files"]
    ((attempts, again_by),) = stack.sql(f"SELECT attempts, worker FROM batches_batchfile WHERE id = '{file_id}'")
    assert int(attempts) >= 2 and again_by != worker, "the killed worker's file was done again elsewhere"
    archive, _ = client.fetch_zip(state["download_url"])
    assert len(archive.namelist()) == 18 and "errors.txt" not in archive.namelist()


def test_down_removes_every_container_and_volume(stack):
    stack.down()
    assert stack.leftovers() == {"containers": [], "volumes": [], "networks": []}
