"""Publishing work to Celery. A failed publish is logged, never raised: the row
stays queued in Postgres and the sweeper publishes it again."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from uuid import UUID

from django.conf import settings

from backend.config.celery import app

log = logging.getLogger(__name__)
# Every queue work is published on: image work, video and audio work, batch-level tasks.
QUEUES = ("images", "media", "default")
PROCESS_FILE = "batches.process_file"
BUILD_ARCHIVE = "batches.build_archive"
PURGE = "batches.purge"
SEND_WEBHOOK = "batches.send_webhook"


def files_publish(file_ids: Iterable[UUID | str], queue: str, countdown: float | None = None) -> int:
    """Publish one task per file on `queue` (after `countdown` seconds); returns how many went out."""
    soft, hard = settings.QUEUE_TIME_LIMITS.get(queue, settings.QUEUE_TIME_LIMITS["images"])
    sent = 0
    for file_id in file_ids:
        try:
            app.send_task(PROCESS_FILE, args=[str(file_id)], queue=queue, soft_time_limit=soft, time_limit=hard,
                          countdown=countdown)
            sent += 1
        except Exception:
            log.warning("could not publish file %s; the sweeper will retry", file_id, exc_info=True)
    return sent


def batch_files_publish(files: Iterable) -> int:
    """Publish each file (a BatchFile) on its own queue: images and video of one batch go to different workers."""
    by_queue: dict[str, list] = {}
    for file in files:
        by_queue.setdefault(file.queue, []).append(file.pk)
    return sum(files_publish(ids, queue) for queue, ids in by_queue.items())


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
