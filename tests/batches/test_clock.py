"""Every deadline from one clock, the database's: a web, worker or beat host hours off keeps the promise
(the link works for its hour after the batch is ready, no longer, no shorter)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from backend.batches import clock, sweeper
from backend.batches.lifecycle import Claim, file_claim
from backend.batches.models import Batch, BatchFile
from backend.batches.selectors import batch_state
from tests.helpers import encode, noisy_image, post_batch, run_in_process

pytestmark = pytest.mark.django_db(transaction=True)
SKEWS = [timedelta(hours=-2), timedelta(hours=2), timedelta(minutes=-61), timedelta(days=1)]


@pytest.fixture(params=SKEWS, ids=lambda skew: f"{skew.total_seconds() / 3600:+g}h")
def skewed(request, monkeypatch) -> timedelta:
    """This process's clock (web, worker and beat alike, in-process) off by the parameter."""
    real = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real() + request.param)
    return request.param


def test_a_batch_made_ready_by_a_skewed_host_is_offered_for_its_hour_by_the_databases_clock(skewed, published):
    client = Client()
    created = post_batch(client, {"a.png": encode(noisy_image((80, 60)), "PNG")}, processor="resize",
                         options={"width": 40})
    batch = run_in_process(created.json()["id"])
    truth = clock.db_now()
    assert abs((batch.created_at - truth).total_seconds()) < 60
    assert abs((batch.ready_at - truth).total_seconds()) < 60, "ready by the database's clock"
    assert batch.expires_at - batch.ready_at == timedelta(seconds=settings.ARCHIVE_LIFETIME_SECONDS)
    state = batch_state(batch)
    assert state["status"] == "ready" and abs(state["expires_in_seconds"] - settings.ARCHIVE_LIFETIME_SECONDS) < 60
    assert client.get(f"/b/{batch.pk}/download").status_code == 302, "offered, whatever this host's clock says"
    assert sweeper.batches_sweep().expired == [], "a skewed sweeper leaves it alone"
    # At the deadline by the database's clock, and only then, it ends.
    assert sweeper.batches_sweep(now=batch.expires_at - timedelta(seconds=1)).expired == []
    assert sweeper.batches_sweep(now=batch.expires_at).expired == [str(batch.pk)]


def test_a_skewed_workers_heartbeat_is_not_taken_for_a_lost_worker(skewed, published):
    created = post_batch(Client(), {"a.png": encode(noisy_image((80, 60)), "PNG")}, processor="resize",
                         options={"width": 40})
    file = BatchFile.objects.get(batch_id=created.json()["id"])
    claim = file_claim(str(file.pk), "skewed-worker")
    assert isinstance(claim, Claim)
    file.refresh_from_db()
    assert abs((file.heartbeat_at - clock.db_now()).total_seconds()) < 60
    report = sweeper.batches_sweep()
    assert report.requeued == [] and report.given_up == [], "a file being worked on stays its worker's"
    assert Batch.objects.get(pk=file.batch_id).status == "processing"


def test_the_database_clock_is_read_fresh_not_from_the_transaction():
    from django.db import transaction

    with transaction.atomic():
        first = clock.db_now()
        import time

        time.sleep(0.05)
        assert clock.db_now() > first
