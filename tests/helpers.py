"""Every helper the tests share: test images, uploads through the real views, running a batch
in-process, waiting on state, and reading results. Fixtures live in conftest.py."""

from __future__ import annotations

import contextlib
import io
import json
import random
import time
import zipfile
from pathlib import Path

import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from PIL import Image, ImageChops, ImageDraw, ImageOps, ImageStat

from backend.batches import archive, processing
from backend.batches.intake import batch_create
from backend.batches.models import Batch, BatchFile
from backend.batches.uploads import Upload, sniff
from backend.processors import registry
from tests.support.s3server import S3_BUCKET, S3_KEY, S3_SECRET, S3Server

ROOT = Path(__file__).resolve().parent.parent

WATERMARK = {
    "processor": "watermark_text",
    "watermark_text-text": "© Sample 2026",
    "watermark_text-size": "6",
    "watermark_text-opacity": "70",
    "watermark_text-color": "#ffffff",
    "watermark_text-position": "bottom-right",
    "watermark_text-margin": "3",
}


def form_fields(processor: str, **options: object) -> dict:
    """Upload-form fields choosing `processor` with its default options, as the page shows them, and `options`."""
    values = {**registry.get(processor).default_options(), **options}
    return {"processor": processor, **{f"{processor}-{k}": v for k, v in values.items() if v is not None}}


def valid_options(name: str, **overrides: object) -> dict:
    """The processor's own form, filled with its defaults and `overrides` (bytes: an uploaded file),
    validated as the upload form does; returns its cleaned data."""
    cls = registry.get(name)
    assert cls is not None, f"{name} is not available"
    data = {**cls.default_options(), **overrides}
    files = {key: SimpleUploadedFile(f"{key}.png", value) for key, value in data.items() if isinstance(value, bytes)}
    form = cls.options_form(data={k: v for k, v in data.items() if k not in files}, files=files)
    assert form.is_valid(), form.errors
    return form.cleaned_data


def upload(client: Client, files: dict[str, bytes], **fields: str):
    data = {**WATERMARK, **fields, "files": [SimpleUploadedFile(name, content) for name, content in files.items()]}
    return client.post("/", data)


def post_batch(client: Client, files: dict[str, bytes], **fields: object):
    """POST /api/v1/batches: JSON for dict and list fields, HTTP_* keywords as request headers."""
    headers = {key: value for key, value in fields.items() if key.startswith("HTTP_")}
    data = {key: json.dumps(value) if isinstance(value, (dict, list)) else value
            for key, value in fields.items() if key not in headers}
    data["files"] = [SimpleUploadedFile(name, content) for name, content in files.items()]
    return client.post("/api/v1/batches", data, **headers)


def wait_for_batch(batch_id: str, statuses: tuple[str, ...] = ("ready", "failed"), timeout: float = 120) -> Batch:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = Batch.objects.get(pk=batch_id)
        if batch.status in statuses:
            return batch
        time.sleep(0.3)
    files = list(batch.files.values_list("original_name", "status", "attempts", "error"))
    raise AssertionError(f"batch {batch_id} still {batch.status} after {timeout}s: {files}")


def download_zip(client: Client, batch_id: str) -> zipfile.ZipFile:
    """Follow the download link: to S3 over HTTP through the presigned URL, or to local storage's link."""
    response = client.get(f"/b/{batch_id}/download")
    assert response.status_code == 302, response.status_code
    if response["Location"].startswith("/"):  # local storage's signed link, answered by the site
        response = client.get(response["Location"])
    else:
        fetched = requests.get(response["Location"], timeout=30)
        assert fetched.status_code == 200, fetched.text[:300]
        return zipfile.ZipFile(io.BytesIO(fetched.content))
    assert response.status_code == 200, response.status_code
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def download_zip_from(url: str) -> zipfile.ZipFile:
    """Fetch an archive over HTTP, following the download view's redirect to S3."""
    fetched = requests.get(url, timeout=30)
    assert fetched.status_code == 200, fetched.text[:300]
    return zipfile.ZipFile(io.BytesIO(fetched.content))


def region_difference(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int]) -> float:
    """Mean absolute difference (0-255) between two images inside a box."""
    diff = ImageChops.difference(a.convert("RGB").crop(box), b.convert("RGB").crop(box))
    return sum(ImageStat.Stat(diff).mean) / 3


def upright(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def changed_fraction(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int], threshold: int = 48) -> float:
    """Share of pixels inside a box that differ clearly (more than codec noise) between two images."""
    diff = ImageChops.difference(a.convert("RGB").crop(box), b.convert("RGB").crop(box)).convert("L")
    histogram = diff.histogram()
    return sum(histogram[threshold:]) / max(1, sum(histogram))


