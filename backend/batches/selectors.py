"""Reads: a batch's state as figures (status, counts, progress, times, files, what is offered now).

Its one representation (labels, icons, the headline, links) is `api.serializers.batch_representation`,
which the API, the waiting page and the callbacks all use.
"""

from __future__ import annotations

from datetime import datetime

from django.utils.translation import gettext as _

from backend.processors.base import sentence

from .clock import db_now
from .models import Batch, BatchFile


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def effective_status(batch: Batch, now: datetime) -> str:
    if batch.status == Batch.Status.CANCELLED:
        return batch.status
    return Batch.Status.EXPIRED if batch.is_expired(now) else batch.status


def file_error(file: BatchFile) -> str | None:
    """Why the file failed, in the active language (the English sentence when there is no translation)."""
    if not file.error:
        return None
    if not file.error_template:
        return file.error
    try:
        return sentence(_(file.error_template) % file.error_params if file.error_params else _(file.error_template))
    except (KeyError, TypeError, ValueError):  # a translation whose placeholders do not match
        return file.error


def size_change(before: int, after: int) -> int | None:
    """The change from the original's size to the results', in whole per cent."""
    return round((after - before) * 100 / before) if before and after else None


def timing(batch: Batch, status: str, progress: float, now: datetime) -> dict[str, int | None]:
    """Seconds since upload, an estimate of the seconds left, and the seconds the link still works."""
    end = batch.ready_at or batch.finished_at or batch.cancelled_at or now
    elapsed = max(0, int((end - batch.created_at).total_seconds()))
    eta = None
    # From the pace so far; only once there is some pace to go by.
    if status in Batch.ACTIVE and batch.started_at and 0.02 <= progress < 1:
        running = (now - batch.started_at).total_seconds()
        eta = max(1, round(running * (1 - progress) / progress))
    expires_in = None
    if status == Batch.Status.READY and batch.expires_at:
        expires_in = max(0, int((batch.expires_at - now).total_seconds()))
    return {"elapsed_seconds": elapsed, "eta_seconds": eta, "expires_in_seconds": expires_in}


def batch_state(batch: Batch, now: datetime | None = None) -> dict:
    now = now or db_now()
    status = effective_status(batch, now)
    files = list(batch.files.order_by("position"))
    finished = {BatchFile.Status.DONE, BatchFile.Status.FAILED}
    progress = (
        sum(1.0 if f.status in finished else f.progress for f in files) / len(files) if files else 0.0
    )
    downloadable = status == Batch.Status.READY
    live = not batch.is_expired(now)  # its files are still there (neither expired nor cancelled)
    return {
        "id": str(batch.id),
        "status": status,
        "preset_label": batch.preset_label or None,
        "errors_report": live and batch.failed_count > 0 and batch.finished_count == batch.file_count,
        "processors": batch.processor_names,
        "file_count": batch.file_count,
        "done_count": batch.done_count,
        "failed_count": batch.failed_count,
        "progress": round(progress, 4),
        "created_at": _iso(batch.created_at),
        "started_at": _iso(batch.started_at),
        "ready_at": _iso(batch.ready_at),
        "expires_at": _iso(batch.expires_at) if status != Batch.Status.CANCELLED else None,
        "now": now.isoformat(),
        **timing(batch, status, progress, now),
        "archive_name": batch.archive_name if downloadable else None,
        "archive_size": batch.archive_size if downloadable else None,
        "downloadable": downloadable,
        "cancellable": status in Batch.ACTIVE,
        "cancelled_at": _iso(batch.cancelled_at),
        "files": [
            {
                "id": str(f.id),
                "name": f.original_name,
                "size": f.size,
                "status": f.status,
                "progress": round(1.0 if f.status in finished else f.progress, 4),
                "error": file_error(f),
                # Each result of a finished file: its name, size and index (its link is made from these).
                "results": [{"name": r["name"], "size": r.get("size", 0), "index": index}
                            for index, r in enumerate(f.results)] if live and f.status == BatchFile.Status.DONE
                else [],
                "preview": live and bool(f.preview_key),
                "size_change": size_change(f.size, sum(r.get("size", 0) for r in f.results))
                if f.status == BatchFile.Status.DONE else None,
            }
            for f in files
        ],
    }


RATE_SAMPLE = 50  # recent files a chain's pace is judged from


def chain_seconds_per_pixel(chain: str) -> float | None:
    """How long this chain of steps has taken per pixel on its recent images (the "process" stage
    each file records), or None before there is any to go by."""
    recent = BatchFile.objects.filter(batch__chain=chain, status=BatchFile.Status.DONE, pixels__gt=0,
                                      timings__has_key="process").order_by("-finished_at")[:RATE_SAMPLE]
    seconds = pixels = 0.0
    for file in recent.only("pixels", "timings"):
        seconds += float(file.timings.get("process") or 0)
        pixels += file.pixels
    return seconds / pixels if pixels and seconds else None
