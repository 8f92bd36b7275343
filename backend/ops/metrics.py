"""/metrics in Prometheus' text format, read at scrape time from the shared state.

Every figure comes from Postgres and the broker, so any web process answers for the
whole installation, however many hosts run workers.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from backend.batches.models import Batch, BatchFile
from backend.web.client_address import client_address

from . import stats

BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class StateCollector(Collector):
    def collect(self) -> Iterator:
        batches = GaugeMetricFamily("mediaconv_batches", "Batches by status.", labels=["status"])
        for status, count in stats.counts_by_status(Batch).items():
            batches.add_metric([status], count)
        yield batches

        files = stats.counts_by_status(BatchFile)
        gauge = GaugeMetricFamily("mediaconv_files", "Files by status.", labels=["status"])
        for status, count in files.items():
            gauge.add_metric([status], count)
        yield gauge
        # Rows are kept after their objects expire, so these only grow.
        finished = CounterMetricFamily("mediaconv_files_finished", "Files that finished, by outcome.",
                                       labels=["outcome"])
        finished.add_metric(["done"], files["done"])
        finished.add_metric(["failed"], files["failed"])
        yield finished

        histogram = HistogramMetricFamily("mediaconv_processing_seconds",
                                          "Seconds from start to finish of each file, by processing chain.",
                                          labels=["processor"])
        for processor, (counts, total, seconds) in stats.processing_histogram(BUCKETS).items():
            buckets = [(str(bound), count) for bound, count in zip(BUCKETS, counts, strict=True)]
            histogram.add_metric([processor], [*buckets, ("+Inf", total)], sum_value=seconds)
        yield histogram

        depth = GaugeMetricFamily("mediaconv_queue_depth", "Messages waiting in each queue.", labels=["queue"])
        for queue, count in stats.queue_depths().items():
            if count is not None:
                depth.add_metric([queue], count)
        yield depth

        yield GaugeMetricFamily("mediaconv_archive_bytes", "Bytes of ZIP archives available for download now.",
                                value=stats.collect_archive_bytes())
        yield CounterMetricFamily("mediaconv_archive_bytes_built", "Bytes of every ZIP archive ever built.",
                                  value=stats.archive_bytes_built())


def _allowed(request: HttpRequest) -> bool:
    header = request.headers.get("Authorization", "")
    if settings.METRICS_TOKEN and hmac.compare_digest(header, f"Bearer {settings.METRICS_TOKEN}"):
        return True
    return client_address(request) in settings.METRICS_ALLOWED_IPS


@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse("Forbidden: send the metrics token, or scrape from an allowed address.\n",
                            status=403, content_type="text/plain")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
