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
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backend.batches.intake import BatchOrder, IntakeRefused
from backend.batches.models import Batch, BatchFile, StagedUpload
from backend.batches.selectors import batch_state
from backend.batches.staging import MAX_PARTS
from backend.batches.steps import MAX_STEPS, json_text_problem
from backend.processors import registry


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


class StepsField(JsonField):
    """A JSON array of steps; its schema names the processors offered (see schema.py)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(list, **kwargs)


class ProcessorNameField(serializers.CharField):
    """A processor's name; its schema lists the processors offered (see schema.py)."""


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
    processor = ProcessorNameField(required=False, help_text="A processor's name (GET /api/v1/processors).")
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


# A batch's state: the one representation, for the API, the waiting page (its first render and
# its polling) and the callbacks. Every link to a batch is made here, absolute from `base_url`.

# Shown beside the words, never instead of them; plain symbols that common fonts have (no emoji).
STATUS_ICONS = {
    "pending": "○", "queued": "○", "processing": "◐", "ready": "✓", "done": "✓",
    "failed": "✗", "expired": "⊗", "cancelled": "⊘",
}


def headline(status: str, done: int, failed: int, total: int) -> str:
    """What the waiting page says first: the batch's state in a few words, with its counts."""
    if status == Batch.Status.READY:
        if failed:
            return _("Ready: %(done)s done, %(failed)s failed") % {"done": done, "failed": failed}
        return ngettext("Ready: %(done)s file done", "Ready: %(done)s files done", done) % {"done": done}
    if status == Batch.Status.FAILED:
        return ngettext("Failed: the file could not be processed", "Failed: no file could be processed", total)
    if status == Batch.Status.EXPIRED:
        return _("Expired: the files were deleted")
    if status == Batch.Status.CANCELLED:
        return _("Cancelled")
    if status == Batch.Status.PENDING and not done + failed:
        return ngettext("Queued: %(total)s file", "Queued: %(total)s files", total) % {"total": total}
    return _("Processing: %(finished)s of %(total)s finished") % {"finished": done + failed, "total": total}


class _Linking(serializers.Serializer):
    def link(self, name: str, *args: object) -> str:
        return self.context["base_url"] + reverse(name, args=args)


class ResultSerializer(_Linking):
    name = serializers.CharField()
    size = serializers.IntegerField()
    url = serializers.SerializerMethodField(help_text="Downloads this one result while the batch lasts.")

    def get_url(self, result: dict) -> str:
        return self.link("web:result", self.context["batch_id"], result["file_id"], result["index"])


class FileStateSerializer(_Linking):
    id = serializers.UUIDField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    status = serializers.ChoiceField(choices=BatchFile.Status.values)
    status_label = serializers.SerializerMethodField(help_text="The status in the client's language.")
    status_icon = serializers.SerializerMethodField()
    progress = serializers.FloatField(min_value=0, max_value=1)
    error = serializers.CharField(allow_null=True, help_text="Why the file failed, in plain words.")
    size_change = serializers.IntegerField(allow_null=True, help_text="Results' size against the original's, in %.")
    results = serializers.SerializerMethodField(help_text="A finished file's results, each with its own link.")
    preview_url = serializers.SerializerMethodField(help_text="A small WebP of the first image result.")

    def get_status_label(self, file: dict) -> str:
        return str(BatchFile.Status(file["status"]).label)

    def get_status_icon(self, file: dict) -> str:
        return STATUS_ICONS[file["status"]]

    @extend_schema_field(ResultSerializer(many=True))
    def get_results(self, file: dict) -> list[dict]:
        return ResultSerializer([{**result, "file_id": file["id"]} for result in file["results"]], many=True,
                                context=self.context).data

    def get_preview_url(self, file: dict) -> str | None:
        return self.link("web:preview", self.context["batch_id"], file["id"]) if file["preview"] else None


