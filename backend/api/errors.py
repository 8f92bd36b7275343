"""The API's one error shape, {"error": "...", "fields": {...}}, for every answer under /api/: DRF's
own errors, and what Django answers before or around a view (CSRF, malformed or oversized bodies,
unknown addresses, server errors), which the site's error handlers hand over here."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PREFIX = "/api/"
MESSAGES = {
    400: "The request could not be understood (malformed, or too many fields); nothing was stored.",
    403: "The request was refused.",
    404: "There is no API endpoint at this address; see /api/docs/.",
    500: "The server hit an unexpected problem; nothing was lost. Try again shortly.",
}


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(PREFIX)


def json_error(status: int, message: str | None = None) -> JsonResponse:
    return JsonResponse({"error": message or MESSAGES.get(status, "The request failed.")}, status=status)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's answer (status, Retry-After, WWW-Authenticate) with the API's one error shape."""
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"error": str(response.data["detail"])}
    return response
