"""Running one file through its batch's steps, safely under retries and crashes.

The file's status moves only through `lifecycle` (claim, release, finish); this
module fetches, runs the engine, uploads, and keeps the claim alive meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection
from django.db.models.functions import Now
from django.utils.translation import gettext_noop

from backend.processors import ProcessingError, Stopped
from backend.processors.chain import run_steps
from backend.processors.imaging import preview_make

from . import storage
from .assets import assets_fetch
from .lifecycle import Claim, file_claim, file_fail, file_finish, file_release
from .models import BatchFile
from .names import safe_filename, unique_name
from .selectors import chain_seconds_per_pixel

log = logging.getLogger(__name__)
PROGRESS_MIN_INTERVAL = 1.0  # seconds between progress writes, which also notice a cancelled batch
PACE_INTERVAL = 1.0  # seconds between the heartbeat thread's looks at the clock
PACED_MAX = 0.95  # the clock alone never claims more: the processor's own word finishes the bar
WORKDIR_PREFIX = "mediaconv-"  # then the pool process's id: mediaconv-<pid>-<random>


def workdirs_clean() -> list[Path]:
    """Delete the work folders that pool processes left when they died mid-task (killed, out of memory).

    Run when a pool process starts. A folder belongs to the process whose id it carries; it is
    kept while that process lives (another worker on this host), and removed otherwise: a new
    process that got a dead one's id has no folder of its own yet.
    """
    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        pid = path.name.removeprefix(WORKDIR_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or not path.is_dir() or (int(pid) != os.getpid() and _alive(int(pid))):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        log.info("removed %d work folders of pool processes that died", len(removed))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def task_memory_limit() -> None:
    """Cap this pool process's address space, so a file that needs too much memory fails alone
    (MemoryError) instead of pushing the host into the kernel's OOM killer."""
    limit = settings.WORKER_TASK_MEMORY_MB * 1024 * 1024
    if limit > 0:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))


