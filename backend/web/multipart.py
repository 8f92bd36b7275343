"""Multipart uploads, read whole or not at all, for the pages and the API alike.

- A part whose headers are not valid UTF-8 (a file name in another encoding) would make
  Django skip that part, or stop parsing there, while the rest of the upload is accepted.
  Header bytes are decoded leniently instead, so the file arrives with a safe name.
- A client that stops sending mid-body leaves a request whose earlier parts parse fine:
  `upload_complete` tells whether every byte announced arrived and the closing boundary
  was seen, so an incomplete request creates no batch.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, multipartparser

from .tempfiles import temp_uploads_clean_now_and_then

TAIL_BYTES = 4096  # enough to hold the closing boundary and any epilogue a client adds


class _RepairedHeaders:
    """A part's stream whose header block (up to the blank line) is decoded leniently and re-encoded."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def read(self, size: int | None = None) -> bytes:
        chunk = self.stream.read(size)
        end = chunk.find(b"\r\n\r\n")
        if end == -1:
            return chunk
        header = chunk[:end].decode("utf-8", errors="replace").encode("utf-8")
        return header + chunk[end:]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


def install_header_repair() -> None:
    """Wrap Django's parser of one part's headers (once)."""
    original = multipartparser.parse_boundary_stream
    if getattr(original, "repairs_headers", False):
        return

    def parse_boundary_stream(stream: Any, max_header_size: int) -> Any:
        kind, meta, _wrapped = original(_RepairedHeaders(stream), max_header_size)
        return kind, meta, stream  # the part's data is read from the stream itself

    parse_boundary_stream.repairs_headers = True  # type: ignore[attr-defined]
    multipartparser.parse_boundary_stream = parse_boundary_stream


class _TrackedBody:
    """The request body as Django reads it, counting the bytes and keeping the last few."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.received = 0
        self.tail: deque[bytes] = deque()
        self.tail_size = 0

    def read(self, *args: Any) -> bytes:
        return self._seen(self.stream.read(*args))

    def readline(self, *args: Any) -> bytes:
        return self._seen(self.stream.readline(*args))

    def _seen(self, data: bytes) -> bytes:
        self.received += len(data)
        self.tail.append(data)
        self.tail_size += len(data)
        while self.tail and self.tail_size - len(self.tail[0]) >= TAIL_BYTES:
            self.tail_size -= len(self.tail.popleft())
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class TrackUploadBodyMiddleware:
    """Count what a multipart request's body really delivered (see upload_complete)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.content_type == "multipart/form-data" and hasattr(request, "_stream"):
            request._stream = _TrackedBody(request._stream)
            temp_uploads_clean_now_and_then()  # files spooled by web processes that died mid-upload
        return self.get_response(request)


def upload_complete(request: HttpRequest) -> bool:
    """Whether the multipart body arrived whole: every announced byte and the closing boundary.

    Call after the form or serializer has read the body.
    """
    body = getattr(request, "_stream", None)
    if not isinstance(body, _TrackedBody):
        return True  # not multipart, or not tracked (nothing to judge)
    try:
        announced = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    boundary = request.content_params.get("boundary", "").encode()
    closing = b"--" + boundary + b"--"
    return body.received >= announced and bool(boundary) and closing in b"".join(body.tail)
