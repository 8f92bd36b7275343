"""Running one file through its batch's steps, safely under retries and crashes.

A worker *claims* a file with one conditional UPDATE that also increments
`attempts`; that number is the claim's fencing token, so a worker that lost its
claim (it was too slow, the sweeper gave the file to another) can never
overwrite the outcome of the one that holds it.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from backend.processors import ProcessingError, Processor, Stopped, registry
from backend.processors.base import Progress
from backend.processors.imaging import ImageProcessor, run_image_chain

from . import dispatch, storage
from .models import Batch, BatchFile
from .names import safe_filename, unique_name

log = logging.getLogger(__name__)
PROGRESS_MIN_INTERVAL = 1.0  # seconds between progress writes, which also notice a cancelled batch


@dataclass(frozen=True)
class Claim:
    file: BatchFile
    attempt: int

    def rows(self):  # noqa: ANN201 - a queryset of exactly this claim's row
        return BatchFile.objects.filter(pk=self.file.pk, status=BatchFile.Status.PROCESSING, attempts=self.attempt)


def claim(file_id: str) -> Claim | None:
    """Take a queued file (or one whose worker went silent) for processing."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.STALE_AFTER_SECONDS)
    taken = (
        BatchFile.objects.filter(pk=file_id)
        .filter(Q(status=BatchFile.Status.QUEUED) | Q(status=BatchFile.Status.PROCESSING, heartbeat_at__lt=stale))
        .exclude(batch__status__in=[Batch.Status.EXPIRED, Batch.Status.CANCELLED])
        .update(status=BatchFile.Status.PROCESSING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now,
                progress=0.0, error="")
    )
    if not taken:
        return None
    file = BatchFile.objects.select_related("batch").get(pk=file_id)
    current = Claim(file, file.attempts)
    if file.attempts > settings.MAX_ATTEMPTS:
        finish(current, error=(
            f"Processing stopped unexpectedly {settings.MAX_ATTEMPTS} times on this file, so it was given up. "
            "It may be too large or damaged in a way that crashes the converter."
        ))
        return None
    Batch.objects.filter(pk=file.batch_id, status=Batch.Status.PENDING).update(
        status=Batch.Status.PROCESSING, started_at=now
    )
    return current


def release(current: Claim) -> None:
    """Hand a claimed file back to the queue after a transient failure; not counted as an attempt."""
    current.rows().update(status=BatchFile.Status.QUEUED, attempts=F("attempts") - 1, queued_at=timezone.now())


def finish(current: Claim, *, results: list[dict] | None = None, error: str = "",
           timings: dict[str, float] | None = None) -> bool:
    """Record the outcome; the finisher of a batch's last file queues its archive.

    Returns False when the claim was lost meanwhile (the outcome is then dropped).
    """
    status = BatchFile.Status.FAILED if error else BatchFile.Status.DONE
    counter = "failed_count" if error else "done_count"
    now = timezone.now()
    with transaction.atomic():
        if not current.rows().update(status=status, results=results or [], error=error, progress=1.0, finished_at=now,
                                     timings=timings or {}):
            return False
        # The row lock taken by this UPDATE serialises concurrent finishers, so
        # exactly one of them sees the last count.
        Batch.objects.filter(pk=current.file.batch_id).update(**{counter: F(counter) + 1})
        batch = Batch.objects.get(pk=current.file.batch_id)
        if batch.finished_count == batch.file_count:
            Batch.objects.filter(pk=batch.pk).update(finished_at=now)
            transaction.on_commit(lambda: dispatch.enqueue_archive(batch.pk))
    started = current.file.started_at or now
    log.info("file %s of batch %s %s%s", current.file.pk, current.file.batch_id, status, f": {error}" if error else "",
             extra={"event": "file.finished", "batch": str(current.file.batch_id), "file": str(current.file.pk),
                    "processor": current.file.batch.chain, "outcome": status,
                    "duration": round((now - started).total_seconds(), 3)})
    return True


