"""Hostile and broken inputs: each refused with a clear message, or processed safely.
Never a 500, never a hang, never a path outside the batch.

(More refusals, each with its message, are in test_upload_validation.py; crafted media
playlists in test_media_inputs.py.)
"""

from __future__ import annotations

import io
import struct
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from backend.batches.intake import IntakeRefused, batch_intake
from backend.batches.models import Batch, BatchFile
from backend.processors import registry
from backend.web.forms import UploadForm
from tests.helpers import encode, form_fields, noisy_image, run_in_process

pytestmark = pytest.mark.django_db


def jpeg_declaring(width: int, height: int) -> bytes:
    """A JPEG whose frame header claims the given size; the pixels never follow."""
    sof = struct.pack(">HBHHB", 11, 8, height, width, 1) + bytes([1, 0x11, 0])
    return b"\xff\xd8" + b"\xff\xc0" + sof + b"\xff\xd9"


def post(client: Client, files: dict[str, bytes], processor: str = "resize", **options: object):
    return client.post("/", {**form_fields(processor, **options),
                             "files": [SimpleUploadedFile(name, data) for name, data in files.items()]})


run = run_in_process


def accepted_batch(response) -> str:
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"].strip("/").split("/")[-1]


def zip_of(client: Client, batch: Batch) -> zipfile.ZipFile:
    import requests

    link = client.get(f"/b/{batch.pk}/download")
    return zipfile.ZipFile(io.BytesIO(requests.get(link["Location"], timeout=10).content))


@pytest.mark.parametrize(("name", "content", "words"), [
    ("bomb.jpg", jpeg_declaring(65_000, 65_000), "is too large"),
    ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "is not an image"),
    ("drawing.jpg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "is not an image"),
    ("page.jpg", b"<!doctype html><html><body><script>alert(1)</script></body></html>", "is not an image"),
])
def test_refused_with_a_clear_message(client, name, content, words, published):
    response = post(client, {name: content})
    assert response.status_code == 400
    page = response.content.decode()
    assert f"“{name}”" in page and words in page
    assert Batch.objects.count() == 0 and published["files"] == []


def test_a_polyglot_is_re_encoded_so_nothing_hidden_survives(client, published, s3_server):
    """A JPEG with a ZIP (or script) glued on is a valid JPEG: it is processed, and the result is
    a fresh encoding that carries none of the appended payload."""
    payload = io.BytesIO()
    with zipfile.ZipFile(payload, "w") as hidden:
        hidden.writestr("evil.html", "<script>alert(1)</script>")
    polyglot = encode(noisy_image((200, 150)), "JPEG") + payload.getvalue()
    batch = run(accepted_batch(post(client, {"poly.jpg": polyglot}, width=100, height=100)))
    assert batch.status == Batch.Status.READY
    result = zip_of(client, batch).read("poly.jpg")
    assert b"PK\x03\x04" not in result and b"<script>" not in result
    assert Image.open(io.BytesIO(result)).size == (100, 75)


