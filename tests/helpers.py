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
from backend.processors import registry

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
