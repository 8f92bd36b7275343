"""Shapes of requests and answers, for validation of the simple parts and for the OpenAPI document."""

from rest_framework import serializers


class ProcessorSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    queue = serializers.CharField()
    accepts = serializers.ListField(child=serializers.CharField())
    options_schema = serializers.DictField(help_text="JSON Schema of the `options` object.")


class BatchCreateSerializer(serializers.Serializer):
    """multipart/form-data. Give one of: `processor` (+ `options`), `steps`, or `preset`."""

    files = serializers.ListField(child=serializers.FileField(), help_text="One part per file.")
    processor = serializers.CharField(required=False, help_text="A processor's name (GET /api/v1/processors).")
    options = serializers.CharField(required=False, help_text='JSON object of options, e.g. {"width": 800}.')
    steps = serializers.CharField(
        required=False, help_text='JSON array of up to 5 steps: [{"processor": "resize", "options": {…}}, …].')
    preset = serializers.CharField(required=False, help_text="A preset's key instead of processor or steps.")
    webhook_url = serializers.URLField(required=False, help_text="Receives one signed POST when the batch ends.")


class FileStateSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    progress = serializers.FloatField()
    error = serializers.CharField(allow_null=True)


class BatchStateSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=["pending", "processing", "ready", "failed", "expired", "cancelled"])
    processors = serializers.ListField(child=serializers.CharField())
    file_count = serializers.IntegerField()
    done_count = serializers.IntegerField()
    failed_count = serializers.IntegerField()
    progress = serializers.FloatField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    ready_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    eta_seconds = serializers.IntegerField(allow_null=True)
    download_url = serializers.URLField(allow_null=True, help_text="Absolute; only while the batch is ready.")
    status_url = serializers.URLField()
    page_url = serializers.URLField(help_text="The waiting page people see.")
    files = FileStateSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="What went wrong, in plain words.")
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False,
                                   help_text="For 400: each bad field or file, with its messages.")
