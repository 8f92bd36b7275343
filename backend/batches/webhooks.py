"""Callbacks: one signed POST to a batch's webhook URL when it ends (ready, failed, expired, cancelled).

The body is JSON; `X-Mediaconv-Signature: sha256=<hex>` is the HMAC-SHA256 of the exact
body bytes with WEBHOOK_SECRET. Only hosts WEBHOOK_ALLOWED_HOSTS names are called, and
never a private, loopback or link-local address unless WEBHOOK_ALLOW_PRIVATE is on.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
import ssl
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation

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


@dataclass(frozen=True)
class Target:
    """Where a callback goes: the URL's parts, and the one address that was checked and will be called."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def check_url(url: str) -> Target:
    """Resolve the URL's host once and check it; raises WebhookRefused with the reason when it may not be called.

    The caller connects to the returned address itself: resolving again when connecting would let
    a name answer a public address to the check and a private one to the connection.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused("must be an http or https URL")
    if parts.username or parts.password:
        raise WebhookRefused("must not carry a user name or password")
    host = parts.hostname.lower()
    if not _host_allowed(host):
        raise WebhookRefused(f"{host} is not among the hosts this site sends callbacks to")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]
    except socket.gaierror:
        raise WebhookRefused(f"{host} cannot be resolved") from None
    for address in addresses:
        if not address_allowed(address):
            raise WebhookRefused(f"{host} resolves to a private address ({address})")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, addresses[0])


def address_allowed(address: str) -> bool:
    """Public addresses only, unless WEBHOOK_ALLOW_PRIVATE (tests, intranets)."""
    return settings.WEBHOOK_ALLOW_PRIVATE or ipaddress.ip_address(address.split("%")[0]).is_global


def sign(body: bytes) -> str:
    return "sha256=" + hmac.new(settings.WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()


def payload(batch: Batch, event: str) -> dict:
    """The event and the batch's state exactly as the API answers it, links starting at SITE_URL."""
    from backend.api.serializers import batch_representation  # the one representation of a batch

    with translation.override(batch.language or None):
        state = batch_representation(batch, settings.SITE_URL)
    return {"event": f"batch.{event}", "batch": state, "sent_at": timezone.now().isoformat()}


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to the checked address, with the URL's host name in the Host header."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self.address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to the checked address; the certificate is checked against the URL's host name."""

    def __init__(self, target: Target, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=ssl.create_default_context())
        self.address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def deliver(batch_id: str, event: str) -> bool:
    """POST the event once; True when delivered (or nothing is to be sent), False to try again later.

    Raises WebhookRefused when the URL may not be called any more (no point retrying).
    """
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None or not batch.webhook_url or event in batch.webhook_events:
        return True
    target = check_url(batch.webhook_url)
    body = json.dumps(payload(batch, event), separators=(",", ":")).encode()
    connection_class = _PinnedHTTPS if target.scheme == "https" else _PinnedHTTP
    connection = connection_class(target, settings.WEBHOOK_TIMEOUT_SECONDS)
    try:  # http.client follows no redirect: one could lead to an address check_url would refuse
        connection.request("POST", target.path, body=body, headers={
            "Content-Type": "application/json", "User-Agent": "mediaconv-webhook/1",
            "X-Mediaconv-Event": f"batch.{event}", "X-Mediaconv-Delivery": str(uuid.uuid4()),
            "X-Mediaconv-Signature": sign(body),
        })
        ok = 200 <= connection.getresponse().status < 300
    except (OSError, http.client.HTTPException, ValueError) as exc:
        log.warning("webhook %s for batch %s failed: %s", event, batch_id, exc)
        return False
    finally:
        connection.close()
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