class Heartbeat:
    """Tells the sweeper the worker is alive while a long step runs, and records progress.

    Both notice when the claim no longer holds (the batch was cancelled, or the
    file was given to another worker): progress() then raises Stopped.
    """

    def __init__(self, current: Claim, expected_seconds: float | None = None) -> None:
        self.current = current
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._last_progress_write = time.monotonic()  # the claim itself just wrote progress 0 and a heartbeat
        self._reported = 0.0  # the highest fraction written
        self._started = time.monotonic()
        # How long the work should take, from the chain's recent pace: between the processor's own
        # reports (an encode reports nothing until it ends) the bar moves on that clock, up to PACED_MAX.
        self.expected_seconds = expected_seconds
        self.lost = False

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        last_beat = time.monotonic()
        try:
            while not self._stop.wait(PACE_INTERVAL):
                paced = self._paced()
                if paced is not None or time.monotonic() - last_beat >= settings.HEARTBEAT_SECONDS:
                    fields = {"heartbeat_at": Now(), **({"progress": paced} if paced is not None else {})}
                    if not self.current.rows().update(**fields):
                        self.lost = True
                    last_beat = time.monotonic()
                    if paced is not None:
                        self._reported = paced
        except Exception:  # a missed beat only delays nothing; the sweeper judges staleness
            log.warning("heartbeat failed for file %s", self.current.file.pk, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    def _paced(self) -> float | None:
        """The fraction the clock says the work has reached, when it is well past the last one written."""
        if not self.expected_seconds or self.lost:
            return None
        paced = min(PACED_MAX, (time.monotonic() - self._started) / self.expected_seconds)
        return round(paced, 3) if paced >= self._reported + 0.02 else None

    def progress(self, fraction: float) -> None:
        """Record progress at most once a second; a file done within a second writes none (its
        finish records 1.0, and finds out itself if the claim was lost)."""
        fraction = max(fraction, self._reported) if fraction < 1 else fraction  # never backwards
        self._reported = max(self._reported, fraction)
        now = time.monotonic()
        if not self.lost and now - self._last_progress_write < PROGRESS_MIN_INTERVAL:
            return
        self._last_progress_write = now
        if self.lost or not self.current.rows().update(progress=max(0.0, min(1.0, fraction)),
                                                       heartbeat_at=Now()):
            self.lost = True
            raise Stopped(f"file {self.current.file.pk} is no longer this worker's to process")


_chain_rates: dict[str, tuple[float, float | None]] = {}  # chain → (when read, seconds per pixel)
RATE_MAX_AGE = 60.0


def expected_seconds(file: BatchFile) -> float | None:
    """How long processing this image should take, from its pixels and its chain's recent pace
    (read at most once a minute per chain and worker process)."""
    if not file.pixels:
        return None  # video and audio: ffmpeg reports its own progress
    read_at, rate = _chain_rates.get(file.batch.chain, (0.0, None))
    if time.monotonic() - read_at > RATE_MAX_AGE:
        rate = chain_seconds_per_pixel(file.batch.chain)
        _chain_rates[file.batch.chain] = (time.monotonic(), rate)
    return rate * file.pixels if rate else None


class FileBusy(Exception):
    """The file is being processed under another claim; try again once that claim may have gone stale."""

    @property
    def file(self) -> BatchFile:
        return self.args[0]

    @property
    def queue(self) -> str:
        return self.file.queue


def file_process(file_id: str, worker: str = "") -> None:
    """Claim, download, process, upload, finish. Storage errors propagate (as
    StorageUnavailable, after releasing the claim) so the caller can retry;
    everything wrong with the file itself fails that file alone.

    Raises FileBusy when another claim holds the file: a redelivered message whose
    first worker died keeps the file until its heartbeat goes stale, and the
    caller retries then (so recovery does not wait for the sweeper).
    """
    current = file_claim(file_id, worker)
    if current is None:
        held = BatchFile.objects.filter(pk=file_id, status=BatchFile.Status.PROCESSING).only(
            "pk", "queue", "position").first()
        if held is not None:
            raise FileBusy(held)
        log.info("file %s not claimable (finished, cancelled or expired); skipped", file_id)
        return
    file = current.file
    timings: dict[str, float] = {}  # seconds per stage, for `make bench` and the operator's statistics
    with tempfile.TemporaryDirectory(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-") as tmp, \
            Heartbeat(current, expected_seconds(file)) as heartbeat:
        workdir = Path(tmp)
        (workdir / "in").mkdir()
        source = workdir / "in" / file.safe_name
        try:
            with _timed(timings, "download"):
                storage.download(file.source_key, source)
        except storage.MissingObject:
            file_fail(current, gettext_noop("The uploaded original is no longer in storage."))
            return
        except storage.StorageUnavailable:
            file_release(current)
            raise
        try:
            with _timed(timings, "process"):
                steps = [{**step, "options": assets_fetch(step.get("options", {}), workdir)}
                         for step in file.batch.steps]
                outputs = run_steps(steps, source, workdir, heartbeat.progress)
            heartbeat.progress(1.0)  # a long file: raises Stopped if the batch was cancelled meanwhile
        except Stopped:
            log.info("file %s stopped: its batch was cancelled or another worker holds it", file.pk)
            return
        except storage.StorageUnavailable:  # an asset (e.g. a logo) could not be fetched
            file_release(current)
            raise
        except storage.MissingObject:
            file_fail(current, gettext_noop("A file this processing needs (e.g. the logo) is no longer in storage."))
            return
        except ProcessingError as exc:
            file_fail(current, exc.template, **exc.params)
            return
        except MemoryError:
            file_fail(current, gettext_noop("Processing this file needs more memory than one file may use, "
                                            "so it was stopped."))
            return
        except SoftTimeLimitExceeded:
            file_fail(current, gettext_noop("Processing took longer than the time limit for this kind of file, "
                                            "so it was stopped."))
            return
        except Exception:
            log.exception("processor crashed on file %s", file.pk)
            file_fail(current, gettext_noop("This file could not be processed because of an unexpected error "
                                            "in the converter."))
            return
        problem = output_budget_problem(file, outputs)
        if problem is not None:
            file_fail(current, problem.template, **problem.params)
            return
        try:
            with _timed(timings, "upload"):
                results = _upload_results(file, outputs, workdir)
                preview_key = _upload_preview(file, outputs, workdir)
        except storage.StorageUnavailable:
            file_release(current)
            raise
    if not file_finish(current, results=results, timings=timings, preview_key=preview_key):
        # The claim was lost while uploading. Cancelled: these results belong to no one. Taken over by a
        # newer claim: its worker writes the same keys (the same results, a task being repeatable), which
        # deleting here could remove from under its finished row; they stay, and go with the batch.
        if not BatchFile.objects.filter(pk=file.pk, status=BatchFile.Status.CANCELLED).exists():
            log.info("file %s was taken over while its results were uploaded; they are left to the new claim",
                     file.pk)
            return
        try:
            storage.delete_keys([result["key"] for result in results] + [preview_key] * bool(preview_key))
        except storage.StorageUnavailable:
            log.warning("could not delete the orphaned results of file %s; expiry will", file.pk)


def output_budget_problem(file: BatchFile, outputs: list[Path]) -> ProcessingError | None:
    """Why these results may not be kept, or None: a result may be at most RESULT_MAX_FACTOR times its
    original (never less than RESULT_FLOOR_BYTES), and a batch's results add up to at most
    BATCH_MAX_OUTPUT_BYTES. A few bytes must not become gigabytes in storage and in the ZIP."""
    sizes = [output.stat().st_size for output in outputs]
    allowed = max(settings.RESULT_FLOOR_BYTES, settings.RESULT_MAX_FACTOR * file.size)
    if sizes and max(sizes) > allowed:
        return ProcessingError(gettext_noop("would make a result of %(size)s from %(original)s; a result may be at "
                                            "most %(limit)s"), size=_megabytes(max(sizes)),
                               original=_megabytes(file.size), limit=_megabytes(allowed))
    # The batch's total as the claim read it (no round trip per file): files finishing meanwhile can take
    # it past the limit by at most what the workers have in hand at once.
    if file.batch.output_bytes + sum(sizes) > settings.BATCH_MAX_OUTPUT_BYTES:
        return ProcessingError(gettext_noop("would take the batch's results past %(limit)s in all"),
                               limit=_megabytes(settings.BATCH_MAX_OUTPUT_BYTES))
    return None


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


@contextlib.contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(time.perf_counter() - started, 4)


def result_name(output: Path, workdir: Path) -> str:
    """The result's name in the archive: its path under its step's folder, each part made safe, so a
    processor that makes a folder (HLS: a playlist beside its segments) delivers that folder."""
    parts = output.relative_to(workdir).parts[1:] or (output.name,)  # without the "stepN" folder
    return "/".join(safe_filename(part) for part in parts)


def _upload_results(file: BatchFile, outputs: list[Path], workdir: Path) -> list[dict]:
    results, taken = [], set()
    for output in outputs:
        name = unique_name(result_name(output, workdir), taken)
        key = f"{file.batch.prefix}out/{file.pk}/{name}"
        with open(output, "rb") as handle:
            size = storage.save(key, handle)
        results.append({"key": key, "name": name, "size": size})
    return results


def _upload_preview(file: BatchFile, outputs: list[Path], workdir: Path) -> str:
    """A small WebP of the first result that is an image, for the waiting page; its key, or "" (none)."""
    for output in outputs:
        preview = preview_make(output, workdir / "preview.webp")
        if preview is not None:
            key = f"{file.batch.prefix}preview/{file.pk}.webp"
            with open(preview, "rb") as handle:
                storage.save(key, handle)
            return key
    return ""
