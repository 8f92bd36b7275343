"""All file access goes through here, so workers never rely on a shared disk.

The default storage is S3 (django-storages) in every real deployment and the
local file system for the embedded default; callers do not see the difference.
"""

from __future__ import annotations

import functools
import logging
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import boto3
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.utils import timezone

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


class StorageUnavailable(Exception):
    """Storage could not be reached; the operation may succeed if tried again."""


class MissingObject(Exception):
    """The object is not in storage (already deleted, or never written)."""


def default_storage() -> Storage:
    return storages["default"]


def is_s3(storage: Storage | None = None) -> bool:
    return not isinstance(storage or default_storage(), FileSystemStorage)


def _translate(exc: Exception, key: str) -> Exception:
    if isinstance(exc, FileNotFoundError):
        return MissingObject(key)
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in {"NoSuchKey", "404", "NotFound"}:
            return MissingObject(key)
    return StorageUnavailable(f"{type(exc).__name__}: {exc}")


_ERRORS = (BotoCoreError, ClientError, OSError)


def save(key: str, content: IO[bytes]) -> int:
    """Store a stream under `key` (overwriting), returning its size in bytes."""
    try:
        content.seek(0)
        stored = default_storage().save(key, File(content, name=key))
    except _ERRORS as exc:
        raise _translate(exc, key) from exc
    if stored != key:  # a storage that renames would break deterministic keys
        raise RuntimeError(f"storage stored {key!r} as {stored!r}")
    content.seek(0, 2)
    return content.tell()


def download(key: str, target: Path) -> None:
    """Stream an object to a local file."""
    try:
        with default_storage().open(key, "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, CHUNK)
    except _ERRORS as exc:
        raise _translate(exc, key) from exc


def copy_to(key: str, dst: IO[bytes]) -> None:
    """Stream an object into an open file object (e.g. a ZIP entry)."""
    try:
        with default_storage().open(key, "rb") as src:
            shutil.copyfileobj(src, dst, CHUNK)
    except _ERRORS as exc:
        raise _translate(exc, key) from exc


def open_local(key: str) -> IO[bytes]:
    """Open an object for streaming to a client (local storage only)."""
    try:
        return default_storage().open(key, "rb")
    except _ERRORS as exc:
        raise _translate(exc, key) from exc


def list_prefix(prefix: str) -> list[str]:
    """Every key under `prefix`."""
    storage = default_storage()
    try:
        if is_s3(storage):
            return [obj.key for obj in storage.bucket.objects.filter(Prefix=prefix)]
        root = Path(storage.path(prefix))
        if not root.exists():
            return []
        base = Path(storage.location)
        return sorted(str(p.relative_to(base)) for p in root.rglob("*") if p.is_file())
    except _ERRORS as exc:
        raise _translate(exc, prefix) from exc


def batch_prefixes(root: str = "batches/") -> dict[str, datetime]:
    """Each `<root><id>/` prefix in storage, with when its newest object was written."""
    storage = default_storage()
    newest: dict[str, datetime] = {}
    try:
        if is_s3(storage):
            for obj in storage.bucket.objects.filter(Prefix=root):
                name = obj.key[len(root):].split("/", 1)[0]
                if name and "/" in obj.key[len(root):]:
                    newest[name] = max(newest.get(name, obj.last_modified), obj.last_modified)
        else:
            base = Path(storage.path(root))
            for folder in (base.iterdir() if base.exists() else []):
                times = [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()] or [folder.stat().st_mtime]
                newest[folder.name] = datetime.fromtimestamp(max(times), tz=UTC)
    except _ERRORS as exc:
        raise _translate(exc, root) from exc
    return {f"{root}{name}/": when for name, when in newest.items()}


def delete_prefix(prefix: str) -> None:
    """Delete every object under `prefix`; deleting nothing is not an error."""
    if not prefix.endswith("/") or prefix.count("/") < 2:
        raise ValueError(f"refusing to delete a broad prefix: {prefix!r}")
    storage = default_storage()
    try:
        if is_s3(storage):
            storage.bucket.objects.filter(Prefix=prefix).delete()
        else:
            shutil.rmtree(storage.path(prefix), ignore_errors=False)
    except FileNotFoundError:
        return
    except _ERRORS as exc:
        raise _translate(exc, prefix) from exc


def ensure_bucket() -> bool:
    """Create the S3 bucket if it is missing; True when it was created."""
    bucket = default_storage().bucket
    try:
        bucket.meta.client.head_bucket(Bucket=bucket.name)
        return False
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
            raise _translate(exc, bucket.name) from exc
    bucket.create()
    return True


def delete_keys(keys: list[str]) -> None:
    """Delete the given objects; missing ones are not an error."""
    storage = default_storage()
    for key in keys:
        try:
            storage.delete(key)
        except FileNotFoundError:
            continue
        except _ERRORS as exc:
            raise _translate(exc, key) from exc


@functools.lru_cache(maxsize=4)
def _presigning_client(endpoint_url: str | None, access_key: str, secret_key: str, region: str):  # noqa: ANN202
    # Signing happens offline; a separate client lets links carry the public host.
    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def presigned_url(key: str, filename: str, not_after: datetime) -> str:
    """A direct S3 link for `key` that stops working no later than `not_after`."""
    storage = default_storage()
    seconds = int((not_after - timezone.now()).total_seconds())
    seconds = max(1, min(seconds, settings.DOWNLOAD_LINK_SECONDS))
    client = _presigning_client(
        settings.S3_PUBLIC_ENDPOINT_URL or storage.endpoint_url,
        storage.access_key,
        storage.secret_key,
        storage.region_name or settings.S3_REGION,
    )
    return client.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": storage.bucket_name,
            "Key": key,
            "ResponseContentDisposition": f'attachment; filename="{filename}"',
            "ResponseContentType": "application/zip",
        },
        ExpiresIn=seconds,
    )
