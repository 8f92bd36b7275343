"""A callback receiver on loopback, and the check of a callback's signature."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading


class Receiver:
    """A loopback HTTP server recording each POST; answers the status codes in `replies`, then 200."""

    def __init__(self, replies: list[int] | None = None) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.replies = list(replies or [])
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.replies.pop(0) if receiver.replies else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def assert_signed(headers: dict, body: bytes, secret: str) -> dict:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Mediaconv-Signature"], expected)
    return json.loads(body)
