"""All file access goes through here, so workers never rely on a shared disk.

The default storage is S3 (django-storages) in every real deployment and the
local file system for the embedded default; callers do not see the difference.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import mimetypes
import os
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.utils import timezone
from django.utils.http import content_disposition_header

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


# Up to this size an object goes to S3 in one PUT from this thread. boto3's transfer manager
# builds a thread pool per object: it pays only for multipart uploads (a batch's ZIP, a video).
SINGLE_PUT_BYTES = 64 * 1024 * 1024
# Multipart: four 8 MiB parts read ahead and in flight at most (boto3's default holds ten: an 80 MB
# peak in the worker that builds a large ZIP).
LARGE_UPLOAD = TransferConfig(multipart_threshold=SINGLE_PUT_BYTES, multipart_chunksize=8 * 1024 * 1024,
                              max_concurrency=4)
LARGE_UPLOAD.max_in_memory_upload_chunks = 4  # s3transfer's own setting, which boto3's constructor does not take


def save(key: str, content: IO[bytes]) -> int:
    """Store a stream under `key` (overwriting), returning its size in bytes."""
    content.seek(0, 2)
    size = content.tell()
    try:
        content.seek(0)
        if is_s3():
            bucket, content_type = default_storage().bucket_name, mimetypes.guess_type(key)[0]
            content_type = content_type or "application/octet-stream"
            if size <= SINGLE_PUT_BYTES:
                _s3_client().put_object(Bucket=bucket, Key=key, Body=content, ContentType=content_type)
            else:
                _s3_client().upload_fileobj(content, bucket, key, ExtraArgs={"ContentType": content_type},
                                            Config=LARGE_UPLOAD)
            return size
        stored = default_storage().save(key, File(content, name=key))
    except _ERRORS as exc:
        raise _translate(exc, key) from exc
    if stored != key:  # a storage that renames would break deterministic keys
        raise RuntimeError(f"storage stored {key!r} as {stored!r}")
    return size


def download(key: str, target: Path) -> None:
    """Stream an object to a local file."""
    with open(target, "wb") as dst:
        copy_to(key, dst)


def copy_to(key: str, dst: IO[bytes]) -> None:
    """Stream an object into an open file object (a work file, a ZIP entry).

    On S3 one GET streamed as it arrives (django-storages' file would first ask for the
    object's size, then fetch it through a thread pool)."""
    try:
        if is_s3():
            body = _s3_client().get_object(Bucket=default_storage().bucket_name, Key=key)["Body"]
            with contextlib.closing(body):
                shutil.copyfileobj(body, dst, CHUNK)
            return
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


def presigned_url(key: str, filename: str, not_after: datetime | None, content_type: str | None = "application/zip",
                  attachment: bool = True) -> str:
    """A direct S3 link for `key` that stops working after DOWNLOAD_LINK_SECONDS, and no later than
    `not_after` (the batch's end, when it has one yet)."""
    storage = default_storage()
    seconds = settings.DOWNLOAD_LINK_SECONDS
    if not_after is not None:
        seconds = max(1, min(seconds, int((not_after - timezone.now()).total_seconds())))
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
            "ResponseContentDisposition": content_disposition_header(attachment, filename),
            **({"ResponseContentType": content_type} if content_type else {}),
        },
        ExpiresIn=seconds,
    )


# Multipart uploads: a client sends a file in parts straight to storage (S3's multipart upload, or
# part files beside the object on local storage), and the server completes it.

def _s3_client():  # noqa: ANN202 - boto3's client type is generated at run time
    return default_storage().bucket.meta.client


def _local_parts(key: str) -> Path:
    return Path(default_storage().path(key)).parent / "parts"


def multipart_start(key: str) -> str:
    """Begin a multipart upload to `key`; its storage id (S3's UploadId; empty on local storage)."""
    storage = default_storage()
    try:
        if is_s3(storage):
            return _s3_client().create_multipart_upload(Bucket=storage.bucket_name, Key=key)["UploadId"]
        _local_parts(key).mkdir(parents=True, exist_ok=True)
        return ""
    except _ERRORS as exc:
        raise _translate(exc, key) from exc


def upload_origin() -> str:
    """The scheme, host and port that signed part URLs point at (empty on local storage)."""
    storage = default_storage()
    if not is_s3(storage):
        return ""
    endpoint = _presigning_client(settings.S3_PUBLIC_ENDPOINT_URL or storage.endpoint_url, storage.access_key,
                                  storage.secret_key, storage.region_name or settings.S3_REGION).meta.endpoint_url
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


def multipart_part_url(key: str, upload_id: str, number: int, seconds: int) -> str:
    """An S3 URL that accepts one PUT of part `number` of this upload, and nothing else, for `seconds`."""
    storage = default_storage()
    client = _presigning_client(settings.S3_PUBLIC_ENDPOINT_URL or storage.endpoint_url, storage.access_key,
                                storage.secret_key, storage.region_name or settings.S3_REGION)
    return client.generate_presigned_url("upload_part", ExpiresIn=seconds, Params={
        "Bucket": storage.bucket_name, "Key": key, "UploadId": upload_id, "PartNumber": number})