def assert_watermarked(original: bytes, result: bytes, where: str = "bottom-right") -> None:
    """Size unchanged; the quadrant at `where` visibly marked; the opposite quadrant untouched."""
    before, after = upright(original), Image.open(io.BytesIO(result)).convert("RGB")
    assert after.size == before.size
    w, h = before.size
    quadrants = {"bottom-right": (w // 2, h // 2, w, h), "top-left": (0, 0, w // 2, h // 2),
                 "top-right": (w // 2, 0, w, h // 2), "bottom-left": (0, h // 2, w // 2, h)}
    opposite = {"bottom-right": "top-left", "top-left": "bottom-right",
                "top-right": "bottom-left", "bottom-left": "top-right"}[where]
    marked = changed_fraction(before, after, quadrants[where])
    clean = changed_fraction(before, after, quadrants[opposite])
    # Re-encoding a lossy format moves pixels a little; the watermark moves its own pixels a lot.
    assert clean < 0.002, f"pixels changed away from the watermark ({clean:.2%})"
    assert marked > 0.01, f"no watermark at {where} ({marked:.2%} of pixels changed)"


# ---------------------------------------------------------------------------
# Test images


def noisy_image(size: tuple[int, int], mode: str = "RGB", seed: int = 1) -> Image.Image:
    """A photo-like image: smooth gradients plus noise, so codecs behave as on photos."""
    rng = random.Random(seed)
    base = Image.linear_gradient("L").resize(size)
    noise = Image.effect_noise(size, 30)
    channels = [Image.blend(base.rotate(rng.randint(0, 359)).resize(size), noise, 0.3) for _ in range(3)]
    image = Image.merge("RGB", channels)
    if mode == "RGBA":
        alpha = Image.linear_gradient("L").resize(size).point(lambda v: 128 + v // 2)
        image = image.convert("RGBA")
        image.putalpha(alpha)
    elif mode != "RGB":
        image = image.convert(mode)
    return image


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def with_orientation(image: Image.Image, orientation: int, fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, fmt, exif=exif.tobytes())


def animation(fmt: str, frames: int, size: tuple[int, int]) -> bytes:
    """An animation whose frames all differ (so no encoder merges them), small on disk."""
    images = []
    for index in range(frames):
        frame = Image.new("RGB", size, "white")
        ImageDraw.Draw(frame).rectangle([index % size[0], 0, index % size[0] + 3, 3], fill="black")
        images.append(frame.convert("P") if fmt == "GIF" else frame)
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=True, append_images=images[1:], **({"quality": 10} if fmt == "WEBP" else {}))
    return buffer.getvalue()


def photo(seed: int = 1, size: tuple[int, int] = (640, 480)) -> bytes:
    """A photo-like JPEG."""
    return encode(noisy_image(size, seed=seed), "JPEG", quality=90)


# ---------------------------------------------------------------------------
# Running batches


def batch_of(files: dict[str, bytes], steps: list[dict]) -> Batch:
    """A batch accepted as intake accepts one (files sniffed, originals stored), without the web."""
    uploads = []
    for name, content in files.items():
        upload = SimpleUploadedFile(name, content)
        uploads.append(Upload(file=upload, name=name, sniffed=sniff(upload), size=upload.size))
    return batch_create(steps, uploads)


def run_in_process(batch_id: str) -> Batch:
    """What workers do, in this process: every file of the batch, then its archive."""
    for file_id in BatchFile.objects.filter(batch_id=batch_id).order_by("position").values_list("pk", flat=True):
        processing.file_process(str(file_id))
    archive.archive_build(str(batch_id))
    return Batch.objects.get(pk=batch_id)


# ---------------------------------------------------------------------------
# Servers and processes


def s3_storage_setting(server: S3Server) -> dict:
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET, "endpoint_url": server.endpoint, "access_key": S3_KEY,
            "secret_key": S3_SECRET, "region_name": "us-east-1", "addressing_style": "path",
            "signature_version": "s3v4", "file_overwrite": True, "default_acl": None,
        },
    }


def database_url() -> str:
    """The URL of the test database that pytest-django created, for other processes."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def purge_broker() -> None:
    from backend.batches.dispatch import QUEUES
    from backend.config.celery import app

    with app.connection_for_write() as conn:
        for queue in QUEUES:
            with contextlib.suppress(Exception):  # a queue never declared has nothing to purge
                conn.default_channel.queue_purge(queue)


# ---------------------------------------------------------------------------
# Uploads in parts (POST /api/v1/uploads …), as a program sends them


def put_part(client: Client, url: str, data: bytes) -> int:
    """PUT one part: to S3 over HTTP, or to this site's own part endpoint (local storage)."""
    if url.startswith(("http://testserver/", "/")):
        return client.put(url, data, content_type="application/octet-stream").status_code
    return requests.put(url, data=data, timeout=60).status_code


def send_parts(client: Client, name: str, data: bytes, *, declared: int | None = None,
               only: set[int] | None = None, complete: bool = True, put_status: int | None = 200) -> dict:
    """Start an upload, PUT its parts (all, or `only` these numbers), complete it; the last answer's JSON
    with its status code under "status_code" and the parts whose PUT failed under "refused_parts"."""
    started = client.post("/api/v1/uploads", {"name": name, "size": declared or len(data)},
                          content_type="application/json")
    assert started.status_code == 201, started.json()
    upload = started.json()
    numbers = [n for n in range(1, upload["part_count"] + 1) if only is None or n in only]
    urls = client.post(f"/api/v1/uploads/{upload['id']}/parts", {"parts": numbers},
                       content_type="application/json").json()["urls"] if numbers else {}
    size, refused = upload["part_size"], []
    for number in numbers:
        status = put_part(client, urls[str(number)], data[(number - 1) * size:number * size])
        if put_status is not None:
            assert status == put_status, (number, status)
        if status != 200:
            refused.append(number)
    if not complete:
        return {**upload, "status_code": 201, "refused_parts": refused}
    answer = client.post(f"/api/v1/uploads/{upload['id']}/complete")
    return {"id": upload["id"], **answer.json(), "status_code": answer.status_code, "refused_parts": refused}


def nothing_left(upload_id: str) -> bool:
    """No object and no unfinished multipart upload of this upload remains in storage."""
    from backend.batches import storage

    prefix = f"uploads/{upload_id}/"
    return not storage.list_prefix(prefix) and not storage.multipart_in_progress(prefix)