def test_truncated_extreme_and_tiny_images_are_processed_or_failed_with_a_reason(client, published, s3_server):
    good = encode(noisy_image((400, 300)), "JPEG")
    files = {
        "truncated.jpg": good[: len(good) // 3],
        "one-pixel.png": encode(Image.new("RGB", (1, 1), "red"), "PNG"),
        "thin-line.png": encode(Image.new("RGB", (30_000, 1), "blue"), "PNG"),
        "tall-line.png": encode(Image.new("L", (1, 30_000), 128), "PNG"),
    }
    batch = run(accepted_batch(post(client, files, width=200, height=200)))
    assert batch.status == Batch.Status.READY
    outcome = dict(BatchFile.objects.filter(batch=batch).values_list("original_name", "status"))
    assert outcome == {"truncated.jpg": "failed", "one-pixel.png": "done", "thin-line.png": "done",
                       "tall-line.png": "done"}
    assert "damaged or incomplete" in BatchFile.objects.get(batch=batch, original_name="truncated.jpg").error
    zipped = zip_of(client, batch)
    assert Image.open(io.BytesIO(zipped.read("thin-line.png"))).size == (200, 1)
    assert Image.open(io.BytesIO(zipped.read("one-pixel.png"))).size == (1, 1), "never enlarged"


def test_hostile_names_become_flat_archive_entries(client, published, s3_server):
    names = ["../../etc/passwd.jpg", "/etc/shadow.jpg", "C:\\Windows\\win.jpg", "nul\x00byte.jpg",
             "bell\x07tab\t.jpg", "evil\u202egpj.exe.jpg", "x" * 1000 + ".jpg", "....jpg"]
    photo = encode(noisy_image((64, 48)), "JPEG")
    batch = run(accepted_batch(post(client, dict.fromkeys(names, photo), "thumbnail")))
    entries = zip_of(client, batch).namelist()
    assert len(entries) == len(names)
    for entry in entries:
        assert "/" not in entry and "\\" not in entry and not entry.startswith(".")
        assert not any(ord(ch) < 32 or ch in "\u202e\u202d\u2066\u2067\u2068" for ch in entry), entry
        assert len(entry) <= 120


def test_ten_thousand_files_in_one_request_are_refused_without_reading_them(client, published):
    files = [SimpleUploadedFile(f"{i}.jpg", b"x") for i in range(10_000)]
    response = client.post("/", {**form_fields("resize"), "files": files})
    assert response.status_code == 400
    assert "Too many files in one upload" in response.content.decode()
    assert Batch.objects.count() == 0


def test_a_wrong_csrf_token_is_refused(published):
    client = Client(enforce_csrf_checks=True)
    client.get("/")
    response = client.post("/", {**form_fields("resize"), "csrfmiddlewaretoken": "x" * 64,
                                 "files": [SimpleUploadedFile("a.jpg", encode(noisy_image((10, 10)), "JPEG"))]})
    assert response.status_code == 403 and "security token" in response.content.decode()
    assert Batch.objects.count() == 0


def test_batches_cannot_be_guessed_or_listed(client, published):
    accepted_batch(post(client, {"a.jpg": encode(noisy_image((64, 48)), "JPEG")}))
    batch = Batch.objects.get()
    assert batch.id.version == 4, "122 random bits"
    guessed = str(batch.id)[:-1] + ("0" if str(batch.id)[-1] != "0" else "1")
    for path in (f"/b/{guessed}/", f"/b/{guessed}/status.json", f"/b/{guessed}/download", "/b/", "/batches/"):
        assert client.get(path).status_code == 404, path
    assert client.get("/api/v1/batches").status_code == 401, "listing is for operators only"


def test_options_with_wrong_types_or_huge_values_are_refused(client, published):
    photo = {"a.jpg": encode(noisy_image((64, 48)), "JPEG")}
    for options, words in [({"mode": "exact", "width": 100_000, "height": 100_000}, "less than or equal to"),
                           ({"width": "wide"}, "whole number"), ({"percent": -5, "mode": "percent"}, "greater than")]:
        response = post(client, photo, **options)
        assert response.status_code == 400 and words in response.content.decode(), options
    assert Batch.objects.count() == 0


# ---------------------------------------------------------------------------
# Property-based: whatever comes in, only validation errors come out.

anything = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                     st.text(max_size=300), st.binary(max_size=64).map(lambda b: b.decode("latin-1")))


@given(data=st.data())
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_any_option_values_only_ever_fail_validation(data):
    for cls in registry.available():
        fields = list(cls.Options.base_fields)
        values = data.draw(st.dictionaries(st.sampled_from(fields), anything) if fields else st.just({}))
        form = cls.options_form(data={k: v for k, v in values.items() if v is not None})
        if form.is_valid():
            assert set(form.cleaned_data) == set(fields)
        else:
            assert form.errors


@given(blobs=st.lists(st.binary(max_size=2048), min_size=1, max_size=4), processor=st.sampled_from(
    ["resize", "thumbnail", "convert", "watermark_text", "web_ready", "no_such_processor"]))
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@pytest.mark.django_db
def test_any_bytes_only_ever_fail_upload_validation(blobs, processor):
    files = [SimpleUploadedFile(f"f{i}.jpg", blob) for i, blob in enumerate(blobs)]
    from django.utils.datastructures import MultiValueDict

    form = UploadForm({"processor": processor}, MultiValueDict({"files": files}))
    if not form.is_valid():
        assert form.errors
        return
    try:
        batch = batch_intake(form.order())
    except IntakeRefused as refused:
        assert refused.steps or refused.problems
    else:  # only real images (or media headers) get this far
        assert all(f.content_type.split("/")[0] in {"image", "video", "audio"} for f in batch.files.all())
