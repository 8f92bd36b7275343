"""The only code that changes a batch's or a file's status.

Every move below is one conditional UPDATE from the states the table allows, so
two processes racing for the same row can never both win (tests/batches/
test_lifecycle.py also checks that no other module writes a status).

    file     move      from                                  to
             claim     queued, or processing gone silent     processing   (counts an attempt)
             release   processing (this claim)               queued       storage hiccup: not an attempt
             requeue   processing gone silent                queued       its worker vanished
             finish    processing (this claim)               done | failed
             cancel    queued, processing                    cancelled
             retry     failed                                queued       an operator's second chance

    batch    start     pending                               processing   its first file was claimed
             close     pending, processing                   ready | failed   archive built / nothing to archive
             cancel    pending, processing                   cancelled
             retry     ready, failed (objects still there)   processing
             expire    any but cancelled, expired            expired      past its deadline: every object deleted

A claim's `attempts` number is its fencing token: only the holder of the current
claim can release or finish the file, so a worker that was too slow (the sweeper
gave the file to another) can never overwrite the outcome of the one that holds it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.db.models.functions import Now
from django.utils.translation import gettext_noop

from backend.processors.base import sentence

from . import dispatch, webhooks
from .clock import db_now
from .models import Batch, BatchFile

log = logging.getLogger(__name__)
B, F_ = Batch.Status, BatchFile.Status


@dataclass(frozen=True)
class Move:
    sources: tuple[str, ...]
    targets: tuple[str, ...]


FILE_MOVES = {
    "claim": Move((F_.QUEUED, F_.PROCESSING), (F_.PROCESSING,)),
    "release": Move((F_.PROCESSING,), (F_.QUEUED,)),
    "requeue": Move((F_.PROCESSING,), (F_.QUEUED,)),
    "finish": Move((F_.PROCESSING,), (F_.DONE, F_.FAILED)),
    "cancel": Move((F_.QUEUED, F_.PROCESSING), (F_.CANCELLED,)),
    "retry": Move((F_.FAILED,), (F_.QUEUED,)),
}
BATCH_MOVES = {
    "start": Move((B.PENDING,), (B.PROCESSING,)),
    "close": Move((B.PENDING, B.PROCESSING), (B.READY, B.FAILED)),
    "cancel": Move((B.PENDING, B.PROCESSING), (B.CANCELLED,)),
    "retry": Move((B.READY, B.FAILED), (B.PROCESSING,)),
    # Past its deadline; a batch an operator retried as the sweeper came by is expired too.
    "expire": Move((B.READY, B.FAILED, B.PENDING, B.PROCESSING), (B.EXPIRED,)),
}


def _move(rows: QuerySet, move: Move, target: str, **fields: object) -> int:
    """Move the rows that are in one of the move's source states; returns how many moved."""
    assert target in move.targets, f"{target} is not a target of {move}"
    return rows.filter(status__in=move.sources).update(status=target, **fields)


# ---------------------------------------------------------------------------
# Files


@dataclass(frozen=True)
class Claim:
    file: BatchFile
    attempt: int

    def rows(self) -> QuerySet:
        """Exactly this claim's row, while the claim holds."""
        return BatchFile.objects.filter(pk=self.file.pk, status=F_.PROCESSING, attempts=self.attempt)


def file_claim(file_id: UUID | str, worker: str = "") -> Claim | None:
    """Take a queued file (or one whose worker went silent) for processing; None when it is not to be had.

    `worker` names the claiming worker (Celery's node name), kept on the row for operators.
    """
    # The database's clock, read inside the statements themselves: no round trip of its own per file.
    stale = Now() - timedelta(seconds=settings.STALE_AFTER_SECONDS)
    claimable = (
        BatchFile.objects.filter(pk=file_id)
        .filter(Q(status=F_.QUEUED) | Q(status=F_.PROCESSING, heartbeat_at__lt=stale))
        .exclude(batch__status__in=[B.EXPIRED, B.CANCELLED])
    )
    if not _move(claimable, FILE_MOVES["claim"], F_.PROCESSING, attempts=F("attempts") + 1, started_at=Now(),
                 heartbeat_at=Now(), progress=0.0, error="", worker=worker[:200]):
        return None
    file = BatchFile.objects.select_related("batch").get(pk=file_id)
    claim = Claim(file, file.attempts)
    if file.attempts > settings.MAX_ATTEMPTS:
        file_fail(claim, gettext_noop("Processing stopped unexpectedly %(attempts)s times on this file, so it was "
                                      "given up. It may be too large or damaged in a way that crashes the converter."),
                  attempts=settings.MAX_ATTEMPTS)
        return None
    if file.batch.status == B.PENDING:  # the batch's first file (a round trip saved on every other one)
        _move(Batch.objects.filter(pk=file.batch_id), BATCH_MOVES["start"], B.PROCESSING, started_at=Now())
    return claim


def file_release(claim: Claim) -> None:
    """Hand a claimed file back to the queue after a transient failure; not counted as an attempt."""
    _move(claim.rows(), FILE_MOVES["release"], F_.QUEUED, attempts=F("attempts") - 1, queued_at=Now())


def file_requeue(claim: Claim, now: datetime) -> bool:
    """Put a file whose worker went silent back in the queue (the caller publishes it again)."""
    return bool(_move(claim.rows(), FILE_MOVES["requeue"], F_.QUEUED, queued_at=now))


def file_fail(claim: Claim, message: str, **params: object) -> bool:
    """Fail the file with a gettext_noop message and its values: stored in English, shown translated."""
    return file_finish(claim, error=sentence(message % params if params else message), error_template=message,
                       error_params=params)


