"""Uploads in parts, straight to storage: start → part URLs → PUT parts → complete → batch, on local
storage (the site's own part endpoint) and on real S3 (SeaweedFS, presigned part URLs). The server
checks the stored object itself; forged completions are refused and leave nothing behind."""

from __future__ import annotations

import io
import shutil

import pytest
from django.test import Client

from backend.batches import storage
from backend.batches.models import StagedUpload
from backend.batches.sweeper import batch_expire_now
from tests.helpers import download_zip, nothing_left, put_part, run_in_process, send_parts
from tests.support import images

API = "/api/v1"
MIB = 1024 * 1024
pytestmark = pytest.mark.django_db(transaction=True)


def test_a_file_sent_in_parts_becomes_a_batch_and_is_deleted_with_it(where, wav, client: Client):
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg")
    sent = send_parts(client, "talk.wav", wav)
    assert sent["status_code"] == 200, sent
    assert (sent["status"], sent["content_type"], sent["part_count"]) == ("complete", "audio/wav", 3)
    photo = send_parts(client, "cat.jpg", images.phone_jpeg("chelsea"))
    assert photo["content_type"] == "image/jpeg"
    answer = client.post(f"{API}/batches", {"uploads": [sent["id"], photo["id"]], "steps": (
        '[{"processor": "web_ready", "options": {"image_size": 200, "audio_bitrate": 128}}]')})
    assert answer.status_code == 201, answer.json()
    assert not StagedUpload.objects.exists(), "the batch took both uploads over"
    batch = run_in_process(answer.json()["id"])
    assert (batch.status, batch.done_count) == ("ready", 2), list(batch.files.values_list("error", flat=True))
    archive = download_zip(client, str(batch.pk))
    assert sorted(archive.namelist()) == ["cat.webp", "talk.mp3"]
    assert archive.getinfo("talk.mp3").file_size > 500_000, "70 s of MP3 at 128 kbit/s"

    # Taken once: a second batch naming the same upload is refused.
    again = client.post(f"{API}/batches", {"uploads": [sent["id"]], "processor": "audio_mp3"})
    assert again.status_code == 400 and "already used" in str(again.json())
    assert batch_expire_now(batch.pk)
    assert nothing_left(sent["id"]) and nothing_left(photo["id"]), "originals sent in parts go with the batch"


def test_an_interrupted_upload_resumes_from_the_parts_storage_holds(where, wav, client: Client):
    partial = send_parts(client, "talk.wav", wav, only={1, 3}, complete=False)
    state = client.get(f"{API}/uploads/{partial['id']}").json()
    assert [part["number"] for part in state["parts"]] == [1, 3]
    early = client.post(f"{API}/uploads/{partial['id']}/complete")
    assert early.status_code == 409 and early.json()["fields"]["parts"] == ["2"], "missing parts are kept"
    url = client.post(f"{API}/uploads/{partial['id']}/parts", {"parts": [2]},
                      content_type="application/json").json()["urls"]["2"]
    assert put_part(client, url, wav[5 * MIB:10 * MIB]) == 200
    done = client.post(f"{API}/uploads/{partial['id']}/complete")
    assert done.status_code == 200 and done.json()["content_type"] == "audio/wav"
    assert storage.object_size(f"uploads/{partial['id']}/original") == len(wav)


