from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

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
