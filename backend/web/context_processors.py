from django.conf import settings
from django.http import HttpRequest

from backend.batches.uploads import ACCEPT_ATTRIBUTE


def limits(request: HttpRequest) -> dict:
    """The upload limits, shown on the page before a person runs into them."""
    return {
        "limits": {
            "max_files": settings.MAX_FILES_PER_BATCH,
            "max_file_mb": settings.MAX_FILE_BYTES // (1024 * 1024),
            "max_batch_mb": settings.MAX_BATCH_BYTES // (1024 * 1024),
            "max_file_bytes": settings.MAX_FILE_BYTES,
            "max_media_file_mb": settings.MAX_MEDIA_FILE_BYTES // (1024 * 1024),
            "max_media_file_bytes": settings.MAX_MEDIA_FILE_BYTES,
            "max_batch_bytes": settings.MAX_BATCH_BYTES,
            "lifetime_minutes": settings.ARCHIVE_LIFETIME_SECONDS // 60,
            # Files at least this large go up in parts, straight to storage (when the API is open to pages).
            "parts_from_bytes": settings.UPLOAD_PART_BYTES,
            "parts_enabled": not settings.API_REQUIRE_TOKEN,
        },
        "accept_types": ACCEPT_ATTRIBUTE,
    }
