"""Local files (the embedded default): objects under MEDIA_ROOT. Where S3 would hand a browser a
presigned URL, this backend hands out a signed link of the site itself (LOCAL_FILES_URL), answered
by the web from these files; parts of an upload are files beside the object until it is joined."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage
from django.utils.translation import gettext as _

from .base import (
    CHUNK,
    LinkedObject,
    MissingObject,
    PartRefused,
    Storage,
    StorageUnavailable,
    Writer,
    check_prefix,
    copy_stream,
    sign_link,
    unsign_link,
)

DOWNLOAD_SALT = "batches.storage.local.download"


class _FileWriter(Writer):
    def __init__(self, out: IO[bytes]) -> None:
        super().__init__()
        self.out = out

    def _put(self, data: bytes) -> None:
        self.out.write(data)
PART_SALT = "batches.storage.local.part"


@contextlib.contextmanager
def _translated(key: str) -> Iterator[None]:
    try:
        yield
    except FileNotFoundError as exc:
        raise MissingObject(key) from exc
    except OSError as exc:
        raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc


class LocalStorage(Storage):
    def __init__(self, files: FileSystemStorage) -> None:
        self.files = files

    def _path(self, key: str) -> Path:
        return Path(self.files.path(key))

    def save(self, key: str, content: IO[bytes]) -> int:
        content.seek(0, 2)
        size = content.tell()
        content.seek(0)
        with _translated(key):
            stored = self.files.save(key, File(content, name=key))
        if stored != key:  # a storage that renames would break deterministic keys
            raise RuntimeError(f"storage stored {key!r} as {stored!r}")
        return size

    def copy_to(self, key: str, dst: IO[bytes]) -> None:
        with _translated(key), self.files.open(key, "rb") as src:
            copy_stream(src, dst)

    @contextlib.contextmanager
    def writer(self, key: str) -> Iterator[Writer]:
        target = self._path(key)
        partial = target.with_name(f".{target.name}.partial-{os.getpid()}-{threading.get_ident()}")
        with _translated(key):
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "wb") as out:
                stream = _FileWriter(out)
                try:
                    yield stream
                except BaseException:
                    out.close()
                    partial.unlink(missing_ok=True)
                    raise
            partial.replace(target)  # whole, or not at all

    def open(self, key: str) -> IO[bytes]:
        with _translated(key):
            return self.files.open(key, "rb")

    def object_size(self, key: str) -> int:
        with _translated(key):
            return self.files.size(key)

    def object_head(self, key: str, length: int) -> bytes:
        with _translated(key), self.files.open(key, "rb") as handle:
            return handle.read(length)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_prefix(self, prefix: str) -> list[str]:
        root, base = self._path(prefix), Path(self.files.location)
        with _translated(prefix):
            if not root.exists():
                return []
            return sorted(str(p.relative_to(base)) for p in root.rglob("*") if p.is_file())

    def batch_prefixes(self, root: str = "batches/") -> dict[str, datetime]:
        base, newest = self._path(root), {}
        with _translated(root):
            for folder in (base.iterdir() if base.exists() else []):
                times = [p.stat().st_mtime for p in folder.rglob("*") if p.is_file()] or [folder.stat().st_mtime]
                newest[folder.name] = datetime.fromtimestamp(max(times), tz=UTC)
        return {f"{root}{name}/": when for name, when in newest.items()}

    def delete_prefix(self, prefix: str) -> None:
        check_prefix(prefix)
        with contextlib.suppress(MissingObject), _translated(prefix):
            shutil.rmtree(self._path(prefix))

    def delete_keys(self, keys: list[str]) -> None:
        for key in keys:
            with contextlib.suppress(MissingObject), _translated(key):
                self.files.delete(key)

    def download_url(self, key: str, filename: str, seconds: int, content_type: str | None,
                     attachment: bool = True) -> str:
        token = sign_link({"key": key, "name": filename, "type": content_type, "attachment": attachment},
                          DOWNLOAD_SALT, seconds)
        return f"{settings.LOCAL_FILES_URL}{token}"

    def linked_object(self, token: str) -> LinkedObject:
        link = unsign_link(token, DOWNLOAD_SALT, _("This link is not valid (or has expired)."))
        return LinkedObject(link["key"], link["name"], link["type"], link["attachment"])

    # Uploads in parts: part files in a folder beside the object, joined into it at completion.

    def _parts(self, key: str) -> Path:
        return self._path(key).parent / "parts"

    def multipart_start(self, key: str) -> str:
        with _translated(key):
            self._parts(key).mkdir(parents=True, exist_ok=True)
        return ""

    def multipart_part_url(self, key: str, upload_id: str, number: int, length: int, seconds: int) -> str:
        # The part's length is signed with it: a body of any other length is refused unread.
        token = sign_link({"key": key, "part": number, "length": length}, PART_SALT, seconds)
        return f"{settings.LOCAL_FILES_URL}parts/{token}?partNumber={number}"  # the number for logs, as S3's

    def multipart_part_receive(self, token: str, stream: IO[bytes], length: int) -> None:
        link = unsign_link(token, PART_SALT, _("This part URL is not valid (or has expired); ask for a new one."))
        if length != link["length"]:
            raise PartRefused(_("Part %(number)s must be %(expected)s bytes; %(length)s were sent.") % {
                "number": link["part"], "expected": link["length"], "length": length})
        folder = self._parts(link["key"])
        if not folder.is_dir():  # completed or aborted: the upload takes no more parts
            raise MissingObject(link["key"])
        # Written beside and renamed into place, so a part cut off midway is never listed as stored.
        partial = folder / f"{link['part']}.partial-{os.getpid()}-{threading.get_ident()}"
        written = 0
        try:
            with _translated(link["key"]), open(partial, "wb") as out:
                while written < length:
                    chunk = stream.read(min(CHUNK, length - written))
                    if not chunk:
                        break
                    out.write(chunk)
                    written += len(chunk)
            if written == length:
                partial.replace(folder / str(link["part"]))
        finally:
            partial.unlink(missing_ok=True)
        if written != length:
            raise PartRefused(_("The part was cut off before it finished; send it again."))

    def multipart_parts(self, key: str, upload_id: str) -> dict[int, tuple[int, str]]:
        folder = self._parts(key)
        with _translated(key):
            if not folder.is_dir():
                raise MissingObject(key)
            return {int(p.name): (p.stat().st_size, "") for p in folder.iterdir() if p.name.isdigit()}

    def multipart_complete(self, key: str, upload_id: str, etags: dict[int, str]) -> None:
        folder = self._parts(key)
        with _translated(key):
            with open(self._path(key), "wb") as out:
                for number in sorted(etags):
                    with open(folder / str(number), "rb") as part:
                        copy_stream(part, out)
            shutil.rmtree(folder)

    def multipart_abort(self, key: str, upload_id: str) -> None:
        shutil.rmtree(self._parts(key), ignore_errors=True)

    def prepare(self, cors_origins: list[str], abort_after_days: int) -> tuple[str, list[str]]:
        with _translated(""):
            Path(self.files.location).mkdir(parents=True, exist_ok=True)
        return f"local file storage at {self.files.location}: no bucket to create", []