def file_finish(claim: Claim, *, results: list[dict] | None = None, error: str = "",
                timings: dict[str, float] | None = None, preview_key: str = "", error_template: str = "",
                error_params: dict | None = None) -> bool:
    """Record the outcome; the finisher of a batch's last file publishes its archive.

    Returns False when the claim was lost meanwhile (the outcome is then dropped).
    """
    status = F_.FAILED if error else F_.DONE
    counter = "failed_count" if error else "done_count"
    with transaction.atomic():
        if not _move(claim.rows(), FILE_MOVES["finish"], status, results=results or [], error=error, progress=1.0,
                     finished_at=Now(), timings=timings or {}, preview_key=preview_key,
                     error_template=error_template, error_params=error_params or {}):
            return False
        # The row lock taken by this UPDATE serialises concurrent finishers, so
        # exactly one of them sees the last count.
        made = sum(result.get("size", 0) for result in results or [])
        Batch.objects.filter(pk=claim.file.batch_id).update(**{counter: F(counter) + 1},
                                                            output_bytes=F("output_bytes") + made)
        # The database's time comes back with the counts it just wrote (no round trip of its own).
        batch = Batch.objects.annotate(db_time=Now()).get(pk=claim.file.batch_id)
        now = batch.db_time
        if batch.finished_count == batch.file_count:
            Batch.objects.filter(pk=batch.pk).update(finished_at=now)
            transaction.on_commit(lambda: dispatch.archive_publish(batch.pk))
    started = claim.file.started_at or now
    log.info("file %s of batch %s %s%s", claim.file.pk, claim.file.batch_id, status, f": {error}" if error else "",
             extra={"event": "file.finished", "batch": str(claim.file.batch_id), "file": str(claim.file.pk),
                    "processor": claim.file.batch.chain, "outcome": status,
                    "duration": round((now - started).total_seconds(), 3)})
    return True


# ---------------------------------------------------------------------------
# Batches


def batch_close(batch: Batch, status: str, now: datetime, **fields: object) -> bool:
    """End a batch whose files are all finished: ready (with its archive) or failed; opens the download window."""
    expires = now + timedelta(seconds=settings.ARCHIVE_LIFETIME_SECONDS)
    closed = _move(Batch.objects.filter(pk=batch.pk), BATCH_MOVES["close"], status, ready_at=now, expires_at=expires,
                   **fields)
    if closed:
        webhooks.batch_ended(batch.pk, status)
        log.info("batch %s %s; expires %s", batch.pk, status, expires.isoformat(),
                 extra={"event": f"batch.{status}", "batch": str(batch.pk), "outcome": status,
                        "duration": round((now - batch.created_at).total_seconds(), 3)})
    return bool(closed)


def batch_cancel(batch_id: UUID | str) -> bool:
    """Cancel a batch that is still queued or processing; False if it had already ended.

    Unfinished files become "cancelled", so no worker can claim them and a running
    worker's next progress report fails (it then stops its ffmpeg and uploads
    nothing). The batch's deadline is set to now: downloads are refused at once,
    and the purge task (or, failing that, the sweeper) deletes every object.
    """
    now = db_now()
    with transaction.atomic():
        if not _move(Batch.objects.filter(pk=batch_id), BATCH_MOVES["cancel"], B.CANCELLED, cancelled_at=now,
                     expires_at=now):
            return False
        _move(BatchFile.objects.filter(batch_id=batch_id), FILE_MOVES["cancel"], F_.CANCELLED, finished_at=now)
        transaction.on_commit(lambda: dispatch.purge_publish(batch_id))
        webhooks.batch_ended(batch_id, B.CANCELLED)
    log.info("batch %s cancelled", batch_id, extra={"event": "batch.cancelled", "batch": str(batch_id)})
    return True


def batch_retry_failed(batch_id: UUID | str) -> int:
    """Queue the failed files of a ready or failed batch again; returns how many.

    The batch goes back to processing and its download closes until the new archive
    is built (with the old results plus whatever the retried files give). An expired
    or cancelled batch has lost its originals, so it is left alone.
    """
    with transaction.atomic():
        batch = Batch.objects.select_for_update().filter(
            pk=batch_id, status__in=BATCH_MOVES["retry"].sources, expired_at__isnull=True).first()
        if batch is None:
            return 0
        failed = list(BatchFile.objects.filter(batch=batch, status=F_.FAILED))
        if not failed:
            return 0
        _move(BatchFile.objects.filter(pk__in=[f.pk for f in failed]), FILE_MOVES["retry"], F_.QUEUED, attempts=0,
              error="", progress=0.0, results=[], started_at=None, finished_at=None, queued_at=Now())
        _move(Batch.objects.filter(pk=batch.pk), BATCH_MOVES["retry"], B.PROCESSING,
              failed_count=F("failed_count") - len(failed), finished_at=None, ready_at=None, expires_at=None)
        transaction.on_commit(lambda: dispatch.files_publish(failed))
    log.info("batch %s: %d failed files queued again", batch_id, len(failed),
             extra={"event": "batch.retried", "batch": str(batch_id), "files": len(failed)})
    return len(failed)


def batch_mark_purged(batch: Batch, now: datetime) -> None:
    """Record that every object of the batch is gone: "expired", unless it was cancelled (that stays)."""
    if _move(Batch.objects.filter(pk=batch.pk), BATCH_MOVES["expire"], B.EXPIRED):
        webhooks.batch_ended(batch.pk, B.EXPIRED)
    Batch.objects.filter(pk=batch.pk).update(expired_at=now, archive_key="")
    log.info("batch %s purged: every object deleted", batch.pk,
             extra={"event": "batch.expired", "batch": str(batch.pk)})
