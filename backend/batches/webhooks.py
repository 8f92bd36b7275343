"""Callbacks: one signed POST to a batch's webhook URL when it ends (ready, failed, expired, cancelled).

The body is JSON; `X-Mediaconv-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact
body bytes with WEBHOOK_SECRET. Only hosts WEBHOOK_ALLOWED_HOSTS names are called, and
never a private, loopback or link-local address unless WEBHOOK_ALLOW_PRIVATE is on.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import socket
import urllib.error
import urllib.request
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from .models import Batch

log = logging.getLogger(__name__)

EVENTS = ("ready", "failed", "expired", "cancelled")


class WebhookRefused(Exception):
    """This URL may not be called."""


def _host_allowed(host: str) -> bool:
    for pattern in settings.WEBHOOK_ALLOWED_HOSTS:
        if pattern == "*" or host == pattern or (pattern.startswith(".") and host.endswith(pattern)):
            return True
    return False


def check_url(url: str) -> tuple[str, int]:
    """The host and port to call; raises WebhookRefused with the reason when the URL may not be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("must be an http or https URL")
    if parts.username or parts.password:
        raise WebhookRefused("must not carry a user name or password")
    host = parts.hostname.lower()
    if not _host_allowed(host):
        raise WebhookRefused(f"{host} is not among the hosts this site sends callbacks to")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if not settings.WEBHOOK_ALLOW_PRIVATE:
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
        except socket.gaierror:
            raise WebhookRefused(f"{host} cannot be resolved") from None
        for address in addresses:
            if not ipaddress.ip_address(address.split("%")[0]).is_global:
                raise WebhookRefused(f"{host} resolves to a private address ({address})")
    return host, port


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(settings.WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()


def payload(batch: Batch, event: str) -> dict:
    site = settings.SITE_URL.rstrip("/")
    return {
        "event": f"batch.{event}",
        "batch": {
            "id": str(batch.pk), "status": batch.status, "file_count": batch.file_count,
            "done_count": batch.done_count, "failed_count": batch.failed_count,
            "ready_at": batch.ready_at.isoformat() if batch.ready_at else None,
            "expires_at": batch.expires_at.isoformat() if batch.expires_at else None,
            "page_url": site + reverse("web:batch", args=[batch.pk]),
            "download_url": site + reverse("web:download", args=[batch.pk]) if event == "ready" else None,
        },
        "sent_at": timezone.now().isoformat(),
    }


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect could lead to an address check_url would refuse


def deliver(batch_id: str, event: str) -> bool:
    """POST the event once; True when delivered (or nothing is to be sent), False to try again later.

    Raises WebhookRefused when the URL may not be called any more (no point retrying).
    """
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None or not batch.webhook_url or event in batch.webhook_events:
        return True
    check_url(batch.webhook_url)
    body = json.dumps(payload(batch, event), separators=(",", ":")).encode()
    # check_url allowed http and https only.
    request = urllib.request.Request(batch.webhook_url, data=body, method="POST", headers={  # noqa: S310
        "Content-Type": "application/json", "User-Agent": "mediaconv-webhook/1",
        "X-Mediaconv-Event": f"batch.{event}", "X-Mediaconv-Delivery": str(uuid.uuid4()),
        "X-Mediaconv-Signature": sign(body),
    })
    opener = urllib.request.build_opener(_NoRedirects)
    try:
        with opener.open(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
            ok = 200 <= response.status < 300
    except (urllib.error.URLError, OSError, ValueError) as exc:
        log.warning("webhook %s for batch %s failed: %s", event, batch_id, exc)
        return False
    if ok:
        with transaction.atomic():
            locked = Batch.objects.select_for_update().get(pk=batch_id)
            locked.webhook_events = [*locked.webhook_events, event]
            locked.save(update_fields=["webhook_events"])
        log.info("webhook %s for batch %s delivered", event, batch_id)
    return ok


def batch_ended(batch_id: object, event: str) -> None:
    """Queue the callback of a batch that just ended (after the transaction commits), if it has one."""
    from . import dispatch

    wants = Batch.objects.filter(pk=batch_id).filter(~Q(webhook_url="")).exists()
    if wants:
        transaction.on_commit(lambda: dispatch.webhook_publish(batch_id, event))
