"""Batches per client address, one count for the upload form and the API."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class BatchCreateThrottle(SimpleRateThrottle):
    """Batch creation per client IP (behind nginx, REST_FRAMEWORK's NUM_PROXIES picks the real one).

    Works on a plain Django request too: it reads only request.META.
    """

    scope = "batch_create"

    def get_rate(self) -> str | None:
        # Read at request time, so the setting (and tests overriding it) always applies.
        return settings.API_BATCH_CREATE_RATE or None

    def get_cache_key(self, request, view) -> str:  # noqa: ANN001
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
