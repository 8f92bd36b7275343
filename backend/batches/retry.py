"""An operator's second chance for a batch's failed files (admin action "retry failed files")."""

from __future__ import annotations

import logging
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from . import dispatch
from .models import Batch, BatchFile

log = logging.getLogger(__name__)


def retry_failed_files(batch_id: UUID | str) -> int:
    """Queue the failed files of a ready or failed batch again; returns how many.

    The batch goes back to processing and its download closes until the new archive
    is built (with the old results plus whatever the retried files give). An expired
    or cancelled batch has lost its originals, so it is left alone.
    """
    with transaction.atomic():
        batch = Batch.objects.select_for_update().filter(
            pk=batch_id, status__in=[Batch.Status.READY, Batch.Status.FAILED], expired_at__isnull=True
        ).first()
        if batch is None:
            return 0
        failed = list(BatchFile.objects.filter(batch=batch, status=BatchFile.Status.FAILED))
        if not failed:
            return 0
        BatchFile.objects.filter(pk__in=[f.pk for f in failed]).update(
            status=BatchFile.Status.QUEUED, attempts=0, error="", progress=0.0, results=[], started_at=None,
            finished_at=None, queued_at=timezone.now(),
        )
        batch.status = Batch.Status.PROCESSING
        batch.failed_count -= len(failed)
        batch.finished_at = batch.ready_at = batch.expires_at = None
        batch.save(update_fields=["status", "failed_count", "finished_at", "ready_at", "expires_at"])
        transaction.on_commit(lambda: dispatch.enqueue_batch_files(failed))
    log.info("batch %s: %d failed files queued again", batch_id, len(failed),
             extra={"event": "batch.retried", "batch": str(batch_id), "files": len(failed)})
    return len(failed)
