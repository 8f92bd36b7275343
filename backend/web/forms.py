"""The upload form: files plus a processing chain (or a preset) and its options.

It renders the page, turns what was posted into a `BatchOrder`, and maps what `batch_intake`
refuses back onto its fields; the rules themselves all live in the intake service.
"""

from __future__ import annotations

import uuid
from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backend.batches.intake import BatchOrder, IntakeRefused
from backend.batches.steps import MAX_STEPS, InvalidSteps, presets_list
from backend.processors import registry
from backend.processors.base import Processor


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    widget = MultipleFileInput

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        return [f for f in (data if isinstance(data, (list, tuple)) else [data]) if f]


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

    def raw_step(self, name: str) -> tuple[dict, dict[str, UploadedFile]]:
        """The chosen processor's options as submitted (unprefixed), and its option files apart."""
        form = self.option_forms[name]
        options, files = {}, {}
        for field_name, field in form.fields.items():
            value = form[field_name].data
            if isinstance(field, forms.FileField):
                if isinstance(value, UploadedFile):
                    files[field_name] = value
            else:
                options[field_name] = value
        return options, files


class UploadForm(forms.Form):
    # Fields are checked in order; the files come last, once the first step is known.
    preset = forms.ChoiceField(label=gettext_lazy("Preset"), required=False)
    # With `uploads` (ids of files the page already sent in parts, straight to storage), files may be none.
    files = MultipleFileField(label=gettext_lazy("Files"), required=False)
    uploads = forms.Field(required=False, widget=forms.MultipleHiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.processors = registry.available()
        self.presets = {choice.key: choice for choice in presets_list()}
        # Each preset's steps, for the page to start a chain from one ("+ Add a step" after choosing it).
        self.preset_steps = {key: choice.steps for key, choice in self.presets.items()}
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
        self.order_fields(["preset", *(slot.field_name for slot in self.slots), "files", "uploads"])
        self.chosen: list[StepSlot] = []

    def clean_uploads(self) -> list[uuid.UUID]:
        """Ids of files the page already sent in parts, straight to storage."""
        values = self.cleaned_data.get("uploads") or []
        try:
            return [uuid.UUID(str(value)) for value in ([values] if isinstance(values, str) else values)]
        except ValueError:
            raise forms.ValidationError(_("An upload id is not valid; reload the page and try again.")) from None

    def clean(self) -> dict:
        cleaned = super().clean()
        self.chosen = [slot for slot in self.slots if cleaned.get(slot.field_name)]
        if not cleaned.get("preset") and not self.chosen:
            self.add_error("processor", _("Choose what to do with the files."))
        return cleaned

    def order(self) -> BatchOrder:
        """What the person asked for, for batch_intake (after is_valid)."""
        cleaned = self.cleaned_data
        if cleaned.get("preset"):
            return BatchOrder(preset=cleaned["preset"], files=cleaned["files"], upload_ids=cleaned["uploads"])
        raw_steps, step_files = [], []
        for slot in self.chosen:
            options, files = slot.raw_step(cleaned[slot.field_name])
            raw_steps.append({"processor": cleaned[slot.field_name], "options": options})
            step_files.append(files)
        return BatchOrder(steps=raw_steps, step_files=step_files, files=cleaned["files"],
                          upload_ids=cleaned["uploads"])

    def show_refusal(self, refused: IntakeRefused) -> None:
        """The service's problems beside the fields they concern."""
        if refused.steps is not None:
            if self.cleaned_data.get("preset"):
                self.add_error("preset", refused.steps.sentences())
            else:
                self._show(refused.steps, self.chosen)
        for key, sentences in refused.problems.items():
            self.add_error("preset" if key == "preset" else "files", sentences)

    def _show(self, invalid: InvalidSteps, chosen: list[StepSlot]) -> None:
        """Option problems show beside their fields (the bound option forms render them); the rest here."""
        pointed_at: set[int] = set()
        for problem in invalid.problems:
            if problem.step is None:
                self.add_error(None, problem.message)
            elif problem.field.startswith("options"):
                if problem.step in pointed_at:
                    continue
                pointed_at.add(problem.step)
                label = invalid.labels.get(problem.step, "")
                if len(chosen) == 1:
                    message = _("Check the options of “%(label)s” below.") % {"label": label}
                else:
                    message = _("Check the options of step %(number)s, “%(label)s” below.") % {
                        "number": chosen[problem.step].number, "label": label}
                self.add_error(None, message)
            else:
                self.add_error(chosen[problem.step].field_name, problem.message)
