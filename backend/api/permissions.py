from django.conf import settings
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
