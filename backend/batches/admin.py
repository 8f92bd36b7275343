from django import forms
from django.contrib import admin

from .models import Batch, BatchFile, Preset
from .pipeline import clean_steps


class BatchFileInline(admin.TabularInline):
    model = BatchFile
    extra = 0
    can_delete = False
    fields = ("position", "original_name", "content_type", "size", "status", "progress", "attempts", "error")
    readonly_fields = fields


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "file_count", "done_count", "failed_count", "created_at", "expires_at")
    list_filter = ("status", "queue")
    search_fields = ("id", "files__original_name")
    readonly_fields = [f.name for f in Batch._meta.fields]
    inlines = [BatchFileInline]


@admin.register(BatchFile)
class BatchFileAdmin(admin.ModelAdmin):
    list_display = ("original_name", "batch", "status", "progress", "attempts", "started_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("original_name", "batch__id")
    readonly_fields = [f.name for f in BatchFile._meta.fields]


class PresetForm(forms.ModelForm):
    class Meta:
        model = Preset
        fields = ("label", "steps", "enabled")

    def clean_steps(self) -> list[dict]:
        # The same check as an upload's steps; stored cleaned, so every default is written out.
        return clean_steps(self.cleaned_data["steps"])


@admin.register(Preset)
class PresetAdmin(admin.ModelAdmin):
    form = PresetForm
    list_display = ("label", "step_names", "enabled")
    list_filter = ("enabled",)

    @admin.display(description="Steps")
    def step_names(self, preset: Preset) -> str:
        return " → ".join(str(step.get("processor")) for step in preset.steps if isinstance(step, dict))
