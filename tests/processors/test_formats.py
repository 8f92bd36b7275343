"""HEIC/HEIF, AVIF, JPEG XL and camera RAW: read upright with their colour profile, written with
quality options; a real worker runs them all. (How they are recognised and budgeted at upload is
tests/batches/test_uploads.py.)"""

from __future__ import annotations

import io

import pytest
from django.test import Client
from PIL import Image

from backend.processors.base import ProcessingError
from backend.processors.imaging import DECODERS, run_image_chain
from backend.processors.transform import Thumbnail
from tests.helpers import download_zip, post_batch, run_in_process, wait_for_batch
from tests.support import images


def test_camera_raw_is_white_balanced_and_a_thumbnail_demosaics_at_half_size(tmp_path):
    """The sensor sees green twice as strongly as red: without the camera's white balance the
    photo would come out green. A thumbnail needs a quarter of the pixels: LibRaw's half-size
    decode gives them without demosaicing the whole sensor."""
    source = tmp_path / "cat.dng"
    source.write_bytes(images.camera_dng("chelsea"))
    with Image.open(source, formats=DECODERS) as image:
        red, green, blue = image.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    original = images.photo("chelsea").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))
    assert red > green > blue and original[0] > original[1] > original[2], "a ginger cat stays ginger"
    assert abs(red / green - original[0] / original[1]) < 0.25
    with Image.open(source, formats=DECODERS) as image:
        assert image.draft("RGB", (100, 100)) is not None and image.size == (225, 150)
    (result,) = run_image_chain([(Thumbnail(), {"size": 100, "square": True})], source, tmp_path, lambda _: None)
    assert result.name == "cat.jpg", "RAW is read, never written: results default to JPEG"
    assert Image.open(result).size == (100, 100)


@pytest.mark.django_db
def test_the_api_refuses_a_huge_heic_with_a_sentence():
    response = post_batch(Client(), {"bomb.heic": images.huge_heic()}, processor="resize",
                          options={"width": 100, "height": 100})
    assert response.status_code == 400
    assert "bomb.heic" in str(response.json()) and "too large" in str(response.json())


@pytest.mark.integration
def test_every_new_format_in_and_out_through_a_real_worker(processes, s3_server):
    processes.start("worker", "--concurrency", "1", WORKER_QUEUES="images,default")
    files = {name: make() for name, (make, _) in images.NEWER_FORMATS.items()}
    response = post_batch(Client(), files, steps=[{"processor": "convert", "options": {"format": "PNG"}}])
    assert response.status_code == 201, response.json()
    batch = wait_for_batch(response.json()["id"], timeout=120)
    assert (batch.status, batch.done_count, batch.failed_count) == ("ready", 5, 0), list(
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
    camera = result("camera.png")
    assert camera.size == (300, 450), "the camera's orientation applied by LibRaw, once"

    # A RAW photo with a step that keeps the format: written as JPEG; a damaged one fails alone.
    dng = images.camera_dng()
    response = post_batch(Client(), {"good.dng": dng, "cut.dng": dng[: len(dng) * 2 // 3]}, processor="resize",
                          options={"mode": "fit", "width": 200, "height": 200})
    assert response.status_code == 201, response.json()
    batch = wait_for_batch(response.json()["id"], timeout=120)
    assert (batch.done_count, batch.failed_count) == (1, 1)
    assert "could not be read" in batch.files.get(original_name="cut.dng").error.lower()
    archive = download_zip(Client(), str(batch.pk))
    assert Image.open(io.BytesIO(archive.read("good.jpg"))).size == (200, 133)

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


@pytest.mark.django_db
@pytest.mark.parametrize("blank", [0, 64, 1000, 4095], ids=["zeros", "black-level", "grey", "white"])
def test_a_raw_file_without_image_data_fails_with_a_sentence_never_a_black_picture(tmp_path, blank, published):
    """Any one value over the whole sensor: data left out or wiped. The file fails, with its reason."""
    source = tmp_path / "empty.dng"
    source.write_bytes(images.camera_dng(blank=blank))
    with pytest.raises(ProcessingError, match="has no image data"):
        run_image_chain([(Thumbnail(), {"size": 100, "square": False})], source, tmp_path, lambda _: None)
    answer = post_batch(Client(), {"empty.dng": source.read_bytes(), "cat.dng": images.camera_dng()},
                        processor="thumbnail", options={"size": 64})
    batch = run_in_process(answer.json()["id"])
    states = dict(batch.files.values_list("original_name", "status"))
    assert states == {"empty.dng": "failed", "cat.dng": "done"}
    assert batch.files.get(original_name="empty.dng").error == "Has no image data: its sensor data is missing or blank."
