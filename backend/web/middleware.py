import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

log = logging.getLogger(__name__)
# Room for the form fields and multipart boundaries around the files themselves.
ENVELOPE_BYTES = 1024 * 1024


class UploadSizeLimitMiddleware:
    """Refuse an oversized request from its Content-Length, before its body is read.

    nginx enforces the same limit in deployments; this keeps `make run` safe too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > settings.MAX_REQUEST_BYTES + ENVELOPE_BYTES:
            message = _("The upload is too large for one request: at most %(limit)s MB. Nothing was stored. "
                        "Larger files go up in parts (the page does this when JavaScript is on; see "
                        "/api/v1/uploads).") % {"limit": settings.MAX_REQUEST_BYTES // (1024 * 1024)}
            if request.path.startswith("/api/"):
                return JsonResponse({"error": message}, status=413)
            return render(request, "web/error.html", {"title": _("Upload too large"), "message": message},
                          status=413)
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """The database out of reach for a moment (a restart, a DNS hiccup): 503 with Retry-After, in the API's
    JSON under /api/ and a page elsewhere, instead of a server error. Nothing of the request was kept:
    a batch is recorded in one transaction, or not at all."""

    RETRY_AFTER_SECONDS = 5

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        log.warning("database unreachable while answering %s", request.path, exc_info=exception)
        message = _("The service's database cannot be reached right now, so nothing was kept. Please try "
                    "again in a few seconds.")
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"error": message}, status=503)
        else:
            response = render(request, "web/error.html", {"title": _("Try again shortly"), "message": message},
                              status=503)
        response["Retry-After"] = str(self.RETRY_AFTER_SECONDS)
        return response
