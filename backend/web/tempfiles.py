"""Request bodies Django spools to disk (uploads past FILE_UPLOAD_MAX_MEMORY_SIZE) live in a folder of
their own; a web process killed mid-upload leaves its file there, so each web process clears what is
older than any request can last when it starts, and again at most once a minute while it serves."""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)
CHECK_EVERY_SECONDS = 60
_last_check = [0.0]
_lock = threading.Lock()


def temp_uploads_clean(now: float | None = None) -> list[Path]:
    """Delete spooled upload files older than WEB_TEMP_MAX_AGE_SECONDS (no request lasts that long:
    one that is still arriving rewrites its file, and a finished one deletes it); the ones deleted."""
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    cutoff = (now or time.time()) - settings.WEB_TEMP_MAX_AGE_SECONDS
    removed = []
    for entry in os.scandir(folder) if folder.is_dir() else ():
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except FileNotFoundError:
            continue  # its own request, or another process, removed it meanwhile
    if removed:
        log.info("removed %d upload files left by web processes that stopped mid-upload", len(removed),
                 extra={"event": "web.temp_cleaned"})
    return removed


def temp_uploads_clean_now_and_then() -> None:
    """What an upload view calls: a clean-up at most once a minute per process."""
    with _lock:
        if time.monotonic() - _last_check[0] < CHECK_EVERY_SECONDS:
            return
        _last_check[0] = time.monotonic()
    try:
        temp_uploads_clean()
    except OSError:
        log.warning("could not clean the upload temp folder", exc_info=True)