def multipart_part_write(key: str, number: int, stream: IO[bytes], length: int) -> int:
    """Local storage: write part `number` from a request body of `length` bytes; the bytes written.

    Written beside and renamed into place, so a part cut off midway is never listed as stored."""
    folder = _local_parts(key)
    if not folder.is_dir():
        raise MissingObject(key)
    partial = folder / f"{number}.partial-{os.getpid()}-{threading.get_ident()}"
    written = 0
    try:
        with open(partial, "wb") as out:
            while written < length:
                chunk = stream.read(min(CHUNK, length - written))
                if not chunk:
                    break
                out.write(chunk)
                written += len(chunk)
        if written == length:
            partial.replace(folder / str(number))
    finally:
        partial.unlink(missing_ok=True)
    return written


def multipart_parts(key: str, upload_id: str) -> dict[int, tuple[int, str]]:
    """The parts storage holds: number → (size, ETag)."""
    storage = default_storage()
    try:
        if is_s3(storage):
            parts: dict[int, tuple[int, str]] = {}
            pages = _s3_client().get_paginator("list_parts").paginate(
                Bucket=storage.bucket_name, Key=key, UploadId=upload_id)
            for page in pages:
                for part in page.get("Parts", []):
                    parts[part["PartNumber"]] = (part["Size"], part["ETag"])
            return parts
        folder = _local_parts(key)
        if not folder.is_dir():
            raise MissingObject(key)
        return {int(p.name): (p.stat().st_size, "") for p in folder.iterdir() if p.name.isdigit()}
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
            raise MissingObject(key) from exc
        raise _translate(exc, key) from exc
    except _ERRORS as exc:
        raise _translate(exc, key) from exc


def multipart_complete(key: str, upload_id: str, etags: dict[int, str]) -> None:
    """Join the parts (number → ETag, as multipart_parts listed them), in order, into the object at `key`."""
    storage = default_storage()
    try:
        if is_s3(storage):
            _s3_client().complete_multipart_upload(
                Bucket=storage.bucket_name, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]})
            return
        folder = _local_parts(key)
        with open(storage.path(key), "wb") as out:
            for number in sorted(etags):
                with open(folder / str(number), "rb") as part:
                    shutil.copyfileobj(part, out, CHUNK)
        shutil.rmtree(folder)
    except _ERRORS as exc:
        raise _translate(exc, key) from exc


def multipart_abort(key: str, upload_id: str) -> None:
    """Drop the upload's parts (a finished or missing upload is not an error)."""
    storage = default_storage()
    try:
        if is_s3(storage):
            _s3_client().abort_multipart_upload(Bucket=storage.bucket_name, Key=key, UploadId=upload_id)
        else:
            shutil.rmtree(_local_parts(key), ignore_errors=True)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in {"NoSuchUpload", "404"}:
            raise _translate(exc, key) from exc
    except _ERRORS as exc:
        raise _translate(exc, key) from exc


def multipart_in_progress(prefix: str) -> list[tuple[str, str, datetime]]:
    """S3's unfinished multipart uploads under `prefix`: (key, upload id, started). Local storage: none,
    its parts are files under the upload's own folder."""
    storage = default_storage()
    if not is_s3(storage):
        return []
    try:
        found = []
        for page in _s3_client().get_paginator("list_multipart_uploads").paginate(
                Bucket=storage.bucket_name, Prefix=prefix):
            found += [(u["Key"], u["UploadId"], u["Initiated"]) for u in page.get("Uploads", [])]
        return found
    except _ERRORS as exc:
        raise _translate(exc, prefix) from exc


def object_size(key: str) -> int:
    try:
        return default_storage().size(key)
    except _ERRORS as exc:
        raise _translate(exc, key) from exc


def object_head(key: str, length: int) -> bytes:
    """The first `length` bytes of an object (a ranged read on S3)."""
    storage = default_storage()
    try:
        if is_s3(storage):
            return _s3_client().get_object(Bucket=storage.bucket_name, Key=key,
                                           Range=f"bytes=0-{length - 1}")["Body"].read()
        with storage.open(key, "rb") as handle:
            return handle.read(length)
    except _ERRORS as exc:
        raise _translate(exc, key) from exc


def bucket_configure(cors_origins: list[str], abort_after_days: int) -> list[str]:
    """Let browsers PUT parts from the site's pages (CORS) and have S3 itself abort multipart uploads
    left unfinished under uploads/; the problems, for storage without either (both are best effort:
    the sweeper aborts abandoned uploads anyway)."""
    storage = default_storage()
    client, problems = _s3_client(), []
    try:
        client.put_bucket_cors(Bucket=storage.bucket_name, CORSConfiguration={"CORSRules": [{
            "AllowedOrigins": cors_origins, "AllowedMethods": ["PUT", "GET"], "AllowedHeaders": ["*"],
            "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3600}]})
    except _ERRORS as exc:
        problems.append(f"CORS: {exc}")
    try:
        client.put_bucket_lifecycle_configuration(Bucket=storage.bucket_name, LifecycleConfiguration={"Rules": [{
            "ID": "abort-unfinished-uploads", "Status": "Enabled", "Filter": {"Prefix": "uploads/"},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": abort_after_days}}]})
    except _ERRORS as exc:
        problems.append(f"lifecycle rule: {exc}")
    return problems