class Heartbeat:
    """Tells the sweeper the worker is alive while a long step runs, and records progress.

    Both notice when the claim no longer holds (the batch was cancelled, or the
    file was given to another worker): progress() then raises Stopped.
    """

    def __init__(self, current: Claim) -> None:
        self.current = current
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)
        self._last_progress_write = 0.0
        self.lost = False

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(settings.HEARTBEAT_SECONDS):
                if not self.current.rows().update(heartbeat_at=timezone.now()):
                    self.lost = True
        except Exception:  # a missed beat only delays nothing; the sweeper judges staleness
            log.warning("heartbeat failed for file %s", self.current.file.pk, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    def progress(self, fraction: float) -> None:
        now = time.monotonic()
        if not self.lost and now - self._last_progress_write < PROGRESS_MIN_INTERVAL and fraction < 1:
            return
        self._last_progress_write = now
        if self.lost or not self.current.rows().update(progress=max(0.0, min(1.0, fraction)),
                                                       heartbeat_at=timezone.now()):
            self.lost = True
            raise Stopped(f"file {self.current.file.pk} is no longer this worker's to process")


def _chains(steps: list[dict]) -> list[list[tuple[Processor, dict]]]:
    """Group the steps: consecutive image steps share one decode and one encode."""
    groups: list[list[tuple[Processor, dict]]] = []
    previous_chainable = False
    for step in steps:
        processor_cls = registry.get(step["processor"])
        if processor_cls is None:
            raise ProcessingError(f"needs “{step['processor']}”, which is not available on this server")
        # An image step that overrides edit() does its own decoding, so it runs alone.
        chainable = issubclass(processor_cls, ImageProcessor) and processor_cls.edit is ImageProcessor.edit
        if chainable and previous_chainable:
            groups[-1].append((processor_cls(), step.get("options", {})))
        else:
            groups.append([(processor_cls(), step.get("options", {}))])
        previous_chainable = chainable
    return groups


def _local_assets(options: dict, workdir: Path) -> dict:
    """Options with every stored asset (e.g. a logo) replaced by the path of a local copy."""
    resolved = {}
    for name, value in options.items():
        if isinstance(value, dict) and "asset" in value:
            local = workdir / "assets" / value["asset"].rsplit("/", 1)[-1]
            if not local.exists():
                local.parent.mkdir(exist_ok=True)
                storage.download(value["asset"], local)
            value = str(local)
        resolved[name] = value
    return resolved


def run_steps(steps: list[dict], source: Path, workdir: Path, progress: Progress) -> list[Path]:
    """Apply each chain of steps to every output of the one before."""
    groups = _chains([{**step, "options": _local_assets(step.get("options", {}), workdir)} for step in steps])
    inputs = [source]
    for index, group in enumerate(groups):
        target_dir = workdir / f"step{index}"
        target_dir.mkdir()

        def group_progress(fraction: float, _i: int = index) -> None:
            progress((_i + fraction) / len(groups))

        outputs: list[Path] = []
        for item in inputs:
            if len(group) > 1 or isinstance(group[0][0], ImageProcessor):
                produced = run_image_chain(group, item, target_dir, group_progress)
            else:
                processor, options = group[0]
                produced = processor.edit(item, target_dir, options, group_progress)
            if not produced:
                raise ProcessingError(f"produced no output in step {index + 1}")
            outputs.extend(produced)
        inputs = outputs
    return inputs


class Busy(Exception):
    """The file is being processed under another claim; try again once that claim may have gone stale."""

    @property
    def queue(self) -> str:
        return self.args[0]


def process_file(file_id: str) -> None:
    """Claim, download, process, upload, finish. Storage errors propagate (as
    StorageUnavailable, after releasing the claim) so the caller can retry;
    everything wrong with the file itself fails that file alone.

    Raises Busy when another claim holds the file: a redelivered message whose
    first worker died keeps the file until its heartbeat goes stale, and the
    caller retries then (so recovery does not wait for the sweeper).
    """
    current = claim(file_id)
    if current is None:
        queue = BatchFile.objects.filter(pk=file_id, status=BatchFile.Status.PROCESSING).values_list(
            "queue", flat=True).first()
        if queue is not None:
            raise Busy(queue)
        log.info("file %s not claimable (finished, cancelled or expired); skipped", file_id)
        return
    file = current.file
    timings: dict[str, float] = {}  # seconds per stage, for `make bench` and the operator's statistics
    with tempfile.TemporaryDirectory(prefix="mediaconv-") as tmp, Heartbeat(current) as heartbeat:
        workdir = Path(tmp)
        (workdir / "in").mkdir()
        source = workdir / "in" / file.safe_name
        try:
            with _timed(timings, "download"):
                storage.download(file.source_key, source)
        except storage.MissingObject:
            finish(current, error="The uploaded original is no longer in storage.")
            return
        except storage.StorageUnavailable:
            release(current)
            raise
        try:
            with _timed(timings, "process"):
                outputs = run_steps(file.batch.steps, source, workdir, heartbeat.progress)
            heartbeat.progress(1.0)  # raises Stopped if the batch was cancelled meanwhile: nothing to upload
        except Stopped:
            log.info("file %s stopped: its batch was cancelled or another worker holds it", file.pk)
            return
        except storage.StorageUnavailable:  # an asset (e.g. a logo) could not be fetched
            release(current)
            raise
        except storage.MissingObject:
            finish(current, error="A file this processing needs (e.g. the logo) is no longer in storage.")
            return
        except ProcessingError as exc:
            finish(current, error=_sentence(str(exc)))
            return
        except SoftTimeLimitExceeded:
            finish(current, error="Processing took longer than the time limit for this kind of file, "
                                  "so it was stopped.")
            return
        except Exception:
            log.exception("processor crashed on file %s", file.pk)
            finish(current, error="This file could not be processed because of an unexpected error in the converter.")
            return
        try:
            with _timed(timings, "upload"):
                results = _upload_results(file, outputs)
        except storage.StorageUnavailable:
            release(current)
            raise
    if not finish(current, results=results, timings=timings):
        # Cancelled or taken over while uploading: these results belong to no one.
        try:
            storage.delete_keys([result["key"] for result in results])
        except storage.StorageUnavailable:
            log.warning("could not delete the orphaned results of file %s; expiry will", file.pk)


@contextlib.contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(time.perf_counter() - started, 4)


def _upload_results(file: BatchFile, outputs: list[Path]) -> list[dict]:
    results, taken = [], set()
    for output in outputs:
        name = unique_name(safe_filename(output.name), taken)
        key = f"{file.batch.prefix}out/{file.pk}/{name}"
        with open(output, "rb") as handle:
            size = storage.save(key, handle)
        results.append({"key": key, "name": name, "size": size})
    return results


def _sentence(text: str) -> str:
    """Processor messages read as predicates ("could not be read: …"); store them as sentences."""
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?", ")")) else text + "."
