"""The Celery app's configuration stands apart from the domain: importing it loads no domain module,
and the tasks, the beat schedule and the worker processes' set-up still reach the workers."""

import json
import subprocess
import sys

from backend.config.celery import app
from tests.helpers import ROOT

LOADED = """
import json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backend.config.settings")
import backend.config.celery
print(json.dumps(sorted(m for m in sys.modules if m.startswith("backend."))))
"""


def test_importing_the_celery_app_imports_nothing_of_the_domain():
    done = subprocess.run([sys.executable, "-c", LOADED], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          check=True)
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "backend.config.celery" in loaded
    assert [m for m in loaded if not m.startswith("backend.config")] == []


def test_every_scheduled_and_published_task_is_registered():
    from django.conf import settings

    from backend.batches import dispatch

    app.loader.import_default_modules()  # what a worker does at start
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    published = {dispatch.PROCESS_FILE, dispatch.BUILD_ARCHIVE, dispatch.PURGE, dispatch.SEND_WEBHOOK}
    assert scheduled | published <= set(app.tasks)


def test_pool_processes_are_prepared_by_the_batches_app():
    import weakref

    from celery.signals import worker_process_init

    receivers = [receiver() if isinstance(receiver, weakref.ReferenceType) else receiver
                 for _key, receiver in worker_process_init.receivers]
    assert "backend.batches.apps" in [getattr(receiver, "__module__", "") for receiver in receivers]
