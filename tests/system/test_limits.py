"""Per-task limits on real worker processes: memory that a file may take, and ffmpeg that dies with its task."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from backend.batches.intake import batch_create
from backend.batches.models import BatchFile
from backend.batches.steps import steps_clean
from backend.batches.uploads import Sniffed, Upload
from tests.helpers import animation, download_zip, form_fields, photo, wait_for_batch
from tests.support import media

pytestmark = pytest.mark.integration
FAST = {"STALE_AFTER_SECONDS": 4, "HEARTBEAT_SECONDS": 1, "SWEEP_INTERVAL_SECONDS": 2}


def children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(child) for child in found]


def peak_memory_mb(pid: int) -> float:
    """The most resident memory the process ever had (VmHWM)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024


def accepted_without_upload_checks(files: dict[str, bytes], steps: list[dict]) -> str:
    """A batch stored as intake would, skipping the upload's own checks: what reaches a worker anyway
    (an older version's batch, a limit lowered since, a check that missed something)."""
    uploads = []
    for name, data in files.items():
        upload = SimpleUploadedFile(name, data)
        with Image.open(upload) as image:  # the header only
            sniffed = Sniffed(Image.MIME[image.format], *image.size)
        uploads.append(Upload(file=upload, name=name, sniffed=sniffed, size=upload.size))
    return str(batch_create(steps_clean(steps), uploads).pk)


def test_a_file_over_the_memory_cap_fails_alone_and_the_worker_stays_under_it(processes, settings):
    cap = 700
    worker = processes.start("worker", "--concurrency", "1", WORKER_TASK_MEMORY_MB=cap, WORKER_MAX_MEMORY_MB=4096)
    huge = Image.new("RGBA", (16000, 6000), (10, 200, 30, 128))  # 96 MP: a few hundred KB as PNG, 384 MB decoded
    buffer = io.BytesIO()
    huge.save(buffer, "PNG")
    del huge
    files = {"huge.png": buffer.getvalue(), "bomb.gif": animation("GIF", 1500, (64, 64)), "fine.jpg": photo()}
    batch = wait_for_batch(accepted_without_upload_checks(files, [{"processor": "colour"}]), timeout=180)
    outcome = dict(BatchFile.objects.filter(batch=batch).values_list("original_name", "error"))
    assert outcome["fine.jpg"] == "" and batch.done_count == 1 and batch.failed_count == 2
    assert outcome["huge.png"] == "Processing this file needs more memory than one file may use, so it was stopped."
    assert outcome["bomb.gif"].startswith("Is animated with 1,500 frames; at most 1,000 are accepted")
    assert download_zip(Client(), str(batch.pk)).namelist() == ["fine.jpg", "errors.txt"]
    pool = children(worker.pid)
    assert pool, processes.log_of(worker)[-3000:]
    assert max(peak_memory_mb(pid) for pid in pool) < cap


@media.needs_ffmpeg
def test_killing_the_pool_process_mid_encode_kills_its_ffmpeg_and_the_retry_cleans_up(processes, tmp_path):
    scratch = tmp_path / "worker-tmp"
    scratch.mkdir()
    worker = processes.start("worker", "--concurrency", "1", TMPDIR=scratch, **FAST)
    processes.start("beat", **FAST)
    clip = media.video(tmp_path / "long.mp4", size="640x360", seconds=8).read_bytes()
    response = Client().post("/", {**form_fields("video_webm", preset="veryslow"),
                                   "files": [SimpleUploadedFile("long.mp4", clip)]})
    assert response.status_code == 302, response.content.decode()[:1500]
    batch_id = response["Location"].strip("/").split("/")[-1]

    def encoders() -> list[int]:
        return [pid for pool in children(worker.pid) for pid in children(pool)
                if "ffmpeg" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]

    deadline = time.monotonic() + 90
    while not (first := encoders()):
        assert time.monotonic() < deadline, processes.log_of(worker)[-3000:]
        time.sleep(0.2)
    (pool,) = [p for p in children(worker.pid) if first[0] in children(p)]
    assert any(p.name.startswith(f"mediaconv-{pool}-") for p in scratch.iterdir())
    os.kill(pool, signal.SIGKILL)

    deadline = time.monotonic() + 10
    while Path(f"/proc/{first[0]}").exists() and not _zombie(first[0]):
        assert time.monotonic() < deadline, "ffmpeg outlived the pool process that ran it"
        time.sleep(0.1)
    # The replacement pool process removed the dead one's folder; the retry then finishes the file.
    batch = wait_for_batch(batch_id, timeout=240)
    assert batch.status == "ready", list(batch.files.values_list("status", "attempts", "error"))
    assert BatchFile.objects.get(batch_id=batch_id).attempts == 2
    assert encoders() == [], "no ffmpeg is left behind"
    assert [p.name for p in scratch.iterdir() if p.name.startswith("mediaconv-")] == []


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True
