"""Publishing work to Celery. A failed publish is logged, never raised: the row
stays queued in Postgres and the sweeper publishes it again."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from uuid import UUID

from django.conf import settings

from backend.config.celery import app

from .models import BatchFile

log = logging.getLogger(__name__)
# Every queue work is published on: image work, video and audio work, batch-level tasks.
QUEUES = ("images", "media", "default")
PROCESS_FILE = "batches.process_file"
BUILD_ARCHIVE = "batches.build_archive"
PURGE = "batches.purge"
SEND_WEBHOOK = "batches.send_webhook"


def file_priority(position: int) -> int:
    """0 (first) to 9: a batch's first files go before any batch's later ones, so a small batch
    submitted behind a large one waits for a few files, not for the whole queue (Redis broker)."""
    return min(9, position // max(1, settings.FAIR_SHARE_FILES))


def files_publish(files: Iterable[BatchFile], countdown: float | None = None) -> int:
    """Publish one task per file on its queue, with its fair-share priority (after `countdown`
    seconds); returns how many went out."""
    sent = 0
    for file in files:
        soft, hard = settings.QUEUE_TIME_LIMITS.get(file.queue, settings.QUEUE_TIME_LIMITS["images"])
        try:
            app.send_task(PROCESS_FILE, args=[str(file.pk)], queue=file.queue, soft_time_limit=soft,
                          time_limit=hard, countdown=countdown, priority=file_priority(file.position))
            sent += 1
        except Exception:
            log.warning("could not publish file %s; the sweeper will retry", file.pk, exc_info=True)
    return sent


def archive_publish(batch_id: UUID | str) -> bool:
    return _send_batch_task(BUILD_ARCHIVE, batch_id)


def purge_publish(batch_id: UUID | str) -> bool:
    """Delete a cancelled batch's objects now; the sweeper does it anyway if this is lost."""
    return _send_batch_task(PURGE, batch_id)


def webhook_publish(batch_id: UUID | str, event: str) -> bool:
    """Send a batch's callback; a lost message means no callback (it is a courtesy, not the record)."""
    return _send_batch_task(SEND_WEBHOOK, batch_id, event)


def _send_batch_task(task: str, batch_id: UUID | str, *args: str) -> bool:
    try:
        app.send_task(task, args=[str(batch_id), *args], queue="default")
        return True
    except Exception:
        log.warning("could not publish %s for batch %s; the sweeper will do it", task, batch_id, exc_info=True)
        return False
