"""Accepting a validated upload: originals to storage, rows to the database, tasks to the queue."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from backend.processors import registry

from . import dispatch, storage
from .models import Batch, BatchFile
from .names import unique_name
from .sniffing import EXTENSIONS, Sniffed, sniff

log = logging.getLogger(__name__)


@dataclass
class Upload:
    file: UploadedFile
    name: str  # safe to show and to derive result names from
    sniffed: Sniffed


def queue_for(steps: list[dict], content_type: str) -> str:
    """Heavy work wins: a file any of whose steps is media work runs on the media queue."""
    queues = [cls.queue_for(content_type) for step in steps if (cls := registry.get(step["processor"])) is not None]
    return "media" if "media" in queues else (queues[0] if queues else "images")


def create_batch(steps: list[dict], uploads: list[Upload], webhook_url: str = "") -> Batch:
    """Store every original, then record the batch and its files in one transaction;
    the tasks are published only once that transaction has committed.

    On any failure nothing is kept: stored originals are deleted again.
    """
    batch = Batch(id=uuid.uuid4(), file_count=len(uploads), webhook_url=webhook_url)
    rows, taken = [], set()
    try:
        batch.steps = _store_assets(batch, steps)
        for position, upload in enumerate(uploads):
            file_id = uuid.uuid4()
            # Keys hold no part of the uploaded name: only ids and the sniffed type's extension.
            key = f"{batch.prefix}in/{file_id}{EXTENSIONS.get(upload.sniffed.content_type, '.bin')}"
            size = storage.save(key, upload.file)
            rows.append(BatchFile(
                id=file_id, batch=batch, position=position, original_name=upload.name,
                safe_name=unique_name(upload.name, taken), source_key=key,
                content_type=upload.sniffed.content_type, size=size,
                queue=queue_for(steps, upload.sniffed.content_type),
            ))
        batch.total_bytes = sum(row.size for row in rows)
        batch.queue = "media" if any(row.queue == "media" for row in rows) else rows[0].queue
        with transaction.atomic():
            batch.save(force_insert=True)
            BatchFile.objects.bulk_create(rows)
            transaction.on_commit(lambda: dispatch.enqueue_batch_files(rows))
    except Exception:
        _discard(batch)
        raise
    log.info("batch %s accepted: %d files, %d bytes, steps %s", batch.pk, len(rows), batch.total_bytes,
             batch.processor_names, extra={"event": "batch.accepted", "batch": str(batch.pk),
                                           "processor": batch.chain, "files": len(rows)})
    return batch


def _store_assets(batch: Batch, steps: list[dict]) -> list[dict]:
    """Steps with every uploaded option file (e.g. a logo) stored and replaced by {"asset": key}."""
    stored = []
    for index, step in enumerate(steps):
        options = {}
        for name, value in step.get("options", {}).items():
            if isinstance(value, UploadedFile):
                suffix = EXTENSIONS.get(sniff(value).content_type, ".bin")
                key = f"{batch.prefix}assets/step{index}-{name}{suffix}"
                storage.save(key, value)
                value = {"asset": key}
            options[name] = value
        stored.append({**step, "options": options})
    return stored


def _discard(batch: Batch) -> None:
    try:
        storage.delete_prefix(batch.prefix)
    except Exception:  # the sweeper cannot find orphans without a row; log loudly
        log.exception("could not delete the originals of refused batch %s", batch.pk)