@pytest.mark.parametrize("forgery", ["short", "long", "text-as-jpeg", "bomb"])
def test_forged_completions_are_refused_and_leave_nothing(where, wav, forgery, client: Client):
    if forgery in ("short", "long"):
        # Declares more than it sends (the last part short), or less (a part too long).
        declared = len(wav) + 100_000 if forgery == "short" else len(wav) - 1000
        answer = send_parts(client, "talk.wav", wav, declared=declared, put_status=None)
        # Each part's length is bound by its URL's signature (S3's and the site's own): refused on arrival.
        assert answer["refused_parts"] == [3] and answer["status_code"] == 409, answer
        assert client.delete(f"{API}/uploads/{answer['id']}").status_code == 204
        assert nothing_left(answer["id"])
        return
    elif forgery == "text-as-jpeg":
        answer = send_parts(client, "photo.jpg", b"Not a picture at all.\n" * 1000)
    else:
        answer = send_parts(client, "bomb.png", _png_declaring(90_000, 90_000))
    assert answer["status_code"] == 400, answer
    assert answer["error"].endswith(".") and "Traceback" not in answer["error"]
    assert not StagedUpload.objects.filter(pk=answer["id"]).exists()
    assert nothing_left(answer["id"])


def _png_declaring(width: int, height: int) -> bytes:
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + header
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(header)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def test_a_part_url_is_good_for_its_own_part_of_its_own_upload_only(where, wav, client: Client):
    first = send_parts(client, "a.wav", wav, complete=False, only=set())
    second = send_parts(client, "b.wav", wav, complete=False, only=set())
    url = client.post(f"{API}/uploads/{first['id']}/parts", {"parts": [1]},
                      content_type="application/json").json()["urls"]["1"]
    if where == "local":
        token = url.split("/parts/", 1)[1].split("?", 1)[0]
        other = client.post(f"{API}/uploads/{second['id']}/parts", {"parts": [1]},
                            content_type="application/json").json()["urls"]["1"]
        forged = [url.replace(token, token[:20] + ("A" if token[20] != "A" else "B") + token[21:]),
                  url.replace(token, token[::-1])]
        assert other != url, "each upload's part has its own link"
    else:
        other = StagedUpload.objects.get(pk=second["id"])
        forged = [url.replace("partNumber=1", "partNumber=2"),
                  url.replace(f"uploads/{first['id']}", f"uploads/{second['id']}").replace(
                      StagedUpload.objects.get(pk=first["id"]).storage_upload_id, other.storage_upload_id)]
    for bad in forged:
        assert put_part(client, bad, wav[: 5 * MIB]) == 403, bad
    # The part's length is bound by the signature: a longer or shorter body goes nowhere.
    for body in (wav[: 5 * MIB + 1], wav[: 5 * MIB - 1], wav[: 40 * MIB]):
        assert put_part(client, url, body) in (400, 403), len(body)
    out_of_range = client.post(f"{API}/uploads/{first['id']}/parts", {"parts": [4]}, content_type="application/json")
    assert out_of_range.status_code == 400 and "parts 1 to 3" in out_of_range.json()["error"]
    for upload in (first, second):
        assert client.get(f"{API}/uploads/{upload['id']}").json()["parts"] == []


def test_the_page_form_takes_uploads_sent_in_parts(where, client: Client):
    photo = send_parts(client, "cat.jpg", images.phone_jpeg("chelsea"))
    response = client.post("/", {"processor": "thumbnail", "thumbnail-size": "64", "thumbnail-square": "on",
                                 "uploads": [photo["id"]]})
    assert response.status_code == 302, response.content.decode()[:2000]
    batch = run_in_process(response["Location"].split("/")[2])
    assert batch.status == "ready"
    from PIL import Image
    assert Image.open(io.BytesIO(download_zip(client, str(batch.pk)).read("cat.jpg"))).size == (64, 64)


def test_starting_an_upload_checks_what_it_can(client: Client, settings):
    too_big = client.post(f"{API}/uploads", {"name": "huge.mkv", "size": settings.MAX_MEDIA_FILE_BYTES + 1},
                          content_type="application/json")
    assert too_big.status_code == 400 and "may be at most" in too_big.json()["error"]
    empty = client.post(f"{API}/uploads", {"name": "x.jpg", "size": 0}, content_type="application/json")
    assert empty.status_code == 400 and "size" in empty.json()["fields"]
    missing = client.post(f"{API}/uploads/00000000-0000-4000-8000-000000000000/complete")
    assert missing.status_code == 404


