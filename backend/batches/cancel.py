"""Cancelling a batch: nothing more starts, running work stops, every object goes."""

from __future__ import annotations

import logging
from uuid import UUID

from django.db import transaction
from django.utils import timezone

from . import dispatch, webhooks
from .models import Batch, BatchFile

log = logging.getLogger(__name__)


def cancel_batch(batch_id: UUID | str) -> bool:
    """Cancel a batch that is still queued or processing; False if it had already ended.

    Unfinished files become "cancelled", so no worker can claim them and a running
    worker's next progress report fails (it then stops its ffmpeg and uploads
    nothing). The batch's deadline is set to now: downloads are refused at once,
    and the purge task (or, failing that, the sweeper) deletes every object.
    """
    now = timezone.now()
    with transaction.atomic():
        if not Batch.objects.filter(pk=batch_id, status__in=Batch.ACTIVE).update(
            status=Batch.Status.CANCELLED, cancelled_at=now, expires_at=now
        ):
            return False
        BatchFile.objects.filter(
            batch_id=batch_id, status__in=[BatchFile.Status.QUEUED, BatchFile.Status.PROCESSING]
        ).update(status=BatchFile.Status.CANCELLED, finished_at=now)
        transaction.on_commit(lambda: dispatch.enqueue_purge(batch_id))
        webhooks.batch_ended(batch_id, Batch.Status.CANCELLED)
    log.info("batch %s cancelled", batch_id, extra={"event": "batch.cancelled", "batch": str(batch_id)})
    return True
