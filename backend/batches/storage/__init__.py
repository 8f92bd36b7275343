"""Storage for every file of a batch: one interface (`base.Storage`), one module per backend (`local`,
`s3`), the backend chosen by settings (STORAGES["default"]: a bucket named in S3_BUCKET gives S3).

Callers use the functions below; none of them asks which backend it has.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files.storage import FileSystemStorage, storages

from ..clock import db_now
from .base import LinkedObject, LinkRefused, MissingObject, PartRefused, Storage, StorageUnavailable, Writer

__all__ = [
    "LinkRefused",
    "LinkedObject",
    "MissingObject",
    "PartRefused",
    "Storage",
    "StorageUnavailable",
    "backend",
]

_chosen: list[Storage] = []


def backend() -> Storage:
    """The configured backend (made again when the settings' storage changes, as in tests)."""
    files = storages["default"]
    if not _chosen or _chosen[0].files is not files:  # type: ignore[attr-defined]
        if isinstance(files, FileSystemStorage):
            from .local import LocalStorage

            _chosen[:] = [LocalStorage(files)]
        else:
            from .s3 import S3Storage

            _chosen[:] = [S3Storage(files)]
    return _chosen[0]


def save(key: str, content: IO[bytes]) -> int:
    return backend().save(key, content)


def download(key: str, target: Path) -> None:
    backend().download(key, target)


def copy_to(key: str, dst: IO[bytes]) -> None:
    backend().copy_to(key, dst)


def writer(key: str) -> contextlib.AbstractContextManager[Writer]:
    return backend().writer(key)


def object_size(key: str) -> int:
    return backend().object_size(key)


def object_head(key: str, length: int) -> bytes:
    return backend().object_head(key, length)


def exists(key: str) -> bool:
    return backend().exists(key)


def list_prefix(prefix: str) -> list[str]:
    return backend().list_prefix(prefix)


def batch_prefixes(root: str = "batches/") -> dict[str, datetime]:
    return backend().batch_prefixes(root)


def delete_prefix(prefix: str) -> None:
    backend().delete_prefix(prefix)


def delete_keys(keys: list[str]) -> None:
    backend().delete_keys(keys)


def download_url(key: str, filename: str, not_after: datetime | None, content_type: str | None = None,
                 attachment: bool = True) -> str:
    """A link a browser follows for `key`: it stops working after DOWNLOAD_LINK_SECONDS, and no later
    than `not_after` (the batch's end, when it has one yet)."""
    seconds = settings.DOWNLOAD_LINK_SECONDS
    if not_after is not None:
        seconds = max(1, min(seconds, int((not_after - db_now()).total_seconds())))
    return backend().download_url(key, filename, seconds, content_type, attachment)


def linked_object(token: str) -> LinkedObject:
    return backend().linked_object(token)


def open_object(key: str) -> IO[bytes]:
    return backend().open(key)


def browser_origin() -> str:
    return backend().browser_origin()


def multipart_start(key: str) -> str:
    return backend().multipart_start(key)


def multipart_part_url(key: str, upload_id: str, number: int, length: int) -> str:
    return backend().multipart_part_url(key, upload_id, number, length, settings.UPLOAD_PART_URL_SECONDS)


def multipart_part_receive(token: str, stream: IO[bytes], length: int) -> None:
    backend().multipart_part_receive(token, stream, length)


def multipart_parts(key: str, upload_id: str) -> dict[int, tuple[int, str]]:
    return backend().multipart_parts(key, upload_id)


def multipart_complete(key: str, upload_id: str, etags: dict[int, str]) -> None:
    backend().multipart_complete(key, upload_id, etags)


def multipart_abort(key: str, upload_id: str) -> None:
    backend().multipart_abort(key, upload_id)


def multipart_in_progress(prefix: str) -> list[tuple[str, str, datetime]]:
    return backend().multipart_in_progress(prefix)


def prepare(cors_origins: list[str], abort_after_days: int) -> tuple[str, list[str]]:
    return backend().prepare(cors_origins, abort_after_days)
