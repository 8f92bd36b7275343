"""The API's JSON parser (DEFAULT_PARSER_CLASSES; kept apart from the views, which DRF's settings import)."""

from __future__ import annotations

import json
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from backend.batches.steps import MAX_JSON_CHARS, json_text_problem

MAX_JSON_BODY_BYTES = 4 * MAX_JSON_CHARS  # every character in UTF-8's longest form


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
