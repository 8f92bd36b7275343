"""Files sent in parts straight to storage, before the batch exists: start, sign part URLs, list
what arrived (to resume), complete with the server's own checks, take into a batch, abort, and
sweep what was left behind.

The client's word is never taken: completion reads the size from storage and the type from the
object's own bytes, and applies every limit of a one-request upload. A refused upload's objects
are deleted at once.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Sum
from django.utils.translation import gettext as _

from . import quotas, storage
from .clock import db_now
from .models import BatchFile, StagedUpload
from .names import safe_filename
from .uploads import (
    MB,
    UNKNOWN,
    Sniffed,
    Upload,
    UploadRefused,
    chain_problems,
    describe,
    is_media,
    media_type,
    size_problem,
    sniff,
)

log = logging.getLogger(__name__)
ROOT = "uploads/"
MAX_PARTS = 10_000  # S3's limit per multipart upload
MIN_PART_BYTES = 5 * MB  # S3's smallest part but the last
HEAD_BYTES = 64  # what media_type reads; images are read whole (they are at most MAX_FILE_BYTES)


class UploadIncomplete(Exception):
    """Some parts have not arrived yet; the client may send them and complete again."""

    def __init__(self, missing: list[int]) -> None:
        shown = ", ".join(map(str, missing[:20])) + (" …" if len(missing) > 20 else "")
        super().__init__(_("Not every part has arrived yet (missing: %(parts)s). Send them and complete "
                           "again.") % {"parts": shown})
        self.missing = missing


def upload_start(name: str, size: int, client: str = "") -> StagedUpload:
    """Begin an upload of `size` bytes for `client` (quotas.client_key). Raises UploadRefused when no file
    of that size is accepted, or when the client already holds as many uploads or bytes as one batch
    may have (UPLOAD_MAX_OPEN_PER_CLIENT, UPLOAD_MAX_BYTES_PER_CLIENT): checked and recorded under the
    client's lock, so requests sent at once cannot together pass a limit each passes alone."""
    name = safe_filename(name or "")
    largest = max(settings.MAX_FILE_BYTES, settings.MAX_MEDIA_FILE_BYTES)
    if size < 1:
        raise UploadRefused(_("“%(name)s” is empty.") % {"name": name})
    if size > largest:
        raise UploadRefused(_("“%(name)s” is %(size)s; a file may be at most %(limit)s.") % {
            "name": name, "size": f"{size / MB:.1f} MB", "limit": f"{largest / MB:.1f} MB"})
    part_size = max(settings.UPLOAD_PART_BYTES, MIN_PART_BYTES, -(-size // MAX_PARTS))
    upload_id = uuid.uuid4()
    key = f"{ROOT}{upload_id}/original"
    with transaction.atomic():
        quotas.client_lock(client)
        held = StagedUpload.objects.filter(client=client).aggregate(count=Count("pk"), size=Sum("size"))
        if held["count"] + 1 > settings.UPLOAD_MAX_OPEN_PER_CLIENT:
            raise UploadRefused(_("You have %(count)s uploads under way or waiting for a batch, as many as one "
                                  "client may; finish or abort some first.") % {"count": held["count"]})
        if (held["size"] or 0) + size > settings.UPLOAD_MAX_BYTES_PER_CLIENT:
            raise UploadRefused(_("Your uploads under way or waiting for a batch would add up to %(total)s; one "
                                  "client may hold at most %(limit)s.") % {
                "total": f"{((held['size'] or 0) + size) / MB:.1f} MB",
                "limit": f"{settings.UPLOAD_MAX_BYTES_PER_CLIENT / MB:.1f} MB"})
        upload = StagedUpload.objects.create(id=upload_id, name=name, size=size, part_size=part_size, key=key,
                                             storage_upload_id="", client=client)
    try:
        upload.storage_upload_id = storage.multipart_start(key)
    except Exception:
        upload.delete()  # nothing was started: the client's share is given back
        raise
    upload.save(update_fields=["storage_upload_id"])
    return upload


def upload_part_urls(upload: StagedUpload, numbers: Sequence[int]) -> dict[int, str]:
    """A URL for each part number, accepting one PUT of that part of this upload only."""
    bad = [n for n in numbers if not 1 <= n <= upload.part_count]
    if bad:
        raise UploadRefused(_("This upload has parts 1 to %(count)s; %(bad)s is not one of them.") % {
            "count": upload.part_count, "bad": bad[0]})
    return {n: storage.multipart_part_url(upload.key, upload.storage_upload_id, n, upload.part_length(n))
            for n in numbers}


def upload_parts(upload: StagedUpload) -> dict[int, int]:
    """The parts storage already holds (number → bytes): what a resumed upload need not send again."""
    if upload.completed_at:
        return {n: upload.part_length(n) for n in range(1, upload.part_count + 1)}
    return {number: size for number, (size, _etag) in storage.multipart_parts(upload.key,
                                                                              upload.storage_upload_id).items()}


def upload_complete(upload: StagedUpload) -> StagedUpload:
    """Join the parts and check the object as a one-request upload is checked.

    Raises UploadIncomplete when parts are missing (nothing is lost), UploadRefused when the object
    is not what was declared or not accepted (its objects are then deleted)."""
    if upload.completed_at:
        return upload
    try:
        stored = storage.multipart_parts(upload.key, upload.storage_upload_id)
    except storage.MissingObject:
        stored = None  # already joined by a completion cut short: the object is checked as it is
    if stored is not None:
        wrong = sorted(n for n, (size, _etag) in stored.items()
                       if n > upload.part_count or size != upload.part_length(n))
        if wrong:
            upload_discard(upload)
            raise UploadRefused(_("“%(name)s” was refused: part %(number)s does not have the size this upload "
                                  "declared. Nothing of it was kept.") % {"name": upload.name, "number": wrong[0]})
        missing = [n for n in range(1, upload.part_count + 1) if n not in stored]
        if missing:
            raise UploadIncomplete(missing)
        # The listing above gives the ETags too: storage is not asked for the parts a second time.
        storage.multipart_complete(upload.key, upload.storage_upload_id,
                                   {n: stored[n][1] for n in range(1, upload.part_count + 1)})
    try:
        actual = storage.object_size(upload.key)
        if actual != upload.size:
            raise UploadRefused(_("“%(name)s” is %(actual)s bytes in storage, not the %(size)s declared.") % {
                "name": upload.name, "actual": actual, "size": upload.size})
        sniffed = _stored_sniff(upload)
        if sniffed.content_type == UNKNOWN:
            raise UploadRefused(_("“%(name)s” is %(type)s.") % {"name": upload.name, "type": describe(UNKNOWN)})
        problem = size_problem(upload.name, upload.size, sniffed.content_type)
        if problem:
            raise UploadRefused(problem)
    except UploadRefused:
        upload_discard(upload)
        raise
    upload.completed_at = db_now()
    upload.content_type, upload.width, upload.height = sniffed.content_type, sniffed.width, sniffed.height
    upload.save(update_fields=["completed_at", "content_type", "width", "height"])
    return upload


def _stored_sniff(upload: StagedUpload) -> Sniffed:
    """The type (and an image's dimensions) from the stored bytes, as `sniff` judges a request's file."""
    if upload.size > settings.MAX_FILE_BYTES:  # too large for an image: only a video or audio file may be
        content_type = media_type(storage.object_head(upload.key, HEAD_BYTES))
        if not is_media(content_type):
            raise UploadRefused(_("“%(name)s” is not a video or audio file this service can read, and too large "
                                  "for an image.") % {"name": upload.name})
        return Sniffed(content_type)
    with tempfile.TemporaryFile() as local:
        storage.copy_to(upload.key, local)
        try:
            return sniff(local)
        except UploadRefused as refused:
            raise UploadRefused(_("“%(name)s” %(reason)s.") % {"name": upload.name, "reason": refused}) from None


def upload_discard(upload: StagedUpload) -> None:
    """Abort the upload and delete every object of it, then its row."""
    storage.multipart_abort(upload.key, upload.storage_upload_id)
    storage.delete_prefix(f"{ROOT}{upload.id}/")
    StagedUpload.objects.filter(pk=upload.pk).delete()


def staged_check(ids: Sequence[uuid.UUID], refusal: Callable[[str], str | None],
                 other_bytes: int = 0) -> tuple[list[Upload], list[str]]:
    """Completed uploads as a batch's files, with one sentence per problem (as uploads_check)."""
    found = {u.pk: u for u in StagedUpload.objects.filter(pk__in=list(ids))}
    uploads, errors = [], []
    for upload_id in dict.fromkeys(ids):
        staged = found.get(upload_id)
        if staged is None:
            errors.append(_("No upload has the id %(id)s (it was already used, refused or abandoned).")
                          % {"id": upload_id})
        elif not staged.completed_at:
            errors.append(_("“%(name)s” has not been completed yet.") % {"name": staged.name})
        else:
            uploads.append(Upload(name=staged.name, size=staged.size, key=staged.key,
                                  sniffed=Sniffed(staged.content_type, staged.width, staged.height)))
    total = other_bytes + sum(upload.size for upload in uploads)
    return uploads, errors + chain_problems(uploads, refusal, total)


def staged_take(keys: list[str]) -> None:
    """Hand completed uploads over to a batch (inside its transaction): each can be taken only once."""
    if keys and StagedUpload.objects.filter(key__in=keys, completed_at__isnull=False).delete()[0] \
            != len(set(keys)):
        raise UploadRefused(_("A file sent in parts was taken by another batch meanwhile; nothing was stored."))


def uploads_sweep(now: datetime | None = None) -> list[str]:
    """Abort uploads left unfinished or unused for UPLOAD_ABANDON_SECONDS, and what storage holds under
    uploads/ that no upload or batch file owns (a web process killed midway); the upload ids cleaned."""
    now = now or db_now()
    cutoff = now - timedelta(seconds=settings.UPLOAD_ABANDON_SECONDS)
    cleaned = []
    for upload in StagedUpload.objects.filter(created_at__lt=cutoff):
        try:
            upload_discard(upload)
        except storage.StorageUnavailable:
            log.warning("could not abort upload %s yet; the next sweep tries again", upload.pk)
            continue
        cleaned.append(str(upload.pk))
    owned = {str(pk) for pk in StagedUpload.objects.values_list("pk", flat=True)}
    for key, storage_upload_id, started in storage.multipart_in_progress(ROOT):
        upload_id = key[len(ROOT):].split("/", 1)[0]
        if upload_id not in owned and started < cutoff:
            storage.multipart_abort(key, storage_upload_id)
            cleaned.append(upload_id)
    for prefix, newest in storage.batch_prefixes(ROOT).items():
        upload_id = prefix[len(ROOT):].rstrip("/")
        if upload_id in owned or newest >= cutoff:
            continue
        if not BatchFile.objects.filter(source_key__startswith=prefix).exists():
            storage.delete_prefix(prefix)
            cleaned.append(upload_id)
    cleaned = list(dict.fromkeys(cleaned))
    if cleaned:
        log.info("aborted %d abandoned uploads", len(cleaned), extra={"event": "uploads.aborted"})
    return cleaned
