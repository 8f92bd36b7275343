"""Figures for operators, read from Postgres (job state) and the broker (queues, workers).

Shared by GET /api/v1/stats and /metrics, so both always say the same.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum

from backend.batches.clock import db_now
from backend.batches.dispatch import QUEUES
from backend.batches.models import Batch, BatchFile

log = logging.getLogger(__name__)

# Percentiles and averages over at most this many of the latest files, so a scrape stays cheap.
SAMPLE_LIMIT = 50_000


def processing_durations(since: datetime | None = None) -> dict[str, list[float]]:
    """Seconds from start to finish of each finished file, by processing chain."""
    files = BatchFile.objects.filter(
        status__in=[BatchFile.Status.DONE, BatchFile.Status.FAILED], started_at__isnull=False,
        finished_at__isnull=False,
    )
    if since is not None:
        files = files.filter(finished_at__gte=since)
    rows = files.order_by("-finished_at").values_list("batch__chain", "started_at", "finished_at")[:SAMPLE_LIMIT]
    durations: dict[str, list[float]] = defaultdict(list)
    for chain, started, finished in rows:
        durations[chain].append(max(0.0, (finished - started).total_seconds()))
    return durations


def processing_histogram(bounds: tuple[float, ...]) -> dict[str, tuple[list[int], int, float]]:
    """For each processing chain, over every finished file ever: how many took at most each
    bound, how many in all, and their total seconds. Counted by the database, so the figures
    only ever grow (as Prometheus expects of a histogram)."""
    took = ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField())
    buckets = {f"le_{i}": Count("pk", filter=Q(took__lte=timedelta(seconds=bound))) for i, bound in enumerate(bounds)}
    rows = (
        BatchFile.objects.filter(status__in=[BatchFile.Status.DONE, BatchFile.Status.FAILED],
                                 started_at__isnull=False, finished_at__isnull=False)
        .annotate(took=took).values("batch__chain")
        .annotate(count=Count("pk"), total=Sum("took"), **buckets).order_by("batch__chain")
    )
    return {
        row["batch__chain"]: ([row[f"le_{i}"] for i in range(len(bounds))], row["count"],
                              row["total"].total_seconds() if row["total"] else 0.0)
        for row in rows
    }


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile: the smallest value at least `fraction` of the values are at or below."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _summary(durations: dict[str, list[float]]) -> dict[str, dict]:
    return {
        key: {"files": len(values), "average_seconds": round(sum(values) / len(values), 3),
              "p95_seconds": round(percentile(values, 0.95), 3)}
        for key, values in sorted(durations.items())
    }


def _success_rate(done: int, failed: int) -> float | None:
    return round(done / (done + failed), 4) if done + failed else None


def counts_by_status(model: type[Batch] | type[BatchFile]) -> dict[str, int]:
    counts = dict.fromkeys(model.Status.values, 0)
    counts.update(dict(model.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")))
    return counts


def queue_depths() -> dict[str, int | None]:
    """Messages waiting in each queue (None when the broker cannot say)."""
    from backend.config.celery import app

    depths: dict[str, int | None] = {}
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            channel = conn.default_channel
            for queue in QUEUES:
                try:
                    depths[queue] = channel.queue_declare(queue=queue, passive=True).message_count
                except Exception:  # a queue never declared holds nothing
                    depths[queue] = 0
    except Exception as exc:
        log.warning("queue depths unavailable: %s", exc)
        return dict.fromkeys(QUEUES)
    return depths


# A ping is a broadcast that waits its whole timeout for replies: its answer is kept this long, so that
# polling the figures (several operators, a dashboard) neither waits a second nor floods the workers.
PING_KEPT_SECONDS = 10


def workers_online(timeout: float = 1.0) -> list[str] | None:
    """Names of the workers that answered a ping within `timeout` (None when the broker cannot broadcast)."""
    kept = cache.get("ops.workers_online")
    if kept is not None:
        return kept
    from backend.config.celery import app

    try:
        replies = app.control.inspect(timeout=timeout).ping() or {}
    except Exception as exc:
        log.warning("worker ping unavailable: %s", exc)
        return None
    cache.set("ops.workers_online", sorted(replies), PING_KEPT_SECONDS)
    return sorted(replies)


def collect(now: datetime | None = None, *, ping: bool = True) -> dict:
    now = now or db_now()
    hour_ago = now - timedelta(hours=1)
    files = counts_by_status(BatchFile)
    recent = dict(BatchFile.objects.filter(finished_at__gte=hour_ago).values_list("status")
                  .annotate(n=Count("pk")).values_list("status", "n"))
    last_ten_minutes = BatchFile.objects.filter(
        finished_at__gte=now - timedelta(minutes=10), status__in=[BatchFile.Status.DONE, BatchFile.Status.FAILED]
    ).count()
    workers = workers_online() if ping else None
    return {
        "now": now.isoformat(),
        "batches": counts_by_status(Batch),
        "files": files,
        "success_rate": {
            "all_time": _success_rate(files[BatchFile.Status.DONE], files[BatchFile.Status.FAILED]),
            "last_hour": _success_rate(recent.get(BatchFile.Status.DONE, 0), recent.get(BatchFile.Status.FAILED, 0)),
        },
        "processing_time": {
            "all_time": _summary(processing_durations()),
            "last_hour": _summary(processing_durations(since=hour_ago)),
        },
        "files_per_minute": round(last_ten_minutes / 10, 2),
        "queue_depth": queue_depths(),
        "workers_online": None if workers is None else len(workers),
        "workers": workers,
        "archive_bytes": collect_archive_bytes(),
    }


def collect_archive_bytes() -> int:
    """Bytes of the archives that can be downloaded now."""
    return Batch.objects.filter(status=Batch.Status.READY).aggregate(n=Sum("archive_size"))["n"] or 0


def archive_bytes_built() -> int:
    """Bytes of every archive ever built (sizes stay on the rows after the files expire)."""
    return Batch.objects.filter(ready_at__isnull=False).aggregate(n=Sum("archive_size"))["n"] or 0
