"""The upload form: files plus a processing type and its options, all checked
before a single byte is stored."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backend.processors import registry
from backend.processors.base import Processor

from .intake import Upload
from .names import safe_filename
from .pipeline import MAX_STEPS, clean_steps, presets
from .sniffing import Refused, describe, is_media, sniff

MB = 1024 * 1024


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        files = [f for f in (data if isinstance(data, (list, tuple)) else [data]) if f]
        if not files:
            raise forms.ValidationError(_("Choose at least one file to upload."), code="required")
        return files


def accepted_types(processor: type[Processor]) -> str:
    families = {"image/*": _("images"), "video/*": _("videos"), "audio/*": _("audio files")}
    names = [str(families.get(pattern) or describe(pattern)) for pattern in processor.accepts]
    if len(names) == 1:
        return names[0]
    return _("%(some)s and %(last)s") % {"some": ", ".join(names[:-1]), "last": names[-1]}


def _mb(size: int) -> str:
    return f"{size / MB:.1f} MB"


class StepSlot:
    """One position in the chain: a processor choice plus every processor's options form.

    The first slot's fields carry no prefix ("processor", "resize-width"), so a
    single-step upload stays as simple as it looks; later ones are "step2-…".
    """

    def __init__(self, index: int, processors: list[type[Processor]], data: Any, files: Any) -> None:
        self.index = index
        self.number = index + 1
        self.prefix = "" if index == 0 else f"step{self.number}-"
        self.field_name = f"{self.prefix}processor"
        selected = data.get(self.field_name) if data is not None else None
        # Only the chosen processor's options are bound and validated; the others keep their defaults.
        self.option_forms = {
            p.name: p.options_form(
                data=data if p.name == selected else None,
                files=files if p.name == selected else None,
                prefix=f"{self.prefix}{p.name}",
            )
            for p in processors
        }
        self.processors = processors

    def sections(self) -> list[tuple[type[Processor], forms.Form]]:
        return [(p, self.option_forms[p.name]) for p in self.processors]


class UploadForm(forms.Form):
    # Fields are checked in order; the files come last, once the first step is known.
    preset = forms.ChoiceField(label=gettext_lazy("Preset"), required=False)
    files = MultipleFileField(label=gettext_lazy("Files"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.processors = registry.available()
        self.presets = {choice.key: choice for choice in presets()}
        self.fields["preset"].choices = [("", _("None: choose the steps below"))] + [
            (key, choice.label) for key, choice in self.presets.items()
        ]
        data = self.data if self.is_bound else None
        files = self.files if self.is_bound else None
        self.slots = [StepSlot(index, self.processors, data, files) for index in range(MAX_STEPS)]
        for slot in self.slots:
            blank = [] if slot.index == 0 else [("", _("— no further step —"))]
            self.fields[slot.field_name] = forms.ChoiceField(
                label=_("Processing") if slot.index == 0 else _("Step %(number)s") % {"number": slot.number},
                required=False,
                choices=blank + [(p.name, p.label) for p in self.processors],
                initial=self.processors[0].name if slot.index == 0 and self.processors else "",
            )
            slot.field = self[slot.field_name]
        self.order_fields(["preset", *(slot.field_name for slot in self.slots), "files"])
        self.uploads: list[Upload] = []
        self.steps: list[dict] = []

    def _first_processor(self) -> type[Processor] | None:
        preset = self.presets.get(self.cleaned_data.get("preset") or "")
        if preset is not None:
            return registry.get(preset.steps[0]["processor"])
        return registry.get(self.cleaned_data.get("processor") or "")

    def clean_files(self) -> list[UploadedFile]:
        files = self.cleaned_data["files"]
        if len(files) > settings.MAX_FILES_PER_BATCH:
            raise forms.ValidationError(
                _("Too many files: %(count)s chosen, at most %(limit)s per batch.")
                % {"count": len(files), "limit": settings.MAX_FILES_PER_BATCH}
            )
        processor = self._first_processor()
        errors, uploads = [], []
        for file in files:
            name = safe_filename(file.name)
            try:
                sniffed = sniff(file)
            except Refused as exc:
                errors.append(_("“%(name)s” %(reason)s.") % {"name": name, "reason": exc})
                continue
            limit = settings.MAX_MEDIA_FILE_BYTES if is_media(sniffed.content_type) else settings.MAX_FILE_BYTES
            if file.size > limit:
                message = (_("“%(name)s” is %(size)s; each video or audio file may be at most %(limit)s.")
                           if is_media(sniffed.content_type)
                           else _("“%(name)s” is %(size)s; each image may be at most %(limit)s."))
                errors.append(message % {"name": name, "size": _mb(file.size), "limit": _mb(limit)})
                continue
            if processor is not None and not processor.accepts_type(sniffed.content_type):
                errors.append(_("“%(name)s” is %(type)s; %(processor)s accepts %(accepted)s.") % {
                    "name": name, "type": describe(sniffed.content_type), "processor": processor.label,
                    "accepted": accepted_types(processor)})
                continue
            uploads.append(Upload(file=file, name=name, sniffed=sniffed))
        total = sum(f.size for f in files)
        if total > settings.MAX_BATCH_BYTES:
            errors.append(_("The files add up to %(total)s; a batch may be at most %(limit)s.")
                          % {"total": _mb(total), "limit": _mb(settings.MAX_BATCH_BYTES)})
        if errors:
            raise forms.ValidationError(errors)
        self.uploads = uploads
        return files

    def clean(self) -> dict:
        cleaned = super().clean()
        preset = self.presets.get(cleaned.get("preset") or "")
        if preset is not None:
            try:
                self.steps = clean_steps(preset.steps)
            except forms.ValidationError as exc:
                self.add_error("preset", exc)
            return cleaned
        chosen = [slot for slot in self.slots if cleaned.get(slot.field_name)]
        if not chosen:
            self.add_error("processor", _("Choose what to do with the files."))
            return cleaned
        steps = []
        for slot in chosen:
            name = cleaned[slot.field_name]
            options = slot.option_forms[name]
            if not options.is_valid():
                label = registry.get(name).label
                if len(chosen) == 1:
                    message = _("Check the options of “%(label)s” below.") % {"label": label}
                else:
                    message = _("Check the options of step %(number)s, “%(label)s” below.") % {
                        "number": slot.number, "label": label}
                self.add_error(None, message)
                continue
            steps.append({"processor": name, "options": options.cleaned_data})
        self.steps = steps if len(steps) == len(chosen) else []
        return cleaned
