"""The storage helpers against SeaweedFS over HTTP, and locally."""

import io
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.utils import timezone

from backend.batches import storage
from backend.batches.storage.local import LocalStorage
from backend.batches.storage.s3 import SINGLE_PUT_BYTES, S3Storage

pytestmark = pytest.mark.django_db  # links end by the database's clock


def test_save_list_download_delete_on_s3(s3_server, tmp_path, unique):
    prefix = f"batches/{unique}/"
    assert storage.save(f"{prefix}in/a.bin", io.BytesIO(b"hello")) == 5
    storage.save(f"{prefix}out/x/b.bin", io.BytesIO(b"world"))
    assert sorted(storage.list_prefix(prefix)) == [f"{prefix}in/a.bin", f"{prefix}out/x/b.bin"]
    storage.download(f"{prefix}in/a.bin", tmp_path / "a")
    assert (tmp_path / "a").read_bytes() == b"hello"
    storage.delete_prefix(prefix)
    assert s3_server.keys(prefix) == []
    with pytest.raises(storage.MissingObject):
        storage.download(f"{prefix}in/a.bin", tmp_path / "b")


def test_an_object_past_one_put_goes_in_parts_and_comes_back_whole(s3_server, tmp_path, unique):
    """Past SINGLE_PUT_BYTES (a large ZIP, a video) the upload is multipart, with bounded memory."""
    import hashlib
    import os

    key = f"batches/{unique}/big.zip"
    data = os.urandom(1024 * 1024) * (SINGLE_PUT_BYTES // (1024 * 1024) + 3)  # 3 MiB past one PUT
    with open(tmp_path / "big", "wb") as out:
        out.write(data)
    with open(tmp_path / "big", "rb") as handle:
        assert storage.save(key, handle) == len(data)
    head = s3_server.client().head_object(Bucket="mediaconv-test", Key=key)
    assert "-" in head["ETag"], "stored in parts (a multipart ETag)"
    assert head["ContentType"] == "application/zip"
    storage.download(key, tmp_path / "back")
    assert hashlib.sha256((tmp_path / "back").read_bytes()).digest() == hashlib.sha256(data).digest()
    storage.delete_prefix(f"batches/{unique}/")


def test_a_small_object_keeps_its_content_type(s3_server, unique):
    key = f"batches/{unique}/out/x/photo.webp"
    storage.save(key, io.BytesIO(b"RIFF....WEBP"))
    assert s3_server.client().head_object(Bucket="mediaconv-test", Key=key)["ContentType"] == "image/webp"
    storage.delete_prefix(f"batches/{unique}/")


def test_presigned_links_never_outlive_the_batch(s3_server, unique):
    key = f"batches/{unique}/archive.zip"
    storage.save(key, io.BytesIO(b"zip"))
    url = storage.download_url(key, "archive.zip", timezone.now() + timedelta(seconds=30), "application/zip")
    assert int(parse_qs(urlparse(url).query)["X-Amz-Expires"][0]) <= 30
    fetched = requests.get(url, timeout=10)
    assert fetched.content == b"zip" and "attachment" in fetched.headers["Content-Disposition"]
    tampered = url.replace(unique, unique[::-1])
    assert requests.get(tampered, timeout=10).status_code == 403
    assert requests.get(f"{s3_server.endpoint}/mediaconv-test/{key}", timeout=10).status_code == 403


def test_broad_prefixes_are_never_deleted():
    for prefix in ("", "batches/", "batches"):
        with pytest.raises(ValueError):
            storage.delete_prefix(prefix)


def test_local_storage_works_the_same(tmp_path, unique):
    prefix = f"batches/{unique}/"
    storage.save(f"{prefix}in/a.bin", io.BytesIO(b"hello"))
    assert storage.list_prefix(prefix) == [f"{prefix}in/a.bin"]
    assert isinstance(storage.backend(), LocalStorage)
    storage.delete_prefix(prefix)
    assert storage.list_prefix(prefix) == []
    storage.delete_prefix(prefix)  # nothing left: not an error


def test_the_backend_follows_the_configured_storage(s3_server, settings):
    assert isinstance(storage.backend(), S3Storage)
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": "/tmp/elsewhere"}}}
    assert isinstance(storage.backend(), LocalStorage)


def test_local_links_hand_out_their_object_until_they_expire(client, unique):
    key = f"batches/{unique}/out/x/photo.webp"
    storage.save(key, io.BytesIO(b"RIFF....WEBP"))
    url = storage.download_url(key, "photo.webp", timezone.now() + timedelta(seconds=30), "image/webp",
                               attachment=False)
    fetched = client.get(url)
    assert fetched.status_code == 200 and b"".join(fetched.streaming_content) == b"RIFF....WEBP"
    assert fetched["Content-Type"] == "image/webp" and "inline" in fetched["Content-Disposition"]
    token = url.rsplit("/", 1)[1]
    assert client.get(url.replace(token, token[::-1])).status_code == 403, "a forged link"
    expired = storage.download_url(key, "photo.webp", timezone.now() - timedelta(seconds=5), "image/webp")
    import time

    time.sleep(1.1)  # the shortest link lasts one second
    assert client.get(expired).status_code == 403, "an expired link"
    storage.delete_prefix(f"batches/{unique}/")
    assert client.get(url).status_code == 404, "a deleted object"


@pytest.mark.parametrize("size", [0, 1000, 8 * 1024 * 1024, 20 * 1024 * 1024 + 5], ids=["empty", "small", "one-part",
                                                                                         "three-parts"])
@pytest.mark.parametrize("where", ["local", pytest.param("s3", marks=pytest.mark.s3)])
def test_a_stream_written_in_pieces_arrives_whole(where, size, unique, tmp_path):
    import hashlib
    import os

    data = os.urandom(size)
    key = f"batches/{unique}/out/archive.zip"
    with storage.writer(key) as stream:
        for start in range(0, size, 777_777):  # pieces that straddle part boundaries
            stream.write(data[start:start + 777_777])
    assert stream.written == size == storage.object_size(key)
    storage.download(key, tmp_path / "back")
    assert hashlib.sha256((tmp_path / "back").read_bytes()).digest() == hashlib.sha256(data).digest()
    storage.delete_prefix(f"batches/{unique}/")


@pytest.mark.parametrize("where", ["local", pytest.param("s3", marks=pytest.mark.s3)])
def test_a_stream_that_fails_midway_leaves_no_object_and_no_parts(where, unique):
    key = f"batches/{unique}/out/archive.zip"
    with pytest.raises(RuntimeError), storage.writer(key) as stream:
        stream.write(b"x" * (17 * 1024 * 1024))  # two parts already sent on S3
        raise RuntimeError("the worker stopped")
    assert storage.list_prefix(f"batches/{unique}/") == []
    assert storage.multipart_in_progress(f"batches/{unique}/") == []
