"""Objects under batches/ that no batch row owns (an intake cut short) are deleted after a grace period."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from backend.batches import storage, sweeper
from backend.batches.models import Batch

pytestmark = pytest.mark.django_db


def store(prefix: str, *names: str) -> None:
    for name in names:
        storage.save(f"{prefix}{name}", io.BytesIO(b"data"))


def check_orphans_are_deleted_and_nothing_else() -> None:
    orphan = f"batches/{uuid.uuid4()}/"
    store(orphan, "in/a.jpg", "in/b.jpg", "assets/step0-logo.png")
    owned = Batch.objects.create(steps=[{"processor": "resize"}])
    store(owned.prefix, "in/c.jpg")
    store("batches/not-a-batch/", "x.bin")

    assert orphan not in sweeper.orphans_sweep(), "young: its intake may still be running"
    later = timezone.now() + timedelta(hours=7)
    deleted = sweeper.orphans_sweep(now=later)  # on the shared S3 server, earlier tests' leftovers go too
    assert orphan in deleted and owned.prefix not in deleted
    assert not Batch.objects.filter(pk__in=[prefix.split("/")[1] for prefix in deleted]).exists()
    assert storage.list_prefix(orphan) == []
    assert storage.list_prefix(owned.prefix) == [f"{owned.prefix}in/c.jpg"]
    assert storage.list_prefix("batches/not-a-batch/") == ["batches/not-a-batch/x.bin"]
    assert sweeper.orphans_sweep(now=later) == []


def test_orphans_in_local_storage():
    check_orphans_are_deleted_and_nothing_else()


@pytest.mark.s3
def test_orphans_on_s3():
    check_orphans_are_deleted_and_nothing_else()
