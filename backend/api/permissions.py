from django.conf import settings
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView


class ApiClient(BasePermission):
    """Anyone, unless API_REQUIRE_TOKEN is on: then only clients with a token (or a signed-in user)."""

    message = "This API needs a token: send `Authorization: Token <key>`."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return not settings.API_REQUIRE_TOKEN or bool(request.user and request.user.is_authenticated)


class Operator(BasePermission):
    """Staff only: listing batches would defeat their unguessable ids, and stats are for operators."""

    message = "Only operators (staff users, by token or admin session) may see this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return bool(request.user and request.user.is_staff)


class NotFromAnotherSite(BasePermission):
    """Browsers name the page a request came from; a write that another site's page sends is refused.

    Anonymous API calls carry no cookie, so Django's CSRF check does not apply to them; a page on
    another site could still make a visitor's browser cancel a batch whose link it learned. Programs
    send no Origin and are not affected; this site's own pages match it.
    """

    message = "Requests sent by another site's pages are refused; call the API from a program or from this site."

    def has_permission(self, request: Request, view: APIView) -> bool:
        if request.method in ("GET", "HEAD", "OPTIONS") or not self._cross_site(request):
            return True
        raise PermissionDenied(self.message)  # 403 even without credentials: no token would help

    @staticmethod
    def _cross_site(request: Request) -> bool:
        if request.headers.get("Sec-Fetch-Site", "").lower() == "cross-site":
            return True
        origin = request.headers.get("Origin")
        own = f"{request.scheme}://{request.get_host()}"
        return bool(origin) and origin != own and origin not in settings.CSRF_TRUSTED_ORIGINS
