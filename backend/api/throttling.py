"""Batches and uploads in parts per client, one count for the upload form and the API, shared by every
web process on every host (batches.quotas: a row in the database, counted atomically)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import DatabaseError
from rest_framework.throttling import BaseThrottle

from backend.batches.quotas import Rate, quota_take
from backend.web.client_address import client_address

log = logging.getLogger(__name__)


class BatchCreateThrottle(BaseThrottle):
    """Batch creation per client (see client_address: X-Forwarded-For counts only behind NUM_PROXIES
    trusted proxies; an IPv6 client counts by its /64). Works on a plain Django request too."""

    scope = "batch_create"

    def __init__(self) -> None:
        self.retry_after = 0

    def rate(self) -> str:
        # Read at request time, so the setting (and tests overriding it) always applies.
        return settings.API_BATCH_CREATE_RATE

    def allow_request(self, request, view) -> bool:  # noqa: ANN001 - a Django or DRF request
        rate = Rate.parse(self.rate())
        if rate is None:
            return True
        try:
            self.retry_after = quota_take(self.scope, client_address(request), rate)
        except DatabaseError:  # out of reach for a moment: the request's own work says so, or goes through
            log.warning("rate-limit count unavailable; request let through", exc_info=True)
            return True
        return not self.retry_after

    def wait(self) -> float | None:
        return self.retry_after or None


class UploadStartThrottle(BatchCreateThrottle):
    """Uploads begun per client: each holds storage until completed or aborted."""

    scope = "upload_start"

    def rate(self) -> str:
        return settings.API_UPLOAD_START_RATE
