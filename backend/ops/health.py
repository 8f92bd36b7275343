"""Liveness and readiness for compose, nginx and load balancers."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from backend.batches import storage
from backend.config.celery import app

log = logging.getLogger(__name__)


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """The web process answers: nothing else is checked."""
    return JsonResponse({"status": "ok"})


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker() -> None:
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)


def _storage() -> None:
    storage.list_prefix("healthz/")


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Database, broker and storage reachable: 200 when all are, 503 naming the ones that are not."""
    checks = {"database": _database, "broker": _broker, "storage": _storage}
    results = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means not ready; the reason goes to the log
            log.warning("readiness check %s failed: %s", name, exc)
            results[name] = "unavailable"
    ready = all(value == "ok" for value in results.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": results}, status=200 if ready else 503)


PROBES: dict[str, Callable[[HttpRequest], JsonResponse]] = {"/healthz": healthz, "/readyz": readyz}


class HealthProbeMiddleware:
    """Answer the probes before host checks and the https redirect.

    Container health checks and load balancers call the process by its own address
    (http://127.0.0.1:8000/readyz), which is neither in ALLOWED_HOSTS nor https: run
    through the rest of the stack, a production site would answer them 400 or 301 and
    never count as healthy. The probes reveal nothing and change nothing.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)
