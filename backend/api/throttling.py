"""Batches per client address, one count for the upload form and the API."""

import logging

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from backend.web.client_address import client_address

log = logging.getLogger(__name__)


class BatchCreateThrottle(SimpleRateThrottle):
    """Batch creation per client address (see client_address: X-Forwarded-For counts only behind
    NUM_PROXIES trusted proxies). Works on a plain Django request too."""

    scope = "batch_create"

    def allow_request(self, request, view) -> bool:  # noqa: ANN001 - a Django or DRF request
        try:
            return super().allow_request(request, view)
        except Exception:  # the shared count (Redis) is unreachable: serve rather than fail every upload
            log.warning("rate-limit cache unreachable; request let through", exc_info=True)
            return True

    def get_rate(self) -> str | None:
        # Read at request time, so the setting (and tests overriding it) always applies.
        return settings.API_BATCH_CREATE_RATE or None

    def get_ident(self, request) -> str:  # noqa: ANN001 - a Django or DRF request
        return client_address(request)

    def get_cache_key(self, request, view) -> str:  # noqa: ANN001
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class UploadStartThrottle(BatchCreateThrottle):
    """Uploads begun per client address: each holds storage until completed or aborted."""

    scope = "upload_start"

    def get_rate(self) -> str | None:
        return settings.API_UPLOAD_START_RATE or None
