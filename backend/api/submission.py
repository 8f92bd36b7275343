"""An API batch request turned into the upload form's own data, so both are checked by one form."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.datastructures import MultiValueDict

from backend.batches import webhooks
from backend.batches.forms import UploadForm
from backend.batches.pipeline import MAX_STEPS
from backend.processors import registry


class BadRequest(Exception):
    """The request's shape is wrong; `errors` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def webhook_url(data: Any) -> str:
    """The request's callback URL, checked as the sender will check it again before calling."""
    url = data.get("webhook_url") or ""
    if not url:
        return ""
    if not settings.WEBHOOK_ALLOWED_HOSTS:
        raise BadRequest({"webhook_url": ["This site sends no callbacks (WEBHOOK_ALLOWED_HOSTS is empty)."]})
    if len(url) > 2000:
        raise BadRequest({"webhook_url": ["At most 2000 characters."]})
    try:
        webhooks.check_url(url)
    except webhooks.Refused as exc:
        raise BadRequest({"webhook_url": [f"The callback URL {exc}."]}) from None
    return url


def _json(data: Any, name: str, kind: type) -> Any:
    raw = data.get(name)
    if raw in (None, ""):
        return None
    if isinstance(raw, (dict, list)):
        value = raw
    else:
        try:
            value = json.loads(raw)
        except ValueError:
            raise BadRequest({name: ["Not valid JSON."]}) from None
    if not isinstance(value, kind):
        raise BadRequest({name: [f"Must be a JSON {'object' if kind is dict else 'array'}."]})
    return value


def _requested_steps(data: Any) -> list[tuple[str, dict, str]]:
    """[(processor, options, where)] from `processor` + `options`, or from `steps`."""
    steps = _json(data, "steps", list)
    if steps is not None:
        if data.get("processor") or data.get("options"):
            raise BadRequest({"steps": ["Give either steps, or processor with options, not both."]})
        if not 1 <= len(steps) <= MAX_STEPS:
            raise BadRequest({"steps": [f"Give from 1 to {MAX_STEPS} steps."]})
        requested = []
        for index, step in enumerate(steps):
            if not isinstance(step, dict) or not isinstance(step.get("processor"), str) \
                    or not isinstance(step.get("options", {}), dict):
                raise BadRequest({f"steps[{index}]": ['Each step is {"processor": name, "options": {…}}.']})
            requested.append((step["processor"], step.get("options", {}), f"steps[{index}].options"))
        return requested
    processor = data.get("processor")
    if not processor:
        return []
    return [(str(processor), _json(data, "options", dict) or {}, "options")]


def form_for(data: Any, files: MultiValueDict) -> tuple[UploadForm, dict[str, str]]:
    """The bound upload form, and for each form field prefix the API name it came from (for errors).

    Option values are sent as JSON; option files (e.g. a logo) as multipart parts
    named `options.<field>` or, with steps, `steps[<index>].<field>`.
    """
    requested = _requested_steps(data)
    preset = data.get("preset") or ""
    if preset and requested:
        raise BadRequest({"preset": ["Give a preset, or processor/steps, not both."]})
    form_data: dict[str, Any] = {"preset": preset}
    form_files = MultiValueDict({"files": files.getlist("files")})
    where_of: dict[str, str] = {}
    unknown: dict[str, list[str]] = {}
    for index, (name, options, where) in enumerate(requested):
        prefix = "" if index == 0 else f"step{index + 1}-"
        form_data[f"{prefix}processor"] = name
        cls = registry.get(name)
        where_of[f"{prefix}{name}"] = where
        if cls is None:
            continue  # the form names the unknown processor
        fields = cls.Options.base_fields
        # Options left out take their defaults, as on the page and in presets.
        for key, value in {**cls.default_options(), **options}.items():
            if key not in fields:
                unknown.setdefault(f"{where}.{key}", []).append("No such option.")
            elif value is not None and not isinstance(value, (dict, list)):
                form_data[f"{prefix}{name}-{key}"] = value
            elif isinstance(value, (dict, list)):
                unknown.setdefault(f"{where}.{key}", []).append("Must be a single value.")
        file_part = "options" if where == "options" else f"steps[{index}]"
        for key in fields:
            upload: UploadedFile | None = files.get(f"{file_part}.{key}")
            if upload is not None:
                form_files[f"{prefix}{name}-{key}"] = upload
    if unknown:
        raise BadRequest(unknown)
    return UploadForm(form_data, form_files), where_of


def form_errors(form: UploadForm, where_of: dict[str, str]) -> dict[str, list[str]]:
    """Every message of the form and of the chosen steps' option forms, under the API's field names."""
    errors: dict[str, list[str]] = {}
    for field, messages in form.errors.items():
        key = "non_field_errors" if field == "__all__" else field
        errors[key] = [str(message) for message in messages]
    for slot in form.slots:
        name = form.data.get(slot.field_name)
        options = slot.option_forms.get(name) if name else None
        if options is None or not options.is_bound:
            continue
        where = where_of.get(f"{slot.prefix}{name}", "options")
        for field, messages in options.errors.items():
            key = where if field == "__all__" else f"{where}.{field}"
            errors.setdefault(key, []).extend(str(message) for message in messages)
    if len(errors) > 1 and "non_field_errors" in errors:
        # "Check the options of … below" points at the form's layout; the fields are named here instead.
        errors["non_field_errors"] = [m for m in errors["non_field_errors"] if not m.startswith("Check the options")]
        if not errors["non_field_errors"]:
            del errors["non_field_errors"]
    return errors
