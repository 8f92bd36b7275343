"""Bad input is refused before anything is stored, with a message next to the field."""

from __future__ import annotations

import struct
import zipfile
import zlib
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from backend.batches.models import Batch
from backend.processors import Processor
from tests.helpers import WATERMARK, encode, noisy_image, upload

pytestmark = pytest.mark.django_db

JPEG = encode(noisy_image((64, 48)), "JPEG")


def png_declaring(width: int, height: int) -> bytes:
    """A PNG whose header claims the given size (a decompression bomb needs no more)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def zip_bytes() -> bytes:
    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.txt", "hello")
    return buffer.getvalue()


def assert_refused(response, *fragments: str, status: int = 400) -> None:
    assert response.status_code == status, response.status_code
    page = response.content.decode()
    for fragment in fragments:
        assert fragment in page, f"{fragment!r} not in the page"
    assert Batch.objects.count() == 0


@pytest.fixture
def nothing_stored(s3_server):
    before = set(s3_server.keys("batches/"))
    yield
    assert set(s3_server.keys("batches/")) == before, "a refused upload left objects in storage"


@pytest.mark.usefixtures("nothing_stored")
class TestRefusedUploads:
    def test_no_file(self, client: Client):
        assert_refused(client.post("/", WATERMARK), "Choose at least one file")

    def test_too_many_files(self, client: Client, settings):
        settings.MAX_FILES_PER_BATCH = 3
        files = {f"{i}.jpg": JPEG for i in range(4)}
        assert_refused(upload(client, files), "Too many files: 4 chosen, at most 3 per batch")

    def test_far_too_many_files_for_the_parser(self, client: Client, settings):
        settings.DATA_UPLOAD_MAX_NUMBER_FILES = 5
        files = {f"{i}.jpg": JPEG for i in range(6)}
        assert_refused(upload(client, files), "Too many files in one upload")

    def test_file_over_the_size_limit(self, client: Client, settings):
        settings.MAX_FILE_BYTES = len(JPEG) - 1
        assert_refused(upload(client, {"big.jpg": JPEG}), "“big.jpg” is", "each image may be at most")

    def test_batch_over_the_size_limit(self, client: Client, settings):
        settings.MAX_BATCH_BYTES = len(JPEG) * 2 - 1
        assert_refused(upload(client, {"a.jpg": JPEG, "b.jpg": JPEG}), "a batch may be at most")

    @pytest.mark.parametrize("content", [b"just some text, not a picture", b"<html><script>x</script></html>",
                                         zip_bytes()], ids=["text", "html", "zip"])
    def test_content_that_is_not_an_image_despite_its_name(self, client: Client, content: bytes):
        assert_refused(upload(client, {"photo.jpg": content}), "“photo.jpg” is not an image")

    def test_empty_file(self, client: Client):
        assert_refused(upload(client, {"empty.png": b""}), "“empty.png” is empty")

    def test_decompression_bomb(self, client: Client):
        assert_refused(upload(client, {"bomb.png": png_declaring(100_000, 100_000)}), "“bomb.png” is too large")

    def test_image_over_the_pixel_limit(self, client: Client, settings):
        settings.MAX_IMAGE_PIXELS = 64 * 48 - 1
        assert_refused(upload(client, {"a.jpg": JPEG}), "megapixels are accepted")

    def test_type_the_processor_does_not_accept(self, client: Client, scratch_registry):
        class PngOnly(Processor):
            name, label, accepts = "png_only", "PNG optimiser", ("image/png", "image/webp")

            def edit(self, source, target_dir, options, progress):
                raise AssertionError("never runs: the upload is refused")

        gif = encode(noisy_image((32, 32)).convert("P"), "GIF")
        response = upload(client, {"anim.gif": gif}, processor="png_only")
        assert_refused(response, "“anim.gif” is GIF; PNG optimiser accepts PNG and WebP")

    @pytest.mark.parametrize(("field", "value", "message"), [
        ("size", "0", "greater than or equal to 1"),
        ("size", "500", "less than or equal to 50"),
        ("opacity", "abc", "Enter a whole number"),
        ("color", "red", "Enter a colour as #rrggbb"),
        ("position", "nowhere", "Select a valid choice"),
        ("text", "   ", "Enter the text to stamp"),
    ])
    def test_options_out_of_range(self, client: Client, field: str, value: str, message: str):
        response = upload(client, {"a.jpg": JPEG}, **{f"watermark_text-{field}": value})
        assert_refused(response, message, "Check the options of “Watermark (text)”")

    def test_unknown_processor(self, client: Client):
        assert_refused(upload(client, {"a.jpg": JPEG}, processor="nope"), "Select a valid choice")

    def test_missing_csrf_token(self):
        client = Client(enforce_csrf_checks=True)
        response = client.post("/", {**WATERMARK, "files": [SimpleUploadedFile("a.jpg", JPEG)]})
        assert_refused(response, "security token", status=403)

    def test_request_body_over_the_limit_is_refused_from_its_length(self, client: Client, settings):
        settings.MAX_REQUEST_BYTES = 1
        response = client.post("/", data=b"x" * (2 * 1024 * 1024), content_type="application/octet-stream")
        assert_refused(response, "The upload is too large", status=413)


def test_bad_files_are_named_each(client: Client, s3_server):
    response = upload(client, {"ok.jpg": JPEG, "notes.jpg": b"text", "bomb.png": png_declaring(90_000, 90_000)})
    assert_refused(response, "“notes.jpg” is not an image", "“bomb.png” is too large")


@pytest.mark.parametrize("path", ["/b/00000000-0000-4000-8000-000000000000/", "/b/not-a-uuid/",
                                  "/b/00000000-0000-4000-8000-000000000000/download", "/b/%2e%2e/etc/passwd"])
def test_unknown_or_malformed_batch_ids_are_404_pages(client: Client, path: str):
    response = client.get(path)
    assert response.status_code == 404
    assert "Not found" in response.content.decode()


def test_unknown_batch_status_is_json_404(client: Client):
    response = client.get("/b/00000000-0000-4000-8000-000000000000/status.json")
    assert response.status_code == 404
    assert response.json() == {"error": "No batch has this id."}


def test_hostile_names_never_reach_storage_keys(client: Client, s3_server):
    names = ["../../etc/passwd.jpg", "/abs/path.jpg", "a\x00b.jpg", "x" * 1000 + ".jpg", "dup.jpg", "DUP.jpg",
             "evil\u202egpj.exe"]
    files = [SimpleUploadedFile(name, JPEG) for name in names]
    response = client.post("/", {**WATERMARK, "files": files})
    assert response.status_code == 302
    batch = Batch.objects.get()
    keys = s3_server.keys(f"batches/{batch.id}/")
    assert len(keys) == len(names)
    for key, file in zip(sorted(keys), sorted(batch.files.all(), key=lambda f: f.source_key), strict=True):
        assert key == file.source_key
        assert key.startswith(f"batches/{batch.id}/in/") and ".." not in key and "\x00" not in key
    safe_names = sorted(batch.files.values_list("safe_name", flat=True))
    assert len({n.lower() for n in safe_names}) == len(names), safe_names
    assert all("/" not in n and "\x00" not in n and "\u202e" not in n and len(n) <= 120 for n in safe_names)
