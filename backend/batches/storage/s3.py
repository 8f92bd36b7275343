"""S3 (MinIO, SeaweedFS, AWS) through django-storages' configuration and boto3's client: one PUT or one
streamed GET per object, presigned links for browsers, and S3's own multipart uploads."""

from __future__ import annotations

import contextlib
import functools
import mimetypes
from collections.abc import Iterator
from datetime import datetime
from typing import IO
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.utils.http import content_disposition_header
from storages.backends.s3 import S3Storage as DjangoS3Storage

from .base import MissingObject, Storage, StorageUnavailable, Writer, check_prefix, copy_stream

# Up to this size an object goes to S3 in one PUT from this thread. boto3's transfer manager
# builds a thread pool per object: it pays only for multipart uploads (a batch's ZIP, a video).
SINGLE_PUT_BYTES = 64 * 1024 * 1024
# Multipart: four 8 MiB parts read ahead and in flight at most (boto3's default holds ten: an 80 MB
# peak in the worker that builds a large ZIP).
LARGE_UPLOAD = TransferConfig(multipart_threshold=SINGLE_PUT_BYTES, multipart_chunksize=8 * 1024 * 1024,
                              max_concurrency=4)
LARGE_UPLOAD.max_in_memory_upload_chunks = 4  # s3transfer's own setting, which boto3's constructor does not take
# Parts of an object written as a stream (a ZIP being built): S3's smallest part is 5 MiB.
WRITER_PART_BYTES = 8 * 1024 * 1024
MISSING_CODES = {"NoSuchKey", "404", "NotFound", "NoSuchUpload"}


@contextlib.contextmanager
def _translated(key: str) -> Iterator[None]:
    """boto3's and the network's errors as the interface's two: gone, or unreachable for now."""
    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") in MISSING_CODES:
            raise MissingObject(key) from exc
        raise StorageUnavailable(f"ClientError: {exc}") from exc
    except (BotoCoreError, OSError) as exc:
        raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc


class _MultipartWriter(Writer):
    """Bytes gathered into parts of WRITER_PART_BYTES, each sent as it fills: at most one part in memory.
    An object that never fills one part goes in one PUT."""

    def __init__(self, storage: S3Storage, key: str) -> None:
        super().__init__()
        self.storage, self.key = storage, key
        self.buffer = bytearray()
        self.upload_id = ""
        self.parts: list[dict] = []

    def _put(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= WRITER_PART_BYTES:
            self._send(bytes(self.buffer[:WRITER_PART_BYTES]))
            del self.buffer[:WRITER_PART_BYTES]

    def _send(self, part: bytes) -> None:
        client, bucket = self.storage.client, self.storage.bucket_name
        with _translated(self.key):
            if not self.upload_id:
                self.upload_id = client.create_multipart_upload(
                    Bucket=bucket, Key=self.key, ContentType=_content_type(self.key))["UploadId"]
            number = len(self.parts) + 1
            etag = client.upload_part(Bucket=bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number,
                                      Body=part)["ETag"]
        self.parts.append({"PartNumber": number, "ETag": etag})

    def finish(self) -> None:
        client, bucket = self.storage.client, self.storage.bucket_name
        if not self.upload_id:
            with _translated(self.key):
                client.put_object(Bucket=bucket, Key=self.key, Body=bytes(self.buffer),
                                  ContentType=_content_type(self.key))
            return
        if self.buffer:
            self._send(bytes(self.buffer))  # the last part may be smaller than the others
            self.buffer.clear()
        with _translated(self.key):
            client.complete_multipart_upload(Bucket=bucket, Key=self.key, UploadId=self.upload_id,
                                             MultipartUpload={"Parts": self.parts})

    def abort(self) -> None:
        self.buffer.clear()
        if self.upload_id:
            with contextlib.suppress(MissingObject, StorageUnavailable):
                self.storage.multipart_abort(self.key, self.upload_id)


def _content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


@functools.lru_cache(maxsize=4)
def _presigning_client(endpoint_url: str | None, access_key: str, secret_key: str, region: str):  # noqa: ANN202
    # Signing happens offline; a separate client lets links carry the public host.
    return boto3.client("s3", endpoint_url=endpoint_url, aws_access_key_id=access_key,
                        aws_secret_access_key=secret_key, region_name=region,
                        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))


