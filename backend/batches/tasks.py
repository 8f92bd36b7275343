"""Celery tasks: thin wrappers that add retries around the plain functions.

The task names ("batches.process_file"…) are the wire format between web and workers
of different versions: they stay as they are.
"""

from __future__ import annotations

import random

from celery import shared_task
from celery.utils.log import get_task_logger
from django.conf import settings
from django.utils.translation import gettext_noop

from . import archive, dispatch, lifecycle, processing, quotas, staging, sweeper, webhooks
from .storage import StorageUnavailable

log = get_task_logger(__name__)


def backoff(retries: int) -> float:
    """Exponential backoff with equal jitter, capped at two minutes: 1–2 s, 2–4 s, 4–8 s …

    Half of each wait is fixed, so the retries always span at least a minute (six
    of them): an S3 restart is waited out, while the other half keeps workers that
    failed together from retrying together.
    """
    ceiling = min(120, 2 ** (retries + 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


@shared_task(name="batches.process_file", bind=True, max_retries=None)
def process_file(self, file_id: str) -> None:  # noqa: ANN001
    try:
        processing.file_process(file_id, worker=self.request.hostname or "")
    except processing.FileBusy as busy:
        # Running elsewhere, or its worker died mid-task: look again once a silent claim counts as stale.
        # A fresh message, so these rounds do not use up the storage retries.
        dispatch.files_publish([busy.file], countdown=settings.STALE_AFTER_SECONDS + 5)
    except StorageUnavailable as exc:
        if self.request.retries >= settings.STORAGE_RETRIES:
            log.error("storage still unavailable for file %s; giving up: %s", file_id, exc)
            _fail_unreachable(file_id)
            return
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc


def _fail_unreachable(file_id: str) -> None:
    current = lifecycle.file_claim(file_id)
    if current is not None:
        lifecycle.file_fail(current, gettext_noop("File storage could not be reached for a long time, so the file "
                                                  "was given up."))


@shared_task(name="batches.build_archive", bind=True, max_retries=None)
def build_archive(self, batch_id: str) -> None:  # noqa: ANN001
    try:
        archive.archive_build(batch_id)
    except StorageUnavailable as exc:
        # No cap: the batch must end; the sweeper would republish it anyway.
        raise self.retry(exc=exc, countdown=backoff(min(self.request.retries, 6))) from exc


@shared_task(name="batches.purge", bind=True, max_retries=5)
def purge(self, batch_id: str) -> None:  # noqa: ANN001
    try:
        sweeper.batch_purge(batch_id)
    except StorageUnavailable as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc


@shared_task(name="batches.send_webhook", bind=True, max_retries=8)
def send_webhook(self, batch_id: str, event: str) -> None:  # noqa: ANN001
    try:
        delivered = webhooks.deliver(batch_id, event)
    except webhooks.WebhookRefused as exc:
        log.warning("webhook %s for batch %s not sent: %s", event, batch_id, exc)
        return
    if not delivered:
        # 1–2, 2–4, 4–8 … seconds: three to six minutes in all before giving up.
        raise self.retry(countdown=backoff(self.request.retries))


@shared_task(name="batches.sweep", ignore_result=True)
def sweep() -> None:
    sweeper.batches_sweep()
    quotas.quotas_sweep()


@shared_task(name="batches.sweep_orphans", ignore_result=True)
def sweep_orphans() -> None:
    sweeper.orphans_sweep()
    staging.uploads_sweep()
