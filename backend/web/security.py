"""Content-Security-Policy on every HTML page: only this site's own scripts, styles and images."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from backend.batches import storage

# blob: shows the upload page's thumbnails of the chosen files before they are sent; the storage's
# origin, when S3 is on another one: the page sends upload parts there and shows previews from it.
STRICT = ("default-src 'self'; img-src 'self' blob: data:{storage}; script-src 'self'; style-src 'self'; "
          "connect-src 'self'{storage}; object-src 'none'; base-uri 'none'; form-action 'self'; "
          "frame-ancestors 'none'")
# Django's admin and Swagger UI carry inline scripts and styles of their own.
RELAXED = ("default-src 'self'; img-src 'self' data: blob:; script-src 'self' 'unsafe-inline'; "
           "style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")
RELAXED_PATHS = ("/admin/", "/api/docs/")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html") and "Content-Security-Policy" not in response:
            relaxed = request.path.startswith(RELAXED_PATHS)
            storage_origin = storage.browser_origin()
            response["Content-Security-Policy"] = RELAXED if relaxed else STRICT.format(
                storage=f" {storage_origin}" if storage_origin else "")
        return response
