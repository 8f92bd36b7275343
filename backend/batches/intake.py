"""Accepting a validated upload: originals to storage, rows to the database, tasks to the queue."""

from __future__ import annotations

import logging
import uuid

from django.db import transaction
from django.utils import translation

from . import dispatch, storage
from .assets import assets_store
from .models import Batch, BatchFile
from .names import unique_name
from .staging import staged_take
from .steps import steps_queue
from .uploads import EXTENSIONS, Upload

log = logging.getLogger(__name__)


def batch_create(steps: list[dict], uploads: list[Upload], webhook_url: str = "", preset_label: str = "") -> Batch:
    """Store every original, then record the batch and its files in one transaction;
    the tasks are published only once that transaction has committed.

    `steps` come from steps_clean and `uploads` from uploads_check (or staged_check: files
    sent in parts, already in storage). On any failure nothing is kept: originals stored here
    are deleted again, and files sent in parts stay ready for another try.
    """
    batch = Batch(id=uuid.uuid4(), file_count=len(uploads), webhook_url=webhook_url, preset_label=preset_label[:200],
                  language=translation.get_language() or "")
    rows, taken = [], set()
    try:
        batch.steps = assets_store(batch.prefix, steps)
        for position, upload in enumerate(uploads):
            file_id = uuid.uuid4()
            if upload.key:  # sent in parts: already in storage, and checked at completion
                key, size = upload.key, upload.size
            else:
                # Keys hold no part of the uploaded name: only ids and the sniffed type's extension.
                key = f"{batch.prefix}in/{file_id}{EXTENSIONS.get(upload.sniffed.content_type, '.bin')}"
                size = storage.save(key, upload.file)
            rows.append(BatchFile(
                id=file_id, batch=batch, position=position, original_name=upload.name,
                safe_name=unique_name(upload.name, taken), source_key=key,
                content_type=upload.sniffed.content_type, size=size,
                pixels=upload.sniffed.width * upload.sniffed.height,
                queue=steps_queue(steps, upload.sniffed.content_type),
            ))
        batch.total_bytes = sum(row.size for row in rows)
        batch.queue = "media" if any(row.queue == "media" for row in rows) else rows[0].queue
        with transaction.atomic():
            # Files sent in parts become this batch's: taken once, so two batches never share one.
            staged_take([upload.key for upload in uploads if upload.key])
            batch.save(force_insert=True)
            BatchFile.objects.bulk_create(rows)
            transaction.on_commit(lambda: dispatch.files_publish(rows))
    except Exception:
        _discard(batch)
        raise
    log.info("batch %s accepted: %d files, %d bytes, steps %s", batch.pk, len(rows), batch.total_bytes,
             batch.processor_names, extra={"event": "batch.accepted", "batch": str(batch.pk),
                                           "processor": batch.chain, "files": len(rows)})
    return batch


def _discard(batch: Batch) -> None:
    try:
        storage.delete_prefix(batch.prefix)
    except Exception:  # the sweeper cannot find orphans without a row; log loudly
        log.exception("could not delete the originals of refused batch %s", batch.pk)
