"""The lifecycle module is the only status writer, and its table is what the code enforces."""

from __future__ import annotations

import ast
from datetime import timedelta

import pytest
from django.utils import timezone

from backend.batches import lifecycle
from backend.batches.lifecycle import BATCH_MOVES, FILE_MOVES
from backend.batches.models import Batch, BatchFile
from backend.batches.steps import steps_clean
from tests.helpers import ROOT, batch_of, photo, run_in_process

WRITES = {"update", "create", "get_or_create", "update_or_create"}
MODELS = {"Batch", "BatchFile"}


def status_writes(source: str) -> list[int]:
    """Line numbers where the code writes a `status`: in an UPDATE or INSERT, by assignment, or by save()."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            keywords = {keyword.arg for keyword in node.keywords}
            if (name in WRITES or name in MODELS) and "status" in keywords:
                lines.append(node.lineno)
            if name == "save" and any(
                    keyword.arg == "update_fields" and "status" in ast.unparse(keyword.value)
                    for keyword in node.keywords):
                lines.append(node.lineno)
            if name == "setattr" and len(node.args) > 1 and ast.unparse(node.args[1]) == "'status'":
                lines.append(node.lineno)
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            lines += [node.lineno for target in targets
                      if isinstance(target, ast.Attribute) and target.attr == "status"]
    return sorted(lines)


def test_the_check_finds_every_way_of_writing_a_status():
    sneaky = """
BatchFile.objects.filter(pk=1).update(status="done")
Batch.objects.create(steps=[], status="ready")
batch.status = "failed"
batch.save(update_fields=["status"])
setattr(batch, 'status', "expired")
Batch(status="ready")
Batch.objects.filter(status="ready").count()
"""
    assert status_writes(sneaky) == [2, 3, 4, 5, 6, 7], "reads (the filter on the last line) are not writes"


def test_no_module_but_lifecycle_writes_a_status():
    writers = {}
    for path in sorted((ROOT / "backend").rglob("*.py")):
        if path.name == "lifecycle.py" or "migrations" in path.parts:
            continue
        if lines := status_writes(path.read_text()):
            writers[str(path.relative_to(ROOT))] = lines
    assert writers == {}, f"status written outside backend/batches/lifecycle.py: {writers}"


def test_lifecycle_documents_every_move_it_makes():
    doc = lifecycle.__doc__
    for name in (*FILE_MOVES, *BATCH_MOVES):
        assert f" {name} " in doc, name
    every_status = set(Batch.Status.values) | set(BatchFile.Status.values)
    targets = {target for move in (*FILE_MOVES.values(), *BATCH_MOVES.values()) for target in move.targets}
    assert targets == every_status - {Batch.Status.PENDING}, "every status but the initial one is reached by a move"


# ---------------------------------------------------------------------------
# The table is enforced


def make_batch(count: int = 2) -> Batch:
    return batch_of({f"p{index}.jpg": photo(index) for index in range(count)},
                    steps_clean([{"processor": "thumbnail"}]))


@pytest.mark.django_db
def test_a_finished_file_cannot_be_claimed_released_or_finished_again(published):
    batch = run_in_process(str(make_batch(1).pk))
    file = batch.files.get()
    assert file.status == BatchFile.Status.DONE
    assert lifecycle.file_claim(file.pk) is None
    stale = lifecycle.Claim(file, file.attempts)
    lifecycle.file_release(stale)
    assert lifecycle.file_finish(stale, error="late") is False
    file.refresh_from_db()
    assert (file.status, file.error) == (BatchFile.Status.DONE, "")


@pytest.mark.django_db
def test_an_ended_batch_is_neither_cancelled_nor_closed_nor_retried_into_another_state(published):
    batch = run_in_process(str(make_batch(1).pk))
    assert batch.status == Batch.Status.READY
    assert lifecycle.batch_cancel(batch.pk) is False
    assert lifecycle.batch_close(batch, Batch.Status.FAILED, timezone.now()) is False
    assert lifecycle.batch_retry_failed(batch.pk) == 0, "nothing failed, so nothing to retry"
    lifecycle.batch_mark_purged(batch, timezone.now())
    batch.refresh_from_db()
    assert batch.status == Batch.Status.EXPIRED and batch.expired_at is not None
    assert lifecycle.batch_retry_failed(batch.pk) == 0, "an expired batch lost its originals"


@pytest.mark.django_db
def test_a_cancelled_batch_stays_cancelled_when_purged(published):
    batch = make_batch(2)
    assert lifecycle.batch_cancel(batch.pk) is True
    assert set(batch.files.values_list("status", flat=True)) == {BatchFile.Status.CANCELLED}
    assert lifecycle.file_claim(batch.files.first().pk) is None
    lifecycle.batch_mark_purged(batch, timezone.now() + timedelta(seconds=1))
    batch.refresh_from_db()
    assert batch.status == Batch.Status.CANCELLED


@pytest.mark.django_db
def test_the_first_claim_starts_the_batch_and_the_last_finish_publishes_the_archive(
        published, django_capture_on_commit_callbacks):
    batch = make_batch(2)
    first, second = (lifecycle.file_claim(pk) for pk in batch.files.order_by("position").values_list("pk", flat=True))
    batch.refresh_from_db()
    assert batch.status == Batch.Status.PROCESSING and batch.started_at is not None
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.file_finish(first, error="broken") is True
    assert published["archives"] == []
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.file_finish(second, results=[]) is True
    assert published["archives"] == [str(batch.pk)]
    batch.refresh_from_db()
    assert (batch.done_count, batch.failed_count) == (1, 1) and batch.finished_at is not None
