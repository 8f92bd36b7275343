"""Building a batch's ZIP once every file is finished."""

from __future__ import annotations

import logging
import zipfile

from django.conf import settings
from django.utils import translation
from django.utils.text import slugify
from django.utils.translation import ngettext

from . import storage
from .clock import db_now
from .lifecycle import batch_close
from .models import Batch, BatchFile
from .names import unique_name
from .selectors import file_error

log = logging.getLogger(__name__)
# Already compressed: storing them again with deflate costs time and saves nothing.
STORED_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".avif", ".mp4", ".webm", ".mp3", ".m4a", ".ogg", ".zip"}


def archive_name(batch: Batch) -> str:
    """The preset's name when it was made from one (web-gallery-1a2b3c4d.zip), else its chain's."""
    stem = slugify(batch.preset_label) if batch.preset_label else ""
    return f"{stem or '-'.join(batch.processor_names)}-{str(batch.id)[:8]}.zip".replace("_", "-")


def archive_build(batch_id: str) -> None:
    """Stream every result into one ZIP in storage and open the download window.

    Idempotent: a batch that is not waiting for its archive is left alone, and a
    rerun overwrites the same key with the same content.
    """
    batch = Batch.objects.filter(pk=batch_id).first()
    if batch is None or batch.status in Batch.FINISHED or batch.finished_count < batch.file_count:
        return
    files = list(batch.files.order_by("position"))
    done = [f for f in files if f.status == BatchFile.Status.DONE]
    failed = [f for f in files if f.status == BatchFile.Status.FAILED]
    now = db_now()  # the deadline is the database's clock's, not this worker's
    if not done:
        batch_close(batch, Batch.Status.FAILED, now)
        return
    key, name = f"{batch.prefix}{archive_name(batch)}", archive_name(batch)
    # Written straight into storage as it is built (parts of a multipart upload on S3): a ZIP larger than
    # this worker's disk, or its memory, is built all the same.
    with storage.writer(key) as stream:
        with zipfile.ZipFile(stream, "w", allowZip64=True) as archive:
            taken: set[str] = {"errors.txt"}
            for file in done:
                for result in file.results:
                    entry = zipfile.ZipInfo(unique_name(result["name"], taken), now.timetuple()[:6])
                    suffix = "." + result["name"].rsplit(".", 1)[-1].lower() if "." in result["name"] else ""
                    entry.compress_type = zipfile.ZIP_STORED if suffix in STORED_SUFFIXES else zipfile.ZIP_DEFLATED
                    with archive.open(entry, "w", force_zip64=True) as target:
                        storage.copy_to(result["key"], target)
            if failed:
                with translation.override(batch.language or settings.LANGUAGE_CODE):  # the uploader's language
                    archive.writestr("errors.txt", error_report(failed, len(files)), zipfile.ZIP_DEFLATED)
        size = stream.written
    batch_close(batch, Batch.Status.READY, now, archive_key=key, archive_name=name, archive_size=size)


def error_report(failed: list[BatchFile], total: int) -> str:
    """errors.txt, in the active language."""
    lines = [ngettext("%(failed)s of %(total)s file could not be processed:",
                      "%(failed)s of %(total)s files could not be processed:", total)
             % {"failed": len(failed), "total": total}, ""]
    lines += [f"- {f.original_name}: {file_error(f)}" for f in failed]
    return "\n".join(lines) + "\n"
