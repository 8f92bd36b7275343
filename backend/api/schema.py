"""The OpenAPI document says who may call each operation: anonymous calls are allowed unless
API_REQUIRE_TOKEN is on (operators' operations always need a staff token or session)."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema

from backend.batches.steps import MAX_STEPS
from backend.processors import registry

from .permissions import Operator


class ApiSchema(AutoSchema):
    def get_auth(self) -> list[dict]:
        auth = super().get_auth()
        operators_only = any(isinstance(permission, Operator) for permission in self.view.get_permissions())
        if not settings.API_REQUIRE_TOKEN and not operators_only and {} not in auth:
            auth.append({})  # no credentials at all
        return auth


def _processor_names() -> list[str]:
    return [cls.name for cls in registry.available()]


class ProcessorNameExtension(OpenApiSerializerFieldExtension):
    """`processor`: one of the names offered on this site, read when the document is made."""

    target_class = "backend.api.serializers.ProcessorNameField"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> dict:
        return {"type": "string", "enum": _processor_names()}


class StepsExtension(OpenApiSerializerFieldExtension):
    target_class = "backend.api.serializers.StepsField"

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> dict:
        return {"type": "array", "minItems": 1, "maxItems": MAX_STEPS, "items": {
            "type": "object", "required": ["processor"],
            "properties": {"processor": {"type": "string", "enum": _processor_names()},
                           "options": {"type": "object", "additionalProperties": True}}}}
