"""The periodic clean-up that keeps every batch moving to an end.

Run by Celery beat every SWEEP_INTERVAL_SECONDS. Each part is safe to run
twice at once: every change is a conditional update.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from . import dispatch, storage, webhooks
from .models import Batch, BatchFile
from .processing import Claim, finish

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)
    archives_requeued: list[str] = field(default_factory=list)


def sweep(now: datetime | None = None) -> SweepReport:
    now = now or timezone.now()
    report = SweepReport()
    expire_due_batches(now, report)
    recover_stale_files(now, report)
    republish_waiting_files(now, report)
    republish_missing_archives(now, report)
    if any(vars(report).values()):
        log.info("sweep: %s", report)
    return report


def expire_due_batches(now: datetime, report: SweepReport) -> None:
    """Delete every object of each batch past its deadline (or cancelled), then mark it so."""
    for batch in Batch.objects.filter(expires_at__lte=now, expired_at__isnull=True):
        try:
            purge(batch, now)
        except storage.StorageUnavailable:
            log.warning("could not delete %s yet; next sweep tries again", batch.prefix, exc_info=True)
            continue
        report.expired.append(str(batch.pk))


def purge(batch: Batch, now: datetime) -> None:
    """Delete every object of the batch; a cancelled batch stays "cancelled", any other becomes "expired"."""
    storage.delete_prefix(batch.prefix)
    if Batch.objects.filter(pk=batch.pk).exclude(status=Batch.Status.CANCELLED).update(status=Batch.Status.EXPIRED):
        webhooks.batch_ended(batch.pk, Batch.Status.EXPIRED)
    Batch.objects.filter(pk=batch.pk).update(expired_at=now, archive_key="")
    log.info("batch %s purged: every object deleted", batch.pk,
             extra={"event": "batch.expired", "batch": str(batch.pk)})


def expire_now(batch_id: object) -> bool:
    """End a ready or failed batch's download window now and delete its objects (admin action).

    Active batches are left alone: cancel them instead, which also stops their workers.
    False when nothing was expired. If storage is down, the sweeper deletes the objects later.
    """
    now = timezone.now()
    if not Batch.objects.filter(pk=batch_id, status__in=[Batch.Status.READY, Batch.Status.FAILED],
                                expired_at__isnull=True).update(expires_at=now):
        return False
    try:
        purge(Batch.objects.get(pk=batch_id), now)
    except storage.StorageUnavailable:
        log.warning("could not delete batch %s yet; the sweeper will", batch_id)
    return True


def purge_now(batch_id: str) -> None:
    """Purge one batch whose deadline has passed (a cancelled one, right after cancelling)."""
    now = timezone.now()
    batch = Batch.objects.filter(pk=batch_id, expires_at__lte=now).first()
    if batch is not None:
        purge(batch, now)


def recover_stale_files(now: datetime, report: SweepReport) -> None:
    """Files whose worker stopped reporting: back to the queue, or failed after too many tries."""
    stale = now - timedelta(seconds=settings.STALE_AFTER_SECONDS)
    lost = BatchFile.objects.filter(status=BatchFile.Status.PROCESSING, heartbeat_at__lt=stale).select_related("batch")
    for file in lost:
        current = Claim(file, file.attempts)
        if file.attempts >= settings.MAX_ATTEMPTS:
            if finish(current, error=(
                f"Processing stopped unexpectedly {file.attempts} times on this file, so it was given up."
            )):
                report.given_up.append(str(file.pk))
            continue
        if current.rows().update(status=BatchFile.Status.QUEUED, queued_at=now):
            dispatch.enqueue_files([file.pk], file.queue)
            report.requeued.append(str(file.pk))


def republish_waiting_files(now: datetime, report: SweepReport) -> None:
    """Queued files nobody started for a long time: their message was probably lost (broker restart)."""
    cutoff = now - timedelta(seconds=settings.REQUEUE_AFTER_SECONDS)
    waiting = BatchFile.objects.filter(status=BatchFile.Status.QUEUED, queued_at__lt=cutoff).exclude(
        batch__status__in=[Batch.Status.EXPIRED, Batch.Status.CANCELLED]
    ).select_related("batch")
    for file in waiting:
        # A duplicate message is harmless: only one claim can succeed.
        if BatchFile.objects.filter(pk=file.pk, status=BatchFile.Status.QUEUED, queued_at=file.queued_at).update(
            queued_at=now
        ):
            dispatch.enqueue_files([file.pk], file.queue)
            report.requeued.append(str(file.pk))


def republish_missing_archives(now: datetime, report: SweepReport) -> None:
    """Batches whose files are all finished but whose archive never got built."""
    cutoff = now - timedelta(seconds=settings.STALE_AFTER_SECONDS)
    waiting = Batch.objects.filter(
        status__in=[Batch.Status.PENDING, Batch.Status.PROCESSING],
        file_count=F("done_count") + F("failed_count"),
        finished_at__lt=cutoff,
    )
    for batch in waiting:
        if dispatch.enqueue_archive(batch.pk):
            report.archives_requeued.append(str(batch.pk))
