"""HEIC/HEIF, AVIF and JPEG XL: recognised from their bytes, limits applied before decoding, read
upright with their colour profile, written with quality options; a real worker runs them all."""

from __future__ import annotations

import io

import pytest
from django.test import Client
from PIL import Image

from backend.batches.uploads import UploadRefused, sniff
from tests.helpers import download_zip, post_batch, wait_for_batch
from tests.support import images

NEW_INPUTS = {
    "iphone.heic": (images.phone_heic, "image/heif"),
    "burst.heic": (images.burst_heic, "image/heif"),
    "alpha.avif": (images.avif_with_alpha, "image/avif"),
    "rocket.jxl": (images.jpeg_xl, "image/jxl"),
}


@pytest.mark.parametrize("name", NEW_INPUTS)
def test_each_new_format_is_recognised_from_its_bytes(name):
    make, content_type = NEW_INPUTS[name]
    assert sniff(io.BytesIO(make())).content_type == content_type


def test_a_heic_declaring_huge_dimensions_is_refused_before_any_decode(settings):
    with pytest.raises(UploadRefused, match="too large"):
        sniff(io.BytesIO(images.huge_heic()))
    settings.MAX_IMAGE_PIXELS = 100 * 100  # the site's own budget, under Pillow's bomb limit
    with pytest.raises(UploadRefused, match="too large"):
        sniff(io.BytesIO(images.phone_heic()))


@pytest.mark.django_db
def test_the_api_refuses_a_huge_heic_with_a_sentence():
    response = post_batch(Client(), {"bomb.heic": images.huge_heic()}, processor="resize",
                          options={"width": 100, "height": 100})
    assert response.status_code == 400
    assert "bomb.heic" in str(response.json()) and "too large" in str(response.json())


@pytest.mark.integration
def test_every_new_format_in_and_out_through_a_real_worker(processes, s3_server):
    processes.start("worker", "--concurrency", "1", WORKER_QUEUES="images,default")
    files = {name: make() for name, (make, _) in NEW_INPUTS.items()}
    response = post_batch(Client(), files, steps=[{"processor": "convert", "options": {"format": "PNG"}}])
    assert response.status_code == 201, response.json()
    batch = wait_for_batch(response.json()["id"], timeout=120)
    assert (batch.status, batch.done_count, batch.failed_count) == ("ready", 4, 0), list(
        batch.files.values_list("original_name", "error"))
    archive = download_zip(Client(), str(batch.pk))

    def result(name: str) -> Image.Image:
        return Image.open(io.BytesIO(archive.read(name)))

    iphone = result("iphone.png")
    assert iphone.size == (400, 600), "stood upright: the phone's landscape pixels shown portrait"
    assert iphone.info.get("icc_profile"), "the colour profile travels with the picture"
    burst = result("burst.png")
    assert burst.size == (200, 300) and burst.convert("RGB").getpixel((100, 150))[2] > 180, "the primary image"
    alpha = result("alpha.png")
    assert alpha.mode == "RGBA" and alpha.getpixel((10, 256))[3] == 0 and alpha.getpixel((400, 256))[3] == 255
    assert result("rocket.png").size == (640, 427)

    # Out: AVIF and JPEG XL with their quality option, smaller at lower quality.
    sizes = {}
    for fmt, quality in [("AVIF", 30), ("AVIF", 90), ("JXL", 30), ("JXL", 90)]:
        response = post_batch(Client(), {"photo.jpg": images.phone_jpeg("astronaut")},
                              steps=[{"processor": "convert", "options": {"format": fmt, "quality": quality}}])
        batch = wait_for_batch(response.json()["id"], timeout=120)
        assert batch.status == "ready", list(batch.files.values_list("error", flat=True))
        archive = download_zip(Client(), str(batch.pk))
        (name,) = archive.namelist()
        data = archive.read(name)
        assert Image.open(io.BytesIO(data)).format == fmt and Image.open(io.BytesIO(data)).size == (512, 512)
        sizes[fmt, quality] = len(data)
    assert sizes["AVIF", 30] < sizes["AVIF", 90] and sizes["JXL", 30] < sizes["JXL", 90]
