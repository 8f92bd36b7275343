"""Uploads that arrive whole or not at all: names in other encodings, and clients that stop mid-body."""

from __future__ import annotations

import socket
import time

import pytest

from backend.batches import storage
from backend.batches.models import Batch
from tests.helpers import form_fields, photo

BOUNDARY = b"mediaconvTestBoundary"


def part(name: bytes, filename: bytes, data: bytes) -> bytes:
    return (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + name + b'"; filename="' + filename
            + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n")


def field(name: str, value: object) -> bytes:
    return (b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"\r\n\r\n'
            + str(value).encode() + b"\r\n")


def body(files: list[tuple[bytes, bytes]], fields: dict) -> bytes:
    return (b"".join(field(k, v) for k, v in fields.items())
            + b"".join(part(b"files", name, data) for name, data in files) + b"--" + BOUNDARY + b"--\r\n")


NAMES = [b"caf\xe9.jpg", "кот.jpg".encode("cp1251"), b"\xff\xfe.jpg", b"x\xc3.jpg", "日本.jpg".encode("shift_jis")]


@pytest.mark.django_db
@pytest.mark.parametrize("position", ["first", "middle", "last"])
@pytest.mark.parametrize("bad_name", NAMES)
def test_a_name_that_is_not_utf8_is_kept_with_a_safe_name(client, published, bad_name, position):
    files = [(b"a.jpg", photo(1)), (b"b.jpg", photo(2))]
    files.insert({"first": 0, "middle": 1, "last": 2}[position], (bad_name, photo(3)))
    for url, fields in (("/", form_fields("thumbnail")), ("/api/v1/batches", {"processor": "thumbnail"})):
        response = client.generic("POST", url, body(files, fields),
                                  content_type=f"multipart/form-data; boundary={BOUNDARY.decode()}")
        assert response.status_code in (201, 302), response.content[:500]
    for batch in Batch.objects.all():
        names = list(batch.files.order_by("position").values_list("original_name", flat=True))
        assert len(names) == 3, "every file of an accepted upload is in the batch"
        odd = names[{"first": 0, "middle": 1, "last": 2}[position]]
        assert odd.endswith(".jpg") and "\ufffd" not in odd and odd not in ("a.jpg", "b.jpg")


def send_and_stop(url: str, path: str, data: bytes, announced: int) -> None:
    """Announce `announced` bytes, send `data`, then close: a client that gave up mid-upload."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {announced}\r\n"
                f"Content-Type: multipart/form-data; boundary={BOUNDARY.decode()}\r\nConnection: close\r\n\r\n")
        sock.sendall(head.encode() + data)
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(10)
        while sock.recv(65536):  # the server answers (or closes) once it sees the end
            pass


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("path", ["/", "/api/v1/batches"])
@pytest.mark.parametrize("cut", [0.3, 0.6, 0.9, "before the closing boundary"])
def test_a_client_that_stops_mid_upload_gets_no_batch_and_nothing_is_stored(live_server, settings, path, cut):
    settings.CSRF_TRUSTED_ORIGINS = []
    fields = form_fields("thumbnail") if path == "/" else {"processor": "thumbnail"}
    whole = body([(b"a.jpg", photo(1)), (b"b.jpg", photo(2)), (b"c.jpg", photo(3))], fields)
    sent = whole[: whole.rindex(b"--" + BOUNDARY + b"--")] if isinstance(cut, str) else whole[: int(len(whole) * cut)]
    announced = len(sent) if isinstance(cut, str) else len(whole)  # a body that ends early, or ends unclosed
    if path == "/":
        settings.CSRF_COOKIE_HTTPONLY = False
    send_and_stop(live_server.url, path, sent, announced)
    time.sleep(0.3)
    assert Batch.objects.count() == 0
    assert storage.list_prefix("batches/") == []