class BatchStateSerializer(_Linking):
    """A batch's state, with absolute links: the API's answer, the waiting page's and the callbacks'."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Batch.Status.values)
    status_label = serializers.SerializerMethodField(help_text="The status in the client's language.")
    status_icon = serializers.SerializerMethodField()
    headline = serializers.SerializerMethodField(help_text='The state in a few words, e.g. "Ready: 11 done, 1 failed".')
    preset_label = serializers.CharField(allow_null=True, help_text="The preset it was made from, if any.")
    processors = serializers.ListField(child=serializers.CharField(), help_text="The chain of processor names.")
    processor_labels = serializers.SerializerMethodField()
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
    download_url = serializers.SerializerMethodField(help_text="The ZIP; only while the batch is ready.")
    errors_url = serializers.SerializerMethodField(help_text="errors.txt; once every file has ended and one failed.")
    cancel_url = serializers.SerializerMethodField(help_text="POST here to cancel; only while work remains.")
    status_url = serializers.SerializerMethodField(help_text="This answer (GET /api/v1/batches/<id>).")
    page_url = serializers.SerializerMethodField(help_text="The waiting page people see.")
    files = serializers.SerializerMethodField()

    def to_representation(self, state: dict) -> dict:
        self.context["batch_id"] = state["id"]
        return super().to_representation(state)

    def get_status_label(self, state: dict) -> str:
        return str(Batch.Status(state["status"]).label)

    def get_status_icon(self, state: dict) -> str:
        return STATUS_ICONS[state["status"]]

    def get_headline(self, state: dict) -> str:
        # Named after its preset when it was made from one: "Web gallery · Ready: 11 done, 1 failed".
        return " · ".join(filter(None, [state["preset_label"], headline(
            state["status"], state["done_count"], state["failed_count"], state["file_count"])]))

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_processor_labels(self, state: dict) -> list[str]:
        return [str(cls.label) if (cls := registry.get(name)) else name for name in state["processors"]]

    def get_download_url(self, state: dict) -> str | None:
        return self.link("web:download", state["id"]) if state["downloadable"] else None

    def get_errors_url(self, state: dict) -> str | None:
        return self.link("web:errors", state["id"]) if state["errors_report"] else None

    def get_cancel_url(self, state: dict) -> str | None:
        return self.link("api:batch-cancel", state["id"]) if state["cancellable"] else None

    def get_status_url(self, state: dict) -> str:
        return self.link("api:batch", state["id"])

    def get_page_url(self, state: dict) -> str:
        return self.link("web:batch", state["id"])

    @extend_schema_field(FileStateSerializer(many=True))
    def get_files(self, state: dict) -> list[dict]:
        return FileStateSerializer(state["files"], many=True, context=self.context).data


def batch_representation(batch: Batch, base_url: str) -> dict:
    """The batch's state as the API answers it; links start with `base_url` (scheme and host)."""
    return BatchStateSerializer(batch_state(batch), context={"base_url": base_url.rstrip("/")}).data


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What went wrong, in plain words.")
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False,
                                   help_text="For 400: each bad field or file, with its messages.")


class UploadStartSerializer(serializers.Serializer):
    """Begin sending one file in parts, straight to storage."""

    name = serializers.RegexField(r"^[^\x00]*\Z", max_length=1000,
                                  help_text="The file's name, shown and used for result names (no NUL character).")
    size = serializers.IntegerField(min_value=1, help_text="Its exact size in bytes; checked at completion.")

    def to_internal_value(self, data: Any) -> dict:
        return super().to_internal_value(_json_typed(data, {"name": "string", "size": "integer"}))


class UploadPartsRequestSerializer(serializers.Serializer):
    parts = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_PARTS), min_length=1,
                                  max_length=1000,
                                  help_text="Part numbers (1-based) to get URLs for.")

    def to_internal_value(self, data: Any) -> dict:
        return super().to_internal_value(_json_typed(data, {"parts": "array of integers"}))


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


JSON_TYPES = {"string": lambda v: isinstance(v, str), "integer": _is_integer,
              "array of integers": lambda v: isinstance(v, list) and all(_is_integer(n) for n in v)}


def _json_typed(data: Any, kinds: dict[str, str]) -> Any:
    """A JSON body says what type each value is: a number is no name, a text no size. (Form fields are
    all text, and are read as the schema says.)"""
    if isinstance(data, dict) and not hasattr(data, "getlist"):
        wrong = {key: [f"Must be a JSON {kind}."] for key, kind in kinds.items()
                 if key in data and not JSON_TYPES[kind](data[key])}
        if wrong:
            raise serializers.ValidationError(wrong)
    return data


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
