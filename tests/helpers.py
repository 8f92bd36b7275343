"""Small helpers shared by tests: uploading through the real view and waiting on state."""

from __future__ import annotations

import io
import time
import zipfile

import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image, ImageChops, ImageOps, ImageStat

from backend.batches.models import Batch

WATERMARK = {
    "processor": "watermark_text",
    "watermark_text-text": "© Sample 2026",
    "watermark_text-size": "6",
    "watermark_text-opacity": "70",
    "watermark_text-color": "#ffffff",
    "watermark_text-position": "bottom-right",
    "watermark_text-margin": "3",
}


def upload(client: Client, files: dict[str, bytes], **fields: str):
    data = {**WATERMARK, **fields, "files": [SimpleUploadedFile(name, content) for name, content in files.items()]}
    return client.post("/", data)


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
    """Follow the download link: to S3 over HTTP through the presigned URL, or streamed locally."""
    response = client.get(f"/b/{batch_id}/download")
    if response.status_code == 302:
        fetched = requests.get(response["Location"], timeout=30)
        assert fetched.status_code == 200, fetched.text[:300]
        return zipfile.ZipFile(io.BytesIO(fetched.content))
    assert response.status_code == 200, response.status_code
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def region_difference(a: Image.Image, b: Image.Image, box: tuple[int, int, int, int]) -> float:
    """Mean absolute difference (0-255) between two images inside a box."""
    diff = ImageChops.difference(a.convert("RGB").crop(box), b.convert("RGB").crop(box))
    return sum(ImageStat.Stat(diff).mean) / 3


def upright(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def assert_watermarked(original: bytes, result: bytes) -> None:
    """Size unchanged; bottom-right corner visibly changed; top-left untouched (but for codec noise)."""
    before, after = upright(original), Image.open(io.BytesIO(result)).convert("RGB")
    assert after.size == before.size
    w, h = before.size
    corner = (w * 2 // 3, h * 4 // 5, w, h)
    untouched = (0, 0, w // 2, h // 2)
    changed, unchanged = region_difference(before, after, corner), region_difference(before, after, untouched)
    # Re-encoding a lossy format moves every pixel a little; the watermark moves the corner a lot.
    assert unchanged < 4, f"pixels changed away from the watermark ({unchanged:.1f})"
    assert changed > 2 * unchanged + 4, f"no watermark in the bottom-right corner ({changed:.1f})"
