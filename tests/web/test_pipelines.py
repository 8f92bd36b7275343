"""Chains of steps from the form, presets (settings and admin), and the admin's view of processors."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from backend.batches.models import Batch, Preset
from backend.batches.steps import MAX_STEPS
from backend.processors import Processor, registry
from tests.helpers import changed_fraction, download_zip, run_in_process
from tests.support import images

pytestmark = pytest.mark.django_db


def post(client: Client, files: dict[str, bytes], fields: dict[str, object]):
    uploads = [SimpleUploadedFile(name, content) for name, content in files.items()]
    return client.post("/", {**fields, "files": uploads})


def run_batch(client: Client, response) -> tuple[Batch, zipfile.ZipFile]:
    """Process an accepted batch in-process, as a worker would, and fetch its ZIP."""
    assert response.status_code == 302, response.content.decode()[:2000]
    batch = Batch.objects.get(pk=response["Location"].strip("/").split("/")[-1])
    batch = run_in_process(str(batch.pk))
    return batch, download_zip(client, str(batch.pk))


def test_the_form_offers_every_processor_in_every_step_slot(client):
    page = client.get("/").content.decode()
    for cls in registry.available():
        assert str(cls.label) in page and f'value="{cls.name}"' in page
        for field in cls.Options.base_fields:
            assert f'name="{cls.name}-{field}"' in page, "first step: plain names"
            assert f'name="step{MAX_STEPS}-{cls.name}-{field}"' in page, "later steps: prefixed"
    for key in ("web-gallery", "social-square"):
        assert f'value="{key}"' in page


def test_a_chain_chosen_in_the_form_runs_as_one_step_per_file(client, published):
    logo = images.logo_png()
    photo = images.phone_jpeg("astronaut")
    response = post(client, {"portrait.jpg": photo, "cat.png": images.rgba_png()}, {
        "processor": "resize", "resize-mode": "fit", "resize-width": "256", "resize-height": "256",
        "step2-processor": "watermark_image", "step2-watermark_image-logo": SimpleUploadedFile("logo.png", logo),
        "step2-watermark_image-scale": "20", "step2-watermark_image-opacity": "100",
        "step2-watermark_image-position": "top-left", "step2-watermark_image-margin": "2",
        "step3-processor": "convert", "step3-convert-format": "WEBP", "step3-convert-quality": "90",
    })
    batch, zipped = run_batch(client, response)
    assert [step["processor"] for step in batch.steps] == ["resize", "watermark_image", "convert"]
    assert batch.steps[1]["options"]["logo"] == {"asset": f"{batch.prefix}assets/step1-logo.png"}
    assert sorted(zipped.namelist()) == ["cat.webp", "portrait.webp"]
    result = Image.open(io.BytesIO(zipped.read("portrait.webp")))
    assert result.format == "WEBP" and result.size == (256, 256)
    reference = images.photo("astronaut").resize((256, 256), Image.Resampling.LANCZOS)
    assert changed_fraction(reference, result, (0, 0, 128, 128)) > 0.02, "logo at the top left"
    assert changed_fraction(reference, result, (128, 128, 256, 256)) < 0.002
    cat = Image.open(io.BytesIO(zipped.read("cat.webp")))
    assert cat.size == (256, 170) and cat.mode == "RGBA"


def test_an_empty_middle_slot_is_skipped(client, published):
    response = post(client, {"a.png": images.save(images.photo("coffee"), "PNG")}, {
        "processor": "thumbnail", "thumbnail-size": "64", "thumbnail-square": "on",
        "step2-processor": "", "step3-processor": "convert", "step3-convert-format": "JPEG",
        "step3-convert-quality": "80",
    })
    batch, zipped = run_batch(client, response)
    assert [step["processor"] for step in batch.steps] == ["thumbnail", "convert"]
    assert Image.open(io.BytesIO(zipped.read("a.jpg"))).size == (64, 64)


def test_bad_options_in_a_later_step_name_the_step_and_the_field(client):
    response = post(client, {"a.png": images.save(images.photo("coffee"), "PNG")}, {
        "processor": "thumbnail", "thumbnail-size": "64",
        "step2-processor": "resize", "step2-resize-mode": "exact", "step2-resize-width": "0",
    })
    assert response.status_code == 400
    page = response.content.decode()
    assert "Check the options of step 2, “Resize”" in page
    assert "greater than or equal to 1" in page and "Enter both width and height for this mode." in page
    assert not Batch.objects.exists()


def test_a_step_that_cannot_follow_the_one_before_is_refused_on_the_page(client, published):
    if registry.get("video_mp4") is None:
        pytest.skip("ffmpeg is not installed")
    response = post(client, {"clip.mp4": b"\x00\x00\x00\x18ftypisom" + bytes(64)}, {
        "processor": "video_mp4", **{f"video_mp4-{k}": v for k, v in registry.get("video_mp4").default_options().items()
                                    if v is not None},
        "step2-processor": "resize", "step2-resize-mode": "fit", "step2-resize-width": "100",
        "step2-resize-height": "100",
    })
    assert response.status_code == 400
    page = response.content.decode()
    assert "“Resize” works on images, but step 1 makes videos, so it cannot follow it." in page
    assert not Batch.objects.exists() and published["files"] == []


def test_each_file_must_suit_the_whole_chain(client, published):
    if registry.get("web_ready") is None or registry.get("video_mp4") is None:
        pytest.skip("ffmpeg is not installed")
    response = post(client, {"clip.mp4": b"\x00\x00\x00\x18ftypisom" + bytes(64),
                             "photo.jpg": images.phone_jpeg()}, {
        "processor": "web_ready", **{f"web_ready-{k}": v for k, v in registry.get("web_ready").default_options().items()
                                    if v is not None},
        "step2-processor": "colour", "step2-colour-operation": "grayscale",
    })
    assert response.status_code == 400
    assert "“clip.mp4” is MP4 video; these steps together accept images." in response.content.decode()


def test_a_settings_preset_runs_in_one_click(client, published):
    big = images.save(images.photo("astronaut").resize((2000, 2000)), "JPEG", quality=92)
    response = post(client, {"big.jpg": big}, {"preset": "web-gallery"})
    batch, zipped = run_batch(client, response)
    assert [step["processor"] for step in batch.steps] == ["resize", "watermark_text", "convert"]
    result = Image.open(io.BytesIO(zipped.read("big.webp")))
    assert result.format == "WEBP" and result.size == (1600, 1600)


def test_an_admin_preset_is_validated_saved_with_defaults_and_offered(client, admin_client, published):
    bad = admin_client.post("/admin/batches/preset/add/", {
        "label": "Shop", "enabled": "on",
        "steps": '[{"processor": "resize", "options": {"mode": "percent", "percent": 0}}, {"processor": "nope"}]',
    })
    assert bad.status_code == 200 and not Preset.objects.exists()
    page = bad.content.decode()
    assert "Step 1 (Resize): percent: Ensure this value is greater than or equal to 1." in page
    assert "Step 2: “nope” is not an available processing type." in page
    bomb = admin_client.post("/admin/batches/preset/add/", {"label": "Deep", "steps": "[" * 50_000 + "]" * 50_000})
    assert bomb.status_code == 200 and "Too deeply nested" in bomb.content.decode(), "a form error, not a 500"

    good = admin_client.post("/admin/batches/preset/add/", {
        "label": "Shop: 800 px squares, JPEG", "enabled": "on",
        "steps": '[{"processor": "resize", "options": {"mode": "fill", "width": 800, "height": 800}},'
                 ' {"processor": "convert", "options": {"format": "JPEG"}}]',
    })
    assert good.status_code == 302
    preset = Preset.objects.get()
    assert preset.steps[1]["options"]["quality"] == 85, "stored with every default written out"
    assert "Shop: 800 px squares, JPEG" in client.get("/").content.decode()

    response = post(client, {"p.png": images.save(images.photo("coffee").resize((1200, 900)), "PNG")},
                    {"preset": f"db-{preset.pk}"})
    _, zipped = run_batch(client, response)
    result = Image.open(io.BytesIO(zipped.read("p.jpg")))
    assert result.format == "JPEG" and result.size == (800, 800)


def test_a_processor_missing_its_library_is_not_offered_and_the_admin_says_why(client, admin_client,
                                                                                 scratch_registry):
    class Vectorise(Processor):
        name, label = "vectorise", "Vectorise to SVG"

        @classmethod
        def unavailable_reason(cls) -> str | None:
            return "needs the “potrace” program, which is not installed on this machine"

        def edit(self, source, target_dir, options, progress):
            raise AssertionError("never offered, never run")

    assert "Vectorise to SVG" not in client.get("/").content.decode()
    refused = post(client, {"a.png": images.save(images.photo("coffee"), "PNG")}, {"processor": "vectorise"})
    assert refused.status_code == 400 and "Select a valid choice" in refused.content.decode()

    page = admin_client.get("/admin/processors/").content.decode()
    assert "Vectorise to SVG" in page and "needs the “potrace” program" in page
    for cls in registry.available():
        assert str(cls.label) in page
    assert "/admin/processors/" in admin_client.get("/admin/").content.decode(), "linked from the admin index"
    assert client.get("/admin/processors/").status_code == 302, "staff only"
