"""Trust boundaries: the address a request came from, and where callbacks really connect."""

from __future__ import annotations

import contextlib
import http.server
import socket
import threading
from collections.abc import Iterator

import pytest
from django.test import Client

from backend.batches import webhooks
from backend.batches.models import Batch
from tests.helpers import photo, post_batch

pytestmark = pytest.mark.django_db


# ---------------------------------------------------------------------------
# The client's address


def test_x_forwarded_for_from_the_client_does_not_rotate_the_rate_limit(client, published, settings):
    settings.API_BATCH_CREATE_RATE = "2/minute"
    statuses = [post_batch(client, {"a.jpg": photo()}, processor="resize",
                           HTTP_X_FORWARDED_FOR=f"198.51.100.{i}").status_code for i in range(5)]
    assert statuses == [201, 201, 429, 429, 429]


def test_an_unreachable_cache_does_not_stop_uploads(client, published, settings):
    """The rate limits count in the database, not the cache: a cache that cannot be reached (a Redis
    restart, a DNS hiccup) changes nothing for the form and the API."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0"}}
    assert post_batch(client, {"a.jpg": photo()}, processor="resize").status_code == 201
    start = client.post("/api/v1/uploads", {"name": "a.jpg", "size": 10}, content_type="application/json")
    assert start.status_code == 201


def test_behind_trusted_proxies_the_hop_they_added_counts(published, settings):
    settings.API_BATCH_CREATE_RATE = "1/minute"
    settings.NUM_PROXIES = 1
    nginx = Client(REMOTE_ADDR="10.0.0.2")  # every request arrives from the proxy
    first = post_batch(nginx, {"a.jpg": photo()}, processor="resize", HTTP_X_FORWARDED_FOR="203.0.113.7")
    forged = post_batch(nginx, {"a.jpg": photo()}, processor="resize",
                        HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.7")  # the client wrote the first hop
    other = post_batch(nginx, {"a.jpg": photo()}, processor="resize", HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert (first.status_code, forged.status_code, other.status_code) == (201, 429, 201)


def test_metrics_look_at_the_real_peer_too(client, settings):
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    settings.METRICS_TOKEN = ""
    outsider = Client(REMOTE_ADDR="192.0.2.10")
    assert outsider.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 403
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200


# ---------------------------------------------------------------------------
# Callbacks connect to the address that was checked


class Recorder(http.server.ThreadingHTTPServer):
    def __init__(self, address: tuple[str, int]) -> None:
        self.hits: list[str] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                recorder.hits.append(self.headers["Host"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(address, Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


@pytest.fixture
def two_hosts() -> Iterator[tuple[Recorder, Recorder]]:
    """The same port on two loopback addresses: 127.0.0.2 plays a public host, 127.0.0.1 an internal one."""
    for _ in range(20):
        with contextlib.suppress(OSError):
            public = Recorder(("127.0.0.2", 0))
            try:
                internal = Recorder(("127.0.0.1", public.server_port))
            except OSError:
                public.shutdown()
                public.server_close()
                continue
            break
    yield public, internal
    for server in (public, internal):
        server.shutdown()
        server.server_close()


def test_a_name_that_changes_its_answer_after_the_check_still_reaches_the_checked_address(
        two_hosts, settings, monkeypatch):
    public, internal = two_hosts
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.example.com"]
    settings.WEBHOOK_ALLOW_PRIVATE = False
    answers = iter(["127.0.0.2"] + ["127.0.0.1"] * 10)  # a rebinding resolver: public first, internal after

    real_getaddrinfo = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):
        if host != "hooks.example.com":  # a numeric address: nothing to resolve
            return real_getaddrinfo(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    monkeypatch.setattr(webhooks, "address_allowed", lambda address: address == "127.0.0.2")
    batch = Batch.objects.create(steps=[{"processor": "resize"}], status="ready",
                                 webhook_url=f"http://hooks.example.com:{public.server_port}/hook")
    assert webhooks.deliver(str(batch.pk), "ready") is True
    assert public.hits == [f"hooks.example.com:{public.server_port}"], "the Host header keeps the name"
    assert internal.hits == []


def test_a_name_with_any_private_address_is_refused_before_connecting(settings, monkeypatch):
    settings.WEBHOOK_ALLOWED_HOSTS = ["*"]
    settings.WEBHOOK_ALLOW_PRIVATE = False
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.1", port))])
    with pytest.raises(webhooks.WebhookRefused, match="private address"):
        webhooks.check_url("https://mixed.example.com/hook")


# ---------------------------------------------------------------------------
# Writes sent by another site's pages


@pytest.mark.parametrize("headers", [{"HTTP_ORIGIN": "https://evil.example"},
                                     {"HTTP_SEC_FETCH_SITE": "cross-site"},
                                     {"HTTP_ORIGIN": "null"}])
def test_another_sites_page_cannot_cancel_or_create(client, published, headers):
    created = post_batch(client, {"a.jpg": photo()}, processor="resize").json()
    refused = client.post(created["cancel_url"], **headers)
    assert refused.status_code == 403 and "another site" in refused.json()["error"]
    assert Batch.objects.get(pk=created["id"]).status == "pending"
    assert post_batch(client, {"a.jpg": photo()}, processor="resize", **headers).status_code == 403
    assert Batch.objects.count() == 1


def test_programs_and_this_sites_own_pages_can(client, published, settings):
    created = post_batch(client, {"a.jpg": photo()}, processor="resize").json()
    assert client.post(created["cancel_url"], HTTP_ORIGIN="http://testserver").status_code == 200
    again = post_batch(client, {"a.jpg": photo()}, processor="resize", HTTP_SEC_FETCH_SITE="same-origin").json()
    assert client.post(again["cancel_url"]).status_code == 200, "no Origin: a program"
    settings.CSRF_TRUSTED_ORIGINS = ["https://app.example.com"]
    assert post_batch(client, {"a.jpg": photo()}, processor="resize",
                      HTTP_ORIGIN="https://app.example.com").status_code == 201
