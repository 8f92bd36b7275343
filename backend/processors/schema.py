"""A processor's options form described as JSON Schema, for API clients.

Read from the same form the upload page renders, so the two never disagree.
"""

from __future__ import annotations

from typing import Any

from django import forms

from .base import Processor
from .fields import ColourField, ImageFileField


def _plain(value: Any) -> Any:
    return str(value) if value is not None and not isinstance(value, (bool, int, float, str)) else value


def field_schema(field: forms.Field) -> dict[str, Any]:
    schema: dict[str, Any] = {}
    if isinstance(field, ImageFileField):
        schema = {"type": "string", "format": "binary",
                  "description": "An image file, sent as its own multipart part (see POST /api/v1/batches)."}
    elif isinstance(field, forms.BooleanField):
        schema = {"type": "boolean"}
    elif isinstance(field, forms.FloatField):  # before IntegerField: Django's FloatField is a subclass of it
        schema = {"type": "number"}
    elif isinstance(field, forms.IntegerField):
        schema = {"type": "integer"}
    elif isinstance(field, forms.ChoiceField):
        coerce = getattr(field, "coerce", None)
        values = [value for value, _label in field.choices if value != ""]
        if coerce is int:
            values = [int(value) for value in values]
        schema = {"enum": values + ([None] if not field.required else [])}
        schema["x-labels"] = {str(value): str(label) for value, label in field.choices if value != ""}
    elif isinstance(field, ColourField):
        schema = {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"}
    elif isinstance(field, forms.CharField):
        schema = {"type": "string"}
        if field.max_length:
            schema["maxLength"] = field.max_length
    else:
        schema = {"type": "string"}
    for attribute, key in (("min_value", "minimum"), ("max_value", "maximum")):
        if getattr(field, attribute, None) is not None:
            schema[key] = getattr(field, attribute)
    if field.label:
        schema["title"] = str(field.label)
    if field.help_text:
        schema["description"] = str(field.help_text)
    if field.initial is not None and not isinstance(field, ImageFileField):
        coerce = getattr(field, "coerce", None)
        schema["default"] = coerce(field.initial) if coerce is int else _plain(field.initial)
    if "type" in schema and not field.required and not isinstance(field, forms.BooleanField):
        schema["type"] = [schema["type"], "null"]
    return schema


def options_schema(processor: type[Processor]) -> dict[str, Any]:
    fields = processor.Options.base_fields
    return {
        "type": "object",
        "properties": {name: field_schema(field) for name, field in fields.items()},
        "required": [name for name, field in fields.items() if field.required and field.initial is None],
        "additionalProperties": False,
    }
