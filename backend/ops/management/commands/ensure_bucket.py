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
        abort_days = max(1, -(-settings.UPLOAD_ABANDON_SECONDS // 86400))
        done, problems = storage.prepare(settings.UPLOAD_CORS_ORIGINS, abort_days)
        self.stdout.write(done)
        for problem in problems:
            self.stderr.write(problem)
