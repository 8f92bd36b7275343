"""Taking an upload in: the one service the page and the API both call to make a batch.

`batch_intake` checks every rule once (the chain, the files, the files sent in parts, the limits,
the callback URL) and then stores the originals, records the rows and queues the work. The form
and the serializer only turn their own input shape into a `BatchOrder`, and an `IntakeRefused`
back into their own error shape.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from . import dispatch, storage, webhooks
from .assets import assets_store
from .clock import db_now
from .models import Batch, BatchFile
from .names import unique_name
from .staging import staged_check, staged_take
from .steps import InvalidSteps, heaviest_queue, preset_get, steps_clean, steps_queue, steps_refusal
from .uploads import EXTENSIONS, Upload, uploads_check

log = logging.getLogger(__name__)


@dataclass
class BatchOrder:
    """What a client asks for: a chain (a preset's key, or steps with each step's option files),
    files sent in the request, completed uploads sent in parts, and a callback URL."""

    preset: str = ""
    steps: object = None  # [{"processor": name, "options": {…}}, …] as given, checked here
    step_files: Sequence[Mapping[str, UploadedFile]] = ()
    files: Sequence[UploadedFile] = ()
    upload_ids: Sequence[uuid.UUID] = ()
    webhook_url: str = ""


@dataclass(eq=False)
class IntakeRefused(Exception):
    """Everything wrong with an order, found in one pass: the chain's problems (`steps`, whose step
    and option each names), and sentences under "preset", "files", "uploads" or "webhook_url"."""

    steps: InvalidSteps | None = None
    problems: dict[str, list[str]] = field(default_factory=dict)

    def __str__(self) -> str:
        return "; ".join([*(self.steps.sentences() if self.steps else []),
                          *(p for sentences in self.problems.values() for p in sentences)])


def batch_intake(order: BatchOrder) -> Batch:
    """Check the order against every rule and, when nothing is wrong, create its batch (batch_create).

    Raises IntakeRefused naming every problem; StorageUnavailable when the originals cannot be stored
    (nothing is kept, and files sent in parts stay ready for another try)."""
    problems: dict[str, list[str]] = {}
    raw_steps, step_files, preset_label = order.steps, order.step_files, ""
    if order.preset:
        preset = preset_get(order.preset)
        if preset is None:
            raise IntakeRefused(problems={"preset": [_("No preset has this key.")]})
        raw_steps, step_files, preset_label = preset.steps, (), str(preset.label)
    try:
        steps = steps_clean(raw_steps, step_files)
        invalid = None
    except InvalidSteps as exc:
        steps, invalid = [], exc
    # The files are judged even when a step is wrong, so that one answer names every problem.
    names = [name for step in raw_steps if isinstance(step, dict) and isinstance(name := step.get("processor"), str)] \
        if isinstance(raw_steps, list) else []
    count = len(order.files) + len(order.upload_ids)
    if not count:
        problems["files"] = [_("Choose at least one file to upload.")]
    elif count > settings.MAX_FILES_PER_BATCH:
        problems["files"] = [_("Too many files: %(count)s chosen, at most %(limit)s per batch.") % {
            "count": count, "limit": settings.MAX_FILES_PER_BATCH}]
    else:
        refusal = steps_refusal(names)
        uploads, file_problems = uploads_check(order.files, refusal)
        staged, staged_problems = staged_check(order.upload_ids, refusal,
                                               other_bytes=sum(f.size for f in order.files))
        problems.update((key, value) for key, value in (("files", file_problems), ("uploads", staged_problems))
                        if value)
    if order.webhook_url and (problem := _webhook_problem(order.webhook_url)):
        problems["webhook_url"] = [problem]
    if invalid or problems:
        raise IntakeRefused(invalid, problems)
    return batch_create(steps, uploads + staged, webhook_url=order.webhook_url, preset_label=preset_label)


def _webhook_problem(url: str) -> str | None:
    if not settings.WEBHOOK_ALLOWED_HOSTS:
        return _("This site sends no callbacks (WEBHOOK_ALLOWED_HOSTS is empty).")
    if len(url) > 2000:
        return _("At most 2000 characters.")
    try:
        webhooks.check_url(url)
    except webhooks.WebhookRefused as exc:
        return _("The callback URL %(reason)s.") % {"reason": exc}
    return None


def batch_create(steps: list[dict], uploads: list[Upload], webhook_url: str = "", preset_label: str = "") -> Batch:
    """Store every original, then record the batch and its files in one transaction;
    the tasks are published only once that transaction has committed.

    `steps` come from steps_clean and `uploads` from uploads_check (or staged_check: files
    sent in parts, already in storage), as batch_intake checked them. On any failure nothing is
    kept: originals stored here are deleted again, and files sent in parts stay ready for another try.
    """
    now = db_now()  # once for the batch and its rows (each row's default would ask the database again)
    batch = Batch(id=uuid.uuid4(), file_count=len(uploads), webhook_url=webhook_url, preset_label=preset_label[:200],
                  language=translation.get_language() or "", created_at=now)
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
                queue=steps_queue(steps, upload.sniffed.content_type), queued_at=now,
            ))
        batch.total_bytes = sum(row.size for row in rows)
        batch.queue = heaviest_queue([row.queue for row in rows])
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