class S3Storage(Storage):
    def __init__(self, files: DjangoS3Storage) -> None:
        self.files = files
        self.bucket_name = files.bucket_name

    @property
    def client(self):  # noqa: ANN201 - boto3's client type is generated at run time
        return self.files.bucket.meta.client

    @property
    def presigner(self):  # noqa: ANN201
        return _presigning_client(settings.S3_PUBLIC_ENDPOINT_URL or self.files.endpoint_url, self.files.access_key,
                                  self.files.secret_key, self.files.region_name or settings.S3_REGION)

    def save(self, key: str, content: IO[bytes]) -> int:
        content.seek(0, 2)
        size = content.tell()
        content.seek(0)
        content_type = _content_type(key)
        with _translated(key):
            if size <= SINGLE_PUT_BYTES:
                self.client.put_object(Bucket=self.bucket_name, Key=key, Body=content, ContentType=content_type)
            else:
                self.client.upload_fileobj(content, self.bucket_name, key, ExtraArgs={"ContentType": content_type},
                                           Config=LARGE_UPLOAD)
        return size

    def copy_to(self, key: str, dst: IO[bytes]) -> None:
        # One GET streamed as it arrives (django-storages' file would first ask for the object's size,
        # then fetch it through a thread pool).
        with _translated(key):
            body = self.client.get_object(Bucket=self.bucket_name, Key=key)["Body"]
            with contextlib.closing(body):
                copy_stream(body, dst)

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[Writer]:
        stream = _MultipartWriter(self, key)
        try:
            yield stream
            stream.finish()
        except BaseException:
            stream.abort()
            raise

    def object_size(self, key: str) -> int:
        with _translated(key):
            return self.client.head_object(Bucket=self.bucket_name, Key=key)["ContentLength"]

    def object_head(self, key: str, length: int) -> bytes:
        with _translated(key):
            return self.client.get_object(Bucket=self.bucket_name, Key=key, Range=f"bytes=0-{length - 1}")[
                "Body"].read()

    def exists(self, key: str) -> bool:
        try:
            self.object_size(key)
        except MissingObject:
            return False
        return True

    def list_prefix(self, prefix: str) -> list[str]:
        with _translated(prefix):
            return [obj.key for obj in self.files.bucket.objects.filter(Prefix=prefix)]

    def batch_prefixes(self, root: str = "batches/") -> dict[str, datetime]:
        newest: dict[str, datetime] = {}
        with _translated(root):
            for obj in self.files.bucket.objects.filter(Prefix=root):
                rest = obj.key[len(root):]
                name = rest.split("/", 1)[0]
                if name and "/" in rest:
                    newest[name] = max(newest.get(name, obj.last_modified), obj.last_modified)
        return {f"{root}{name}/": when for name, when in newest.items()}

    def delete_prefix(self, prefix: str) -> None:
        check_prefix(prefix)
        with _translated(prefix):
            self.files.bucket.objects.filter(Prefix=prefix).delete()

    def delete_keys(self, keys: list[str]) -> None:
        for key in keys:
            with _translated(key):
                self.client.delete_object(Bucket=self.bucket_name, Key=key)

    def download_url(self, key: str, filename: str, seconds: int, content_type: str | None,
                     attachment: bool = True) -> str:
        return self.presigner.generate_presigned_url("get_object", ExpiresIn=seconds, Params={
            "Bucket": self.bucket_name, "Key": key,
            "ResponseContentDisposition": content_disposition_header(attachment, filename),
            **({"ResponseContentType": content_type} if content_type else {}),
        })

    def browser_origin(self) -> str:
        parts = urlsplit(self.presigner.meta.endpoint_url)
        return f"{parts.scheme}://{parts.netloc}"

    def multipart_start(self, key: str) -> str:
        with _translated(key):
            return self.client.create_multipart_upload(Bucket=self.bucket_name, Key=key)["UploadId"]

    def multipart_part_url(self, key: str, upload_id: str, number: int, length: int, seconds: int) -> str:
        # The length is signed (SigV4 signs the Content-Length header): a body of any other size is refused.
        return self.presigner.generate_presigned_url("upload_part", ExpiresIn=seconds, Params={
            "Bucket": self.bucket_name, "Key": key, "UploadId": upload_id, "PartNumber": number,
            "ContentLength": length})

    def multipart_parts(self, key: str, upload_id: str) -> dict[int, tuple[int, str]]:
        parts: dict[int, tuple[int, str]] = {}
        with _translated(key):
            pages = self.client.get_paginator("list_parts").paginate(Bucket=self.bucket_name, Key=key,
                                                                     UploadId=upload_id)
            for page in pages:
                for part in page.get("Parts", []):
                    parts[part["PartNumber"]] = (part["Size"], part["ETag"])
        return parts

    def multipart_complete(self, key: str, upload_id: str, etags: dict[int, str]) -> None:
        with _translated(key):
            self.client.complete_multipart_upload(
                Bucket=self.bucket_name, Key=key, UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]})

    def multipart_abort(self, key: str, upload_id: str) -> None:
        with contextlib.suppress(MissingObject), _translated(key):
            self.client.abort_multipart_upload(Bucket=self.bucket_name, Key=key, UploadId=upload_id)

    def multipart_in_progress(self, prefix: str) -> list[tuple[str, str, datetime]]:
        found = []
        with _translated(prefix):
            for page in self.client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket_name,
                                                                                     Prefix=prefix):
                found += [(u["Key"], u["UploadId"], u["Initiated"]) for u in page.get("Uploads", [])]
        return found

    def prepare(self, cors_origins: list[str], abort_after_days: int) -> tuple[str, list[str]]:
        """Create the bucket if missing, let browsers PUT parts from the site's pages (CORS), and have S3
        itself abort multipart uploads left unfinished under uploads/ (both best effort: the sweeper
        aborts abandoned uploads anyway)."""
        done, problems = "bucket already present", []
        try:
            self.client.head_bucket(Bucket=self.bucket_name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket"}:
                raise StorageUnavailable(f"ClientError: {exc}") from exc
            self.files.bucket.create()
            done = "bucket created"
        try:
            self.client.put_bucket_cors(Bucket=self.bucket_name, CORSConfiguration={"CORSRules": [{
                "AllowedOrigins": cors_origins, "AllowedMethods": ["PUT", "GET"], "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 3600}]})
        except (BotoCoreError, ClientError) as exc:
            problems.append(f"could not set the bucket's CORS: {exc}")
        try:
            self.client.put_bucket_lifecycle_configuration(Bucket=self.bucket_name, LifecycleConfiguration={
                "Rules": [{"ID": "abort-unfinished-uploads", "Status": "Enabled", "Filter": {"Prefix": "uploads/"},
                           "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": abort_after_days}}]})
        except (BotoCoreError, ClientError) as exc:
            problems.append(f"could not set the bucket's lifecycle rule: {exc}")
        return done, problems
