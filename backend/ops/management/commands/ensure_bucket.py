"""Create the S3 bucket when it does not exist yet, and set it up for direct uploads (run by the web
container at start-up)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from backend.batches import storage


class Command(BaseCommand):
    help = "Create the configured S3 bucket if it is missing (nothing to do with local storage)."

    def handle(self, *args: Any, **options: Any) -> None:
        if not storage.is_s3():
            self.stdout.write("local file storage: no bucket to create")
            return
        created = storage.ensure_bucket()
        self.stdout.write(f"bucket {'created' if created else 'already present'}")
        abort_days = max(1, -(-settings.UPLOAD_ABANDON_SECONDS // 86400))
        for problem in storage.bucket_configure(settings.UPLOAD_CORS_ORIGINS, abort_days):
            self.stderr.write(f"could not set the bucket's {problem}")
