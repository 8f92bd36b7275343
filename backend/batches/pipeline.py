"""Chains of steps: validating them and the named presets people pick in one click."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.conf import settings

from backend.processors import registry

MAX_STEPS = 5


@dataclass(frozen=True)
class PresetChoice:
    key: str
    label: str
    steps: list[dict]


def clean_steps(raw_steps: object) -> list[dict]:
    """Validate a list of {"processor": name, "options": {...}} through each processor's own form.

    Options left out take their defaults, as in the form.
    Raises ValidationError with one message per problem, naming the step and the field.
    """
    if not isinstance(raw_steps, list) or not raw_steps:
        raise forms.ValidationError("Give at least one processing step.")
    if len(raw_steps) > MAX_STEPS:
        raise forms.ValidationError(f"At most {MAX_STEPS} steps can be chained.")
    cleaned, errors = [], []
    for number, step in enumerate(raw_steps, start=1):
        name = step.get("processor") if isinstance(step, dict) else None
        processor = registry.get(name) if isinstance(name, str) else None
        if processor is None:
            errors.append(f"Step {number}: “{name}” is not an available processing type.")
            continue
        options = step.get("options") or {}
        if not isinstance(options, dict):
            errors.append(f"Step {number} ({processor.label}): options must be an object.")
            continue
        form = processor.options_form(data={**processor.default_options(), **options})
        if not form.is_valid():
            for field, messages in form.errors.items():
                where = "" if field == "__all__" else f" {field}:"
                errors.extend(f"Step {number} ({processor.label}):{where} {message}" for message in messages)
            continue
        cleaned.append({"processor": processor.name, "options": form.cleaned_data})
    if errors:
        raise forms.ValidationError(errors)
    return cleaned


def presets() -> list[PresetChoice]:
    """Presets from settings, then the ones administrators defined in the admin."""
    from .models import Preset

    choices = [PresetChoice(key, value["label"], value["steps"]) for key, value in settings.PIPELINE_PRESETS.items()]
    choices += [PresetChoice(f"db-{p.pk}", p.label, p.steps) for p in Preset.objects.filter(enabled=True)]
    return choices
