from django.contrib import admin

from .models import Batch, BatchFile


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
