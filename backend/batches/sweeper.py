"""The periodic clean-up that keeps every batch moving to an end.

Run by Celery beat every SWEEP_INTERVAL_SECONDS. Each part is safe to run
twice at once: every change is a conditional update.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F
from django.utils.translation import gettext_noop

from . import dispatch, storage
from .clock import db_now
from .lifecycle import Claim, batch_mark_purged, file_fail, file_requeue
from .models import Batch, BatchFile

log = logging.getLogger(__name__)


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    given_up: list[str] = field(default_factory=list)
    archives_requeued: list[str] = field(default_factory=list)


def batches_sweep(now: datetime | None = None) -> SweepReport:
    now = now or db_now()
    report = SweepReport()
    batches_expire_due(now, report)
    files_recover_stale(now, report)
    files_republish_waiting(now, report)
    archives_republish_missing(now, report)
    if any(vars(report).values()):
        log.info("sweep: %s", report)
    return report


def batches_expire_due(now: datetime, report: SweepReport) -> None:
    """Delete every object of each batch past its deadline (or cancelled), then mark it so."""
    for batch in Batch.objects.filter(expires_at__lte=now, expired_at__isnull=True):
        try:
            batch_purge_objects(batch, now)
        except storage.StorageUnavailable:
            log.warning("could not delete %s yet; next sweep tries again", batch.prefix, exc_info=True)
            continue
        report.expired.append(str(batch.pk))


def batch_purge_objects(batch: Batch, now: datetime) -> None:
    """Delete every object of the batch; a cancelled batch stays "cancelled", any other becomes "expired"."""
    storage.delete_prefix(batch.prefix)
    for key in batch.files.exclude(source_key__startswith=batch.prefix).values_list("source_key", flat=True):
        storage.delete_prefix(key.rsplit("/", 1)[0] + "/")  # originals sent in parts: uploads/<id>/
    batch_mark_purged(batch, now)


def batch_expire_now(batch_id: object) -> bool:
    """End a ready or failed batch's download window now and delete its objects (admin action).

    Active batches are left alone: cancel them instead, which also stops their workers.
    False when nothing was expired. If storage is down, the sweeper deletes the objects later.
    """
    now = db_now()
    if not Batch.objects.filter(pk=batch_id, status__in=[Batch.Status.READY, Batch.Status.FAILED],
                                expired_at__isnull=True).update(expires_at=now):
        return False
    try:
        batch_purge_objects(Batch.objects.get(pk=batch_id), now)
    except storage.StorageUnavailable:
        log.warning("could not delete batch %s yet; the sweeper will", batch_id)
    return True


def batch_purge(batch_id: str) -> None:
    """Purge one batch whose deadline has passed (a cancelled one, right after cancelling)."""
    now = db_now()
    batch = Batch.objects.filter(pk=batch_id, expires_at__lte=now).first()
    if batch is not None:
        batch_purge_objects(batch, now)


def files_recover_stale(now: datetime, report: SweepReport) -> None:
    """Files whose worker stopped reporting: back to the queue, or failed after too many tries."""
    stale = now - timedelta(seconds=settings.STALE_AFTER_SECONDS)
    lost = BatchFile.objects.filter(status=BatchFile.Status.PROCESSING, heartbeat_at__lt=stale).select_related("batch")
    for file in lost:
        current = Claim(file, file.attempts)
        if file.attempts >= settings.MAX_ATTEMPTS:
            if file_fail(current, gettext_noop("Processing stopped unexpectedly %(attempts)s times on this file, "
                                               "so it was given up."), attempts=file.attempts):
                report.given_up.append(str(file.pk))
            continue
        if file_requeue(current, now):
            dispatch.files_publish([file])
            report.requeued.append(str(file.pk))


def files_republish_waiting(now: datetime, report: SweepReport) -> None:
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
            dispatch.files_publish([file])
            report.requeued.append(str(file.pk))


def archives_republish_missing(now: datetime, report: SweepReport) -> None:
    """Batches whose files are all finished but whose archive never got built."""
    cutoff = now - timedelta(seconds=settings.STALE_AFTER_SECONDS)
    waiting = Batch.objects.filter(
        status__in=[Batch.Status.PENDING, Batch.Status.PROCESSING],
        file_count=F("done_count") + F("failed_count"),
        finished_at__lt=cutoff,
    )
    for batch in waiting:
        if dispatch.archive_publish(batch.pk):
            report.archives_requeued.append(str(batch.pk))


def orphans_sweep(now: datetime | None = None) -> list[str]:
    """Delete what storage holds under `batches/<id>/` for an id no batch row has, once it is older than
    ORPHAN_GRACE_SECONDS: what a web process killed while storing originals, or storage failing
    mid-intake, left behind. Young prefixes are left alone: their intake may still be running."""
    now = now or db_now()
    cutoff = now - timedelta(seconds=settings.ORPHAN_GRACE_SECONDS)
    prefixes = storage.batch_prefixes()
    ids = {}
    for prefix, newest in prefixes.items():
        try:
            ids[uuid.UUID(prefix.split("/")[1])] = (prefix, newest)
        except ValueError:
            continue  # not a batch's folder; never touched
    known = set(Batch.objects.filter(pk__in=list(ids)).values_list("pk", flat=True))
    deleted = []
    for batch_id, (prefix, newest) in ids.items():
        if batch_id not in known and newest < cutoff:
            storage.delete_prefix(prefix)
            deleted.append(prefix)
    if deleted:
        log.info("deleted %d orphaned batch folders", len(deleted), extra={"event": "orphans.deleted"})
    return deleted
