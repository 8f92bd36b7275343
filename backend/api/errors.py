"""The API's one error shape, {"error": "...", "fields": {...}}, for every answer under /api/: DRF's
own errors, and what Django answers before or around a view (CSRF, malformed or oversized bodies,
unknown addresses, server errors), which the site's error handlers hand over here."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from backend.batches.steps import MAX_JSON_CHARS, json_text_problem

PREFIX = "/api/"
MAX_JSON_BODY_BYTES = 4 * MAX_JSON_CHARS  # every character in UTF-8's longest form
MESSAGES = {
    400: "The request could not be understood (malformed, or too many fields); nothing was stored.",
    403: "The request was refused.",
    404: "There is no API endpoint at this address; see /api/docs/.",
    500: "The server hit an unexpected problem; nothing was lost. Try again shortly.",
}


def is_api(request: HttpRequest) -> bool:
    return request.path.startswith(PREFIX)


def json_error(status: int, message: str | None = None) -> JsonResponse:
    return JsonResponse({"error": message or MESSAGES.get(status, "The request failed.")}, status=status)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's answer (status, Retry-After, WWW-Authenticate) with the API's one error shape."""
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and "detail" in response.data:
        response.data = {"error": str(response.data["detail"])}
    return response


class BoundedJSONParser(JSONParser):
    """JSON bodies bounded in size and depth before parsing: a bomb of brackets would make the parser
    recurse until it fails (a RecursionError, a 500) instead of a 400."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        encoding = (parser_context or {}).get("encoding", "utf-8")
        body = stream.read(MAX_JSON_BODY_BYTES + 1) if stream is not None else b""
        if len(body) > MAX_JSON_BODY_BYTES:  # read no further: the web holds at most this much of it
            raise ParseError(f"The JSON body was refused: at most {MAX_JSON_BODY_BYTES:,} bytes.")
        try:
            text = body.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"The body is not valid {encoding} text.") from exc
        problem = json_text_problem(text)
        if problem:
            raise ParseError(f"The JSON body was refused: {problem}")
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ParseError(f"The JSON body is not valid JSON: {exc}") from exc
