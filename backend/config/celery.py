"""The Celery application shared by web (to publish) and workers (to run)."""

import os

from celery import Celery

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
# Each installed app's tasks module; the beat schedule is CELERY_BEAT_SCHEDULE in settings and the
# worker processes' own set-up is connected by the batches app: this module names no domain module.
app.autodiscover_tasks()
