"""The upload form: files plus a processing type and its options, all checked
before a single byte is stored."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from backend.processors import registry
from backend.processors.base import Processor

from .intake import Upload, queue_for
from .names import safe_filename
from .sniffing import Refused, describe, sniff

MB = 1024 * 1024


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = [f for f in (data if isinstance(data, (list, tuple)) else [data]) if f]
        if not files:
            raise forms.ValidationError("Choose at least one file to upload.", code="required")
        return files


def accepted_types(processor: type[Processor]) -> str:
    names = ["images" if pattern == "image/*" else describe(pattern) for pattern in processor.accepts]
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


class UploadForm(forms.Form):
    # The processor comes first: checking the files needs to know what it accepts.
    processor = forms.ChoiceField(label="Processing")
    files = MultipleFileField(label="Files")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.processors = registry.available()
        self.fields["processor"].choices = [(p.name, p.label) for p in self.processors]
        if self.processors:
            self.fields["processor"].initial = self.processors[0].name
        selected = self.data.get("processor") if self.is_bound else None
        # Only the chosen processor's options are bound and validated; the others stay at their defaults.
        self.option_forms = {
            p.name: p.options_form(
                data=self.data if p.name == selected else None,
                files=self.files if p.name == selected else None,
                prefix=p.name,
            )
            for p in self.processors
        }
        self.uploads: list[Upload] = []
        self.steps: list[dict] = []

    def processor_sections(self) -> list[tuple[type[Processor], forms.Form]]:
        return [(p, self.option_forms[p.name]) for p in self.processors]

    def clean_files(self) -> list[UploadedFile]:
        files = self.cleaned_data["files"]
        if len(files) > settings.MAX_FILES_PER_BATCH:
            raise forms.ValidationError(
                f"Too many files: {len(files)} chosen, at most {settings.MAX_FILES_PER_BATCH} per batch."
            )
        processor = registry.get(self.cleaned_data.get("processor", ""))
        errors, uploads = [], []
        for file in files:
            name = safe_filename(file.name)
            if file.size > settings.MAX_FILE_BYTES:
                errors.append(f"“{name}” is {_mb(file.size)}; each file may be at most {_mb(settings.MAX_FILE_BYTES)}.")
                continue
            try:
                sniffed = sniff(file)
            except Refused as exc:
                errors.append(f"“{name}” {exc}.")
                continue
            if processor is not None and not processor.accepts_type(sniffed.content_type):
                errors.append(f"“{name}” is {describe(sniffed.content_type)}; "
                              f"{processor.label} accepts {accepted_types(processor)}.")
                continue
            uploads.append(Upload(file=file, name=name, sniffed=sniffed))
        total = sum(f.size for f in files)
        if total > settings.MAX_BATCH_BYTES:
            errors.append(f"The files add up to {_mb(total)}; a batch may be at most {_mb(settings.MAX_BATCH_BYTES)}.")
        if errors:
            raise forms.ValidationError(errors)
        self.uploads = uploads
        return files

    def clean(self) -> dict:
        cleaned = super().clean()
        processor = registry.get(cleaned.get("processor", ""))
        if processor is None:
            return cleaned
        options = self.option_forms[processor.name]
        if not options.is_valid():
            self.add_error(None, f"Check the options of “{processor.label}” below.")
            return cleaned
        self.steps = [{"processor": processor.name, "options": options.cleaned_data}]
        return cleaned

    @property
    def queue(self) -> str:
        return queue_for(self.steps)
