"""The address a request really came from: the one rule for the rate limit and every address check."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The peer's address, unless NUM_PROXIES trusted proxies stand in front: then the address the
    outermost of them saw, i.e. the NUM_PROXIES-th entry of X-Forwarded-For from the right.

    Entries further left were written by the client and prove nothing, so with no trusted proxy
    (the default) the header is ignored: rotating it must not rotate the rate limit's key.
    """
    peer = request.META.get("REMOTE_ADDR", "")
    proxies = settings.NUM_PROXIES
    if proxies <= 0:
        return peer
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    return hops[-proxies] if len(hops) >= proxies else peer
