"""Job state. Postgres is its only source of truth: no Celery result backend."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from .clock import db_now


class Batch(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Queued")
        PROCESSING = "processing", _("Processing")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")

    ACTIVE = (Status.PENDING, Status.PROCESSING)
    FINISHED = (Status.READY, Status.FAILED, Status.EXPIRED, Status.CANCELLED)

    # uuid4: 122 random bits, so the waiting page's address cannot be guessed.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The chain of processing steps: [{"processor": name, "options": {...}}, ...].
    steps = models.JSONField()
    # The same chain by name only, e.g. "resize,convert": what statistics and metrics group by.
    chain = models.CharField(max_length=300, blank=True, db_index=True)
    queue = models.CharField(max_length=40, default="images")  # the heaviest queue any of its files uses
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    file_count = models.PositiveIntegerField(default=0)
    done_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    total_bytes = models.PositiveBigIntegerField(default=0)
    output_bytes = models.PositiveBigIntegerField(default=0)  # its done files' results, counted as each finishes
    created_at = models.DateTimeField(default=db_now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)  # every file done or failed
    ready_at = models.DateTimeField(null=True, blank=True)  # archive built
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    expired_at = models.DateTimeField(null=True, blank=True)  # its objects were deleted
    cancelled_at = models.DateTimeField(null=True, blank=True)
    archive_key = models.CharField(max_length=300, blank=True)
    archive_name = models.CharField(max_length=200, blank=True)
    archive_size = models.PositiveBigIntegerField(default=0)
    # Optional callback (API): one signed POST per ending event; the delivered events are listed.
    webhook_url = models.URLField(max_length=2000, blank=True)
    webhook_events = models.JSONField(default=list, blank=True)
    # The preset it was made from, if any: its name heads the waiting page and names the ZIP.
    preset_label = models.CharField(max_length=200, blank=True)
    # The language of the page or API call that made it: errors.txt in the ZIP is written in it.
    language = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return f"{self.id} ({self.status})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.chain = ",".join(self.processor_names)  # kept with the steps it is derived from
        super().save(*args, **kwargs)

    @property
    def prefix(self) -> str:
        """Every object of the batch lives under this storage prefix."""
        return f"batches/{self.id}/"

    @property
    def processor_names(self) -> list[str]:
        return [step["processor"] for step in self.steps]

    @property
    def finished_count(self) -> int:
        return self.done_count + self.failed_count

    def is_expired(self, now: datetime | None = None) -> bool:
        """Expired (or cancelled) by the clock, even when the sweeper has not come by yet."""
        if self.status in {self.Status.EXPIRED, self.Status.CANCELLED}:
            return True
        if self.expires_at is None:
            return False
        return self.expires_at <= (now or db_now())


class BatchFile(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        PROCESSING = "processing", _("Processing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    FINISHED = (Status.DONE, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    batch = models.ForeignKey(Batch, related_name="files", on_delete=models.CASCADE)
    position = models.PositiveIntegerField()
    original_name = models.CharField(max_length=255)  # as uploaded, made safe to show
    safe_name = models.CharField(max_length=255)  # unique within the batch, used for results
    source_key = models.CharField(max_length=300)
    content_type = models.CharField(max_length=100)  # sniffed from the bytes, never trusted from the client
    queue = models.CharField(max_length=40, default="images")  # Celery queue its task goes to
    size = models.PositiveBigIntegerField()
    pixels = models.PositiveBigIntegerField(default=0)  # an image's width × height, from its header at upload
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)  # the sentence in English
    # The same, to show in the reader's language: a gettext_noop message and its values.
    error_template = models.TextField(blank=True)
    error_params = models.JSONField(default=dict, blank=True)
    # [{"key": storage key, "name": file name in the archive, "size": bytes}, ...]
    results = models.JSONField(default=list, blank=True)
    # A small WebP of the first image result, for the waiting page (deleted with the batch).
    preview_key = models.CharField(max_length=300, blank=True)
    # Seconds spent per stage of the last attempt: {"download": …, "process": …, "upload": …}.
    timings = models.JSONField(default=dict, blank=True)
    # Incremented by every claim; a worker may only finish the attempt it claimed.
    attempts = models.PositiveIntegerField(default=0)
    queued_at = models.DateTimeField(default=db_now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # The Celery worker (node name, e.g. celery@host) of the last attempt: which host to look at.
    worker = models.CharField(max_length=200, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "position"]
        constraints = [models.UniqueConstraint(fields=["batch", "position"], name="unique_file_position")]
        indexes = [models.Index(fields=["status", "heartbeat_at"]), models.Index(fields=["status", "queued_at"])]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.status})"

    @property
    def processing_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class Preset(models.Model):
    """A named chain of steps that people pick in one click (defined by administrators)."""

    label = models.CharField(max_length=120, help_text="Shown in the form, e.g. “Shop: 1200 px, WebP 85”.")
    steps = models.JSONField(help_text='A list of {"processor": name, "options": {...}}; checked on save.')
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["label"]

    def __str__(self) -> str:
        return self.label


class StagedUpload(models.Model):
    """One file sent straight to storage in parts, before any batch exists.

    The browser or API client puts each part to a URL signed for this upload's key and
    part number only; completing checks the stored object itself (size, type from its
    bytes, dimensions, limits). A batch made from it takes over the object and deletes
    the row; the sweeper aborts what is left unfinished or unused.
    """

    # uuid4: the client's handle on the upload, as unguessable as a batch id.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)  # as given, made safe to show
    size = models.PositiveBigIntegerField()  # as declared at the start; checked against storage at the end
    part_size = models.PositiveIntegerField()
    key = models.CharField(max_length=300)
    storage_upload_id = models.CharField(max_length=1024)  # S3's UploadId (local storage: unused)
    client = models.CharField(max_length=100, blank=True, db_index=True)  # who began it (quotas.client_key)
    content_type = models.CharField(max_length=100, blank=True)  # sniffed at completion
    width = models.PositiveIntegerField(default=0)
    height = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=db_now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)  # joined and checked: ready for a batch

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.status})"

    @property
    def status(self) -> str:
        """"open" while parts arrive, "complete" once joined and checked."""
        return "open" if self.completed_at is None else "complete"

    @property
    def part_count(self) -> int:
        return max(1, -(-self.size // self.part_size))

    def part_length(self, number: int) -> int:
        """The exact size part `number` (1-based) must have."""
        return self.part_size if number < self.part_count else self.size - self.part_size * (self.part_count - 1)


class RateCount(models.Model):
    """How many times a client did one thing (start a batch, begin an upload) in one window of time:
    one row a client, thing and window, counted up in one statement (see quotas.py)."""

    key = models.CharField(max_length=200, unique=True)  # "<scope>:<client>:<window>"
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)  # the window's end: the sweeper deletes it after

    def __str__(self) -> str:
        return f"{self.key}={self.count}"
