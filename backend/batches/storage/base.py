"""The one storage interface: every file of a batch (originals, results, previews, ZIPs, uploads in
parts) is read and written through it, so workers never rely on a shared disk and no caller asks
which backend it has. One module per backend (`local`, `s3`), chosen by settings (`__init__`)."""

from __future__ import annotations

import abc
import contextlib
import io
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO

from django.core import signing
from django.utils.translation import gettext as _

from ..clock import db_now

CHUNK = 1024 * 1024


class StorageUnavailable(Exception):
    """Storage could not be reached; the operation may succeed if tried again."""


class MissingObject(Exception):
    """The object is not in storage (already deleted, or never written)."""


class LinkRefused(PermissionError):
    """A signed link that is not valid, has expired, or is for something else."""


class PartRefused(ValueError):
    """A part that is not the length its link was signed for, or was cut off."""


class Writer(io.RawIOBase):
    """A write-only stream that counts what it was given (ZipFile asks where it is; it cannot seek)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.written

    def write(self, data: bytes | bytearray | memoryview) -> int:
        size = len(data)
        self._put(bytes(data))
        self.written += size
        return size

    def _put(self, data: bytes) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class LinkedObject:
    """What a signed download link names: the object and how to hand it to a browser."""

    key: str
    filename: str
    content_type: str | None
    attachment: bool


def check_prefix(prefix: str) -> None:
    """Deleting a prefix is only ever done below a batch's or an upload's own folder."""
    if not prefix.endswith("/") or prefix.count("/") < 2:
        raise ValueError(f"refusing to delete a broad prefix: {prefix!r}")


class Storage(abc.ABC):
    """Objects under keys, links that let a browser fetch or send one without the web carrying it,
    and uploads in parts (S3's multipart upload, or what the local backend does in its place)."""

    files: object  # the Django storage it was made from (its configuration)

    # Objects

    @abc.abstractmethod
    def save(self, key: str, content: IO[bytes]) -> int:
        """Store a stream under `key` (overwriting), returning its size in bytes."""

    @abc.abstractmethod
    def copy_to(self, key: str, dst: IO[bytes]) -> None:
        """Stream an object into an open file object (a work file, a ZIP entry)."""

    @abc.abstractmethod
    def writer(self, key: str) -> contextlib.AbstractContextManager[Writer]:
        """A stream to write an object of any size into, with bounded memory and no local disk (a ZIP
        as it is built); the object appears whole when the block ends, and not at all if it raises."""

    def download(self, key: str, target: Path) -> None:
        """Stream an object to a local file."""
        with open(target, "wb") as dst:
            self.copy_to(key, dst)

    @abc.abstractmethod
    def object_size(self, key: str) -> int: ...

    @abc.abstractmethod
    def object_head(self, key: str, length: int) -> bytes:
        """The first `length` bytes of an object."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool: ...

    @abc.abstractmethod
    def list_prefix(self, prefix: str) -> list[str]:
        """Every key under `prefix`."""

    @abc.abstractmethod
    def batch_prefixes(self, root: str = "batches/") -> dict[str, datetime]:
        """Each `<root><id>/` prefix in storage, with when its newest object was written."""

    @abc.abstractmethod
    def delete_prefix(self, prefix: str) -> None:
        """Delete every object under `prefix` (see check_prefix); deleting nothing is not an error."""

    @abc.abstractmethod
    def delete_keys(self, keys: list[str]) -> None:
        """Delete the given objects; missing ones are not an error."""

    # Links a browser follows

    @abc.abstractmethod
    def download_url(self, key: str, filename: str, seconds: int, content_type: str | None,
                     attachment: bool = True) -> str:
        """A link that hands out `key` as `filename` for `seconds`, and nothing else."""

    def linked_object(self, token: str) -> LinkedObject:
        """What a download link of this site names (the local backend's links); raises LinkRefused."""
        raise LinkRefused(_("This link is not valid (or has expired)."))

    def open(self, key: str) -> IO[bytes]:
        """An object opened for streaming to a client (the local backend's links)."""
        raise MissingObject(key)

    def browser_origin(self) -> str:
        """The scheme, host and port browsers fetch and send objects at, when not this site's (CSP)."""
        return ""

    # Uploads in parts

    @abc.abstractmethod
    def multipart_start(self, key: str) -> str:
        """Begin a multipart upload to `key`; its storage id (S3's UploadId)."""

    @abc.abstractmethod
    def multipart_part_url(self, key: str, upload_id: str, number: int, length: int, seconds: int) -> str:
        """A URL that takes one PUT of part `number` (`length` bytes) of this upload, and nothing else."""

    def multipart_part_receive(self, token: str, stream: IO[bytes], length: int) -> None:
        """A part PUT to a link of this site (the local backend's part URLs). Raises LinkRefused,
        PartRefused, or MissingObject when the upload is no longer open."""
        raise LinkRefused(_("This part URL is not valid (or has expired); ask for a new one."))

    @abc.abstractmethod
    def multipart_parts(self, key: str, upload_id: str) -> dict[int, tuple[int, str]]:
        """The parts storage holds: number → (size, ETag). MissingObject when the upload is gone."""

    @abc.abstractmethod
    def multipart_complete(self, key: str, upload_id: str, etags: dict[int, str]) -> None:
        """Join the parts (number → ETag, as multipart_parts listed them), in order, into `key`."""

    @abc.abstractmethod
    def multipart_abort(self, key: str, upload_id: str) -> None:
        """Drop the upload's parts (a finished or missing upload is not an error)."""

    def multipart_in_progress(self, prefix: str) -> list[tuple[str, str, datetime]]:
        """Unfinished multipart uploads under `prefix` that storage keeps apart from objects:
        (key, upload id, started)."""
        return []

    # Operations

    @abc.abstractmethod
    def prepare(self, cors_origins: list[str], abort_after_days: int) -> tuple[str, list[str]]:
        """Make storage ready for the site (run at start-up): what was done, and what could not be."""


def sign_link(payload: dict, salt: str, seconds: int) -> str:
    """A token carrying `payload` that unsign_link takes for `seconds`."""
    return signing.dumps({**payload, "until": int(db_now().timestamp()) + seconds}, salt=salt, compress=True)


def unsign_link(token: str, salt: str, refusal: str) -> dict:
    """The payload of a token of sign_link's; LinkRefused with `refusal` when forged or expired."""
    try:
        payload = signing.loads(token, salt=salt)
    except signing.BadSignature:
        raise LinkRefused(refusal) from None
    if not isinstance(payload, dict) or payload.get("until", 0) < db_now().timestamp():
        raise LinkRefused(refusal)
    return payload


def copy_stream(src: IO[bytes], dst: IO[bytes]) -> None:
    shutil.copyfileobj(src, dst, CHUNK)
