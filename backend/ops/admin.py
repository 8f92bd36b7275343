"""The operator's admin pages for batches, files and presets, with retry, cancel and expire actions."""

import uuid

from django import forms
from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.forms.fields import InvalidJSONInput
from django.http import HttpRequest

from backend.batches.lifecycle import batch_cancel, batch_retry_failed
from backend.batches.models import Batch, BatchFile, Preset
from backend.batches.steps import InvalidSteps, json_text_problem, steps_clean
from backend.batches.sweeper import batch_expire_now
from backend.processors import registry


class BatchFileInline(admin.TabularInline):
    model = BatchFile
    extra = 0
    can_delete = False
    fields = ("position", "original_name", "content_type", "size", "status", "progress", "attempts", "worker",
              "error")
    readonly_fields = fields


class ProcessorFilter(admin.SimpleListFilter):
    """Batches with the processor at any step of their chain."""

    title = "processor"
    parameter_name = "processor"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(cls.name, str(cls.label)) for cls in registry.all()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        name = self.value()
        if not name:
            return queryset
        # `chain` is the indexed "resize,convert" form of the steps: match a whole name at any step.
        field = "chain" if queryset.model is Batch else "batch__chain"
        return queryset.filter(Q(**{field: name}) | Q(**{f"{field}__startswith": f"{name},"})
                               | Q(**{f"{field}__endswith": f",{name}"}) | Q(**{f"{field}__contains": f",{name},"}))


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "steps_label", "file_count", "done_count", "failed_count", "created_at",
                    "expires_at")
    list_filter = ("status", ProcessorFilter, "queue")
    search_fields = ("id", "files__original_name")
    readonly_fields = [f.name for f in Batch._meta.fields]
    inlines = [BatchFileInline]
    actions = ["retry_failed", "cancel", "expire"]

    @admin.display(description="Steps")
    def steps_label(self, batch: Batch) -> str:
        return " → ".join(batch.processor_names)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, term: str) -> tuple[QuerySet, bool]:
        # An id is searched exactly (a UUID column cannot be searched by LIKE on every database).
        try:
            return queryset.filter(pk=uuid.UUID(term.strip())), False
        except ValueError:
            return queryset.filter(files__original_name__icontains=term).distinct(), True

    @admin.action(description="Retry failed files")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = sum(batch_retry_failed(batch.pk) for batch in queryset)
        self.message_user(request, f"{count} failed file(s) queued again.", messages.SUCCESS if count
                          else messages.WARNING)

    @admin.action(description="Cancel")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = sum(batch_cancel(batch.pk) for batch in queryset)
        self.message_user(request, f"{count} batch(es) cancelled; batches that had ended were left alone.")

    @admin.action(description="Expire now (delete every file)")
    def expire(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = sum(batch_expire_now(batch.pk) for batch in queryset)
        self.message_user(request, f"{count} batch(es) expired and their files deleted.")


@admin.register(BatchFile)
class BatchFileAdmin(admin.ModelAdmin):
    list_display = ("original_name", "batch", "status", "progress", "attempts", "worker", "started_at",
                    "finished_at")
    list_filter = ("status", ProcessorFilter, "queue", "worker")
    search_fields = ("original_name", "batch__id")
    readonly_fields = [f.name for f in BatchFile._meta.fields]


class BoundedJSONField(forms.JSONField):
    """Refuses a JSON text before parsing it when it is too large or nested (a bomb of brackets),
    both when validating and when showing the form again with the error."""

    def to_python(self, value: object) -> object:
        if isinstance(value, str) and (problem := json_text_problem(value)):
            raise forms.ValidationError(problem)
        return super().to_python(value)

    def bound_data(self, data: object, initial: object) -> object:
        if isinstance(data, str) and json_text_problem(data):
            return InvalidJSONInput(data)
        return super().bound_data(data, initial)


class PresetForm(forms.ModelForm):
    steps = BoundedJSONField(help_text=Preset._meta.get_field("steps").help_text)

    class Meta:
        model = Preset
        fields = ("label", "steps", "enabled")

    def clean_steps(self) -> list[dict]:
        # The same check as an upload's steps; stored cleaned, so every default is written out.
        try:
            return steps_clean(self.cleaned_data["steps"])
        except InvalidSteps as invalid:
            raise forms.ValidationError(invalid.sentences()) from None


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    form = PresetForm
    list_display = ("label", "step_names", "enabled")
    list_filter = ("enabled",)

    @admin.display(description="Steps")
    def step_names(self, preset: Preset) -> str:
        return " → ".join(str(step.get("processor")) for step in preset.steps if isinstance(step, dict))
