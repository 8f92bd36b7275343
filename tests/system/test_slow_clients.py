"""Slow clients cannot take the site down: through the project's own nginx config (Debian's nginx),
and against `make run`'s server, which has no nginx in front."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

import pytest
import requests

from backend.ops.management.commands.runstack import web_command
from tests.helpers import photo

pytestmark = pytest.mark.integration
SLOW_CLIENTS = 20
# A functional bound, not a speed target: a site whose web workers are all pinned never answers.
ANSWER_WITHIN = 5


class SlowUploads:
    """Clients that announce a large upload and send one byte every two seconds."""

    def __init__(self, url: str, count: int) -> None:
        self.host, self.port = url.removeprefix("http://").split(":")
        self.stop = threading.Event()
        self.sockets: list[socket.socket] = []
        for _ in range(count):
            sock = socket.create_connection((self.host, int(self.port)), timeout=10)
            sock.sendall((f"POST /api/v1/batches HTTP/1.1\r\nHost: {self.host}\r\nContent-Length: 1000000\r\n"
                          "Content-Type: multipart/form-data; boundary=slow\r\n\r\n--slow\r\n").encode())
            self.sockets.append(sock)
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()
        time.sleep(3)  # well past the moment a server hands them to its workers

    def _trickle(self) -> None:
        while not self.stop.wait(2):
            for sock in self.sockets:
                with contextlib.suppress(OSError):  # a server may close a connection it has given up on
                    sock.send(b"x")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        for sock in self.sockets:
            sock.close()


def assert_the_site_answers(url: str) -> None:
    assert requests.get(f"{url}/healthz", timeout=ANSWER_WITHIN).status_code == 200
    created = requests.post(f"{url}/api/v1/batches", data={"processor": "thumbnail"},
                            files=[("files", ("a.jpg", photo(), "image/jpeg"))], timeout=ANSWER_WITHIN)
    assert created.status_code == 201, created.text[:500]


def test_slow_uploads_through_nginx_leave_the_site_answering(nginx):
    slow = SlowUploads(nginx, SLOW_CLIENTS)
    try:
        assert_the_site_answers(nginx)
    finally:
        slow.close()


def test_slow_uploads_to_make_runs_server_leave_it_answering(processes):
    url = processes.start_web(web_command("{bind}"))
    slow = SlowUploads(url, SLOW_CLIENTS)
    try:
        assert_the_site_answers(url)
    finally:
        slow.close()


def get_from(address: str, url: str, path: str) -> int:
    """GET `path` from a chosen loopback source address (another client, as nginx sees it)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=ANSWER_WITHIN, source_address=(address, 0)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        return int(sock.recv(64).split(b" ")[1])


def test_one_address_holding_many_connections_is_refused_past_its_share_and_others_are_served(nginx):
    """nginx's per-client connection limit: past 64 connections with a request under way, that address
    is answered 503 at once; another address is served as if nothing happened."""
    slow = SlowUploads(nginx, 100)
    try:
        assert get_from("127.0.0.1", nginx, "/healthz") == 503, "the crowded address is past its share"
        assert get_from("127.0.0.2", nginx, "/healthz") == 200, "another client is served"
    finally:
        slow.close()
    deadline = time.monotonic() + 10
    while get_from("127.0.0.1", nginx, "/nginx-health") != 200:  # its connections closed: served again
        assert time.monotonic() < deadline
        time.sleep(0.2)
