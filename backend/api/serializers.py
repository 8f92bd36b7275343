"""The API's own input and output: serializers that parse requests and render answers.

Input is turned into the same `BatchOrder` the pages make and checked by the same service
(`batch_intake`); error keys name the request's own fields
("options.width", "steps[1].options.format", "files") in every language.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backend.batches.intake import BatchOrder, IntakeRefused
from backend.batches.models import Batch, BatchFile, StagedUpload
from backend.batches.steps import MAX_STEPS, json_text_problem


class JsonField(serializers.Field):
    """A JSON text (a multipart form part) or an already parsed value, of one JSON type."""

    def __init__(self, kind: type, **kwargs: Any) -> None:
        self.kind = kind
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str):
            problem = json_text_problem(data)
            if problem:
                raise serializers.ValidationError(problem)
            try:
                data = json.loads(data)
            except ValueError:
                raise serializers.ValidationError("Not valid JSON.") from None
        if not isinstance(data, self.kind):
            raise serializers.ValidationError(f"Must be a JSON {'object' if self.kind is dict else 'array'}.")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


@extend_schema_field({"type": "object", "additionalProperties": True})
class OptionsField(JsonField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(dict, **kwargs)


@extend_schema_field({"type": "array", "maxItems": MAX_STEPS, "items": {
    "type": "object", "required": ["processor"],
    "properties": {"processor": {"type": "string"}, "options": {"type": "object", "additionalProperties": True}}}})
class StepsField(JsonField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(list, **kwargs)


class BatchCreateSerializer(serializers.Serializer):
    """multipart/form-data. Give one of: `processor` (+ `options`), `steps`, or `preset`.

    Option files (a watermark's logo) are parts of their own: `options.<name>`, or with
    steps `steps[<index>].<name>`.
    """

    files = serializers.ListField(
        child=serializers.FileField(allow_empty_file=True, use_url=False), required=False,
        help_text="One part per file (up to MAX_REQUEST_BYTES in all).")
    uploads = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=settings.MAX_FILES_PER_BATCH,
        help_text="Ids of completed uploads sent in parts (POST /api/v1/uploads), one part each.")
    processor = serializers.CharField(required=False, help_text="A processor's name (GET /api/v1/processors).")
    options = OptionsField(required=False, help_text='JSON object of options, e.g. {"width": 800}.')
    steps = StepsField(required=False, help_text=f'JSON array of up to {MAX_STEPS} steps: '
                                                 '[{"processor": "resize", "options": {…}}, …].')
    preset = serializers.CharField(required=False, help_text="A preset's key (GET /api/v1/presets).")
    webhook_url = serializers.CharField(required=False, help_text="Receives one signed POST when the batch ends.")

    def validate(self, data: dict) -> dict:
        """One way of naming the chain, turned into a BatchOrder for batch_intake (which checks the rest)."""
        given = [name for name in ("preset", "steps", "processor") if data.get(name) not in (None, "")]
        if not given:
            raise serializers.ValidationError({"processor": ["Choose what to do with the files: give processor, "
                                                             "steps or preset."]})
        if len(given) > 1 or (data.get("options") and "processor" not in given):
            raise serializers.ValidationError({given[0]: ["Give only one of: preset, steps, or processor with "
                                                          "options."]})
        source = given[0]
        order = BatchOrder(files=data.get("files") or [], upload_ids=data.get("uploads") or [],
                           webhook_url=data.get("webhook_url") or "")
        if source == "preset":
            order.preset = data["preset"]
        elif source == "steps":
            order.steps = data["steps"]
            order.step_files = [self._option_files(f"steps[{index}]") for index in range(len(data["steps"]))]
        else:
            order.steps = [{"processor": data["processor"], "options": data.get("options") or {}}]
            order.step_files = [self._option_files("options")]
        return {"order": order, "source": source}

    def _option_files(self, part: str) -> dict[str, UploadedFile]:
        """The request's option files for one step: parts named `<part>.<option>`."""
        prefix = f"{part}."
        return {key.removeprefix(prefix): value for key, value in self.initial_data.items()
                if key.startswith(prefix) and isinstance(value, UploadedFile)}


def refusal_errors(refused: IntakeRefused, source: str) -> dict[str, list[str]]:
    """What batch_intake refused, each problem under the request's own name for it."""
    errors: dict[str, list[str]] = {}
    if refused.steps is not None:
        for problem, sentence in zip(refused.steps.problems, refused.steps.sentences(), strict=True):
            if source == "preset":
                key, message = "preset", sentence  # the preset's steps are not the client's: say which step
            elif problem.step is None:
                key, message = source, problem.message
            elif source == "steps":
                key = f"steps[{problem.step}]" + (f".{problem.field}" if problem.field else "")
                message = problem.message
            else:  # processor + options: the one step's fields are named directly
                key, message = problem.field or "processor", problem.message
            errors.setdefault(key, []).append(message)
    for key, sentences in refused.problems.items():
        errors.setdefault(key, []).extend(sentences)
    return errors


# ---------------------------------------------------------------------------
# Answers


class ProcessorSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    queue = serializers.CharField()
    accepts = serializers.ListField(child=serializers.CharField())
    options_schema = serializers.DictField(help_text="JSON Schema of the `options` object.")


class PresetSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="Give it as `preset` when creating a batch.")
    label = serializers.CharField()
    steps = serializers.ListField(child=serializers.DictField(), help_text='[{"processor": name, "options": {…}}, …]')


class ResultSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()
    url = serializers.CharField(help_text="Absolute; downloads this one result while the batch lasts.")


class FileStateSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    status = serializers.ChoiceField(choices=BatchFile.Status.values)
    status_label = serializers.CharField(help_text="The status in the client's language.")
    status_icon = serializers.CharField()
    progress = serializers.FloatField(min_value=0, max_value=1)
    error = serializers.CharField(allow_null=True, help_text="Why the file failed, in plain words.")
    size_change = serializers.IntegerField(allow_null=True, help_text="Results' size against the original's, in %.")
    results = ResultSerializer(many=True, help_text="A finished file's results, each with its own link.")
    preview_url = serializers.CharField(allow_null=True, help_text="Absolute; a small WebP of the first image result.")


class BatchStateSerializer(serializers.Serializer):
    """A batch's state (the waiting page's own figures), with absolute links for programs."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Batch.Status.values)
    status_label = serializers.CharField(help_text="The status in the client's language.")
    status_icon = serializers.CharField()
    headline = serializers.CharField(help_text='The state in a few words, e.g. "Ready: 11 done, 1 failed".')
    preset_label = serializers.CharField(allow_null=True, help_text="The preset it was made from, if any.")
    processors = serializers.ListField(child=serializers.CharField(), help_text="The chain of processor names.")
    processor_labels = serializers.ListField(child=serializers.CharField())
    file_count = serializers.IntegerField()
    done_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    progress = serializers.FloatField(min_value=0, max_value=1)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    ready_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True, help_text="When the download stops working.")
    cancelled_at = serializers.DateTimeField(allow_null=True)
    now = serializers.DateTimeField(help_text="The server's clock, for the countdowns.")
    elapsed_seconds = serializers.IntegerField()
    eta_seconds = serializers.IntegerField(allow_null=True, help_text="Estimated seconds left, once there is a pace.")
    expires_in_seconds = serializers.IntegerField(allow_null=True)
    archive_name = serializers.CharField(allow_null=True)
    archive_size = serializers.IntegerField(allow_null=True)
    download_url = serializers.SerializerMethodField(help_text="Absolute; only while the batch is ready.")
    cancel_url = serializers.SerializerMethodField(help_text="POST here to cancel; only while work remains.")
    status_url = serializers.SerializerMethodField()
    page_url = serializers.SerializerMethodField(help_text="The waiting page people see.")
    files = FileStateSerializer(many=True)

    def to_representation(self, state: dict) -> dict:
        request = self.context["request"]
        for file in state["files"]:  # each result's own link, and the preview's, absolute for programs
            for result in file["results"]:
                result["url"] = request.build_absolute_uri(
                    reverse("web:result", args=[state["id"], file["id"], result["index"]]))
            file["preview_url"] = request.build_absolute_uri(
                reverse("web:preview", args=[state["id"], file["id"]])) if file["preview"] else None
        return super().to_representation(state)

    def _absolute(self, name: str, state: dict) -> str:
        return self.context["request"].build_absolute_uri(reverse(name, args=[state["id"]]))

    def get_download_url(self, state: dict) -> str | None:
        return self._absolute("web:download", state) if state["downloadable"] else None

    def get_cancel_url(self, state: dict) -> str | None:
        return self._absolute("api:batch-cancel", state) if state["cancellable"] else None

    def get_status_url(self, state: dict) -> str:
        return self._absolute("api:batch", state)

    def get_page_url(self, state: dict) -> str:
        return self._absolute("web:batch", state)


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What went wrong, in plain words.")
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False,
                                   help_text="For 400: each bad field or file, with its messages.")


class UploadStartSerializer(serializers.Serializer):
    """Begin sending one file in parts, straight to storage."""

    name = serializers.CharField(max_length=1000, help_text="The file's name, shown and used for result names.")
    size = serializers.IntegerField(min_value=1, help_text="Its exact size in bytes; checked at completion.")


class UploadPartsRequestSerializer(serializers.Serializer):
    parts = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000,
                                  help_text="Part numbers (1-based) to get URLs for.")


class UploadSerializer(serializers.Serializer):
    """An upload in parts: part i (1-based) is bytes [(i-1)·part_size, i·part_size) of the file."""

    id = serializers.UUIDField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    part_size = serializers.IntegerField()
    part_count = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["open", "complete"],
                                     help_text="`open` while parts arrive; `complete` once checked.")
    content_type = serializers.CharField(help_text="Sniffed from the stored bytes at completion.")
    parts = serializers.SerializerMethodField(help_text="Parts storage already holds: {number, size}.")
    parts_url = serializers.SerializerMethodField()
    complete_url = serializers.SerializerMethodField()

    def get_parts(self, upload: StagedUpload) -> list[dict]:
        stored = self.context.get("parts") or {}
        return [{"number": number, "size": size} for number, size in sorted(stored.items())]

    def get_parts_url(self, upload: StagedUpload) -> str:
        return self.context["request"].build_absolute_uri(reverse("api:upload-parts", args=[upload.id]))

    def get_complete_url(self, upload: StagedUpload) -> str:
        return self.context["request"].build_absolute_uri(reverse("api:upload-complete", args=[upload.id]))
