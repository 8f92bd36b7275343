"""The Celery application shared by web (to publish) and workers (to run)."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")

app = Celery("mediaconv")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    # A task is acknowledged only when it has finished, and handed back if its
    # worker process dies, so a crash never loses a file.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,  # Postgres is the source of truth for job state
    task_default_queue="default",
    broker_connection_retry_on_startup=True,
    broker_connection_max_retries=None,
    worker_hijack_root_logger=False,
    worker_send_task_events=True,
    # A pool process whose memory passed this (KiB) is replaced after its current task: resident
    # memory grows with native allocations over hundreds of images (see `make bench`).
    worker_max_memory_per_child=int(os.environ.get("WORKER_MAX_MEMORY_MB") or 512) * 1024,
    task_send_sent_event=True,
    # Publishing gives up fast: the sweeper republishes whatever did not get through.
    task_publish_retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
)
app.autodiscover_tasks(["backend.batches"])


@app.on_after_finalize.connect
def _schedule_sweeper(sender: Celery, **_: object) -> None:
    from django.conf import settings

    interval = float(settings.SWEEP_INTERVAL_SECONDS)
    # A sweep not started within one interval is dropped: the next one does its work.
    sender.add_periodic_task(
        interval, sender.signature("batches.sweep", options={"expires": interval}), name="sweep batches"
    )
    # Listing every object is costly on a large bucket: orphans are looked for far less often.
    orphans = float(settings.ORPHAN_SWEEP_INTERVAL_SECONDS)
    sender.add_periodic_task(
        orphans, sender.signature("batches.sweep_orphans", options={"expires": orphans}), name="sweep orphans"
    )


@worker_process_init.connect
def _prepare_pool_process(**_: object) -> None:
    """Each pool process: clear what dead ones left behind, then cap its own memory."""
    from backend.batches.processing import task_memory_limit, workdirs_clean

    workdirs_clean()
    task_memory_limit()
