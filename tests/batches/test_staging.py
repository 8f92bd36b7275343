"""Files sent in parts before their batch exists (`batches.staging`): the part size, a completion cut short,
uploads taken by one batch only, and abandoned ones swept, on local storage and on real S3."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from backend.batches import staging, storage
from backend.batches.models import StagedUpload
from backend.batches.staging import uploads_sweep
from backend.batches.uploads import UploadRefused
from tests.helpers import encode, noisy_image, nothing_left, send_parts

pytestmark = pytest.mark.django_db(transaction=True)
API = "/api/v1"
MIB = 1024 * 1024


def test_the_part_size_keeps_every_upload_within_ten_thousand_parts(settings):
    settings.UPLOAD_PART_BYTES = 8 * MIB
    small = staging.upload_start("a.jpg", 1)
    assert (small.part_size, small.part_count) == (8 * MIB, 1)
    settings.MAX_MEDIA_FILE_BYTES = settings.UPLOAD_MAX_BYTES_PER_CLIENT = 200 * 1024 * MIB
    huge = staging.upload_start("film.mkv", 100 * 1024 * MIB)
    assert huge.part_count <= staging.MAX_PARTS and huge.part_size * huge.part_count >= huge.size
    for upload in (small, huge):
        staging.upload_discard(upload)
        assert nothing_left(str(upload.pk))


def test_a_completed_upload_is_taken_by_one_batch_only(client: Client):
    sent = send_parts(client, "cat.jpg", encode(noisy_image((64, 64)), "JPEG"))
    upload = StagedUpload.objects.get(pk=sent["id"])
    (taken,), problems = staging.staged_check([upload.pk], lambda content_type: None)
    assert problems == [] and taken.key == upload.key and taken.sniffed.content_type == "image/jpeg"
    staging.staged_take([upload.key])
    with pytest.raises(UploadRefused, match="taken by another batch"):
        staging.staged_take([upload.key])
    assert staging.staged_check([upload.pk], lambda content_type: None)[1][0].startswith("No upload has the id")


def test_abandoned_uploads_are_aborted_by_the_sweeper(where, wav, client: Client, settings):
    left = send_parts(client, "talk.wav", wav, only={1}, complete=False)
    unused = send_parts(client, "cat.jpg", encode(noisy_image((64, 64)), "JPEG"))
    young = send_parts(client, "young.wav", wav, only={2}, complete=False)
    StagedUpload.objects.filter(pk__in=[left["id"], unused["id"]]).update(
        created_at=timezone.now() - timedelta(seconds=settings.UPLOAD_ABANDON_SECONDS + 60))
    assert sorted(uploads_sweep()) == sorted([left["id"], unused["id"]])
    assert nothing_left(left["id"]) and nothing_left(unused["id"])
    assert client.get(f"{API}/uploads/{young['id']}").json()["parts"] == [{"number": 2, "size": 5 * MIB}]

    # Storage's own leftovers with no row at all (a web process killed midway) go too, once old.
    StagedUpload.objects.filter(pk=young["id"]).delete()
    assert young["id"] not in uploads_sweep(), "too young: its web process may still be starting it"
    later = timezone.now() + timedelta(seconds=settings.UPLOAD_ABANDON_SECONDS + 60)
    assert young["id"] in uploads_sweep(later)
    assert nothing_left(young["id"])
    if where == "s3":
        assert storage.multipart_in_progress("uploads/") == [] and storage.list_prefix("uploads/") == []


def test_a_completion_cut_short_after_joining_completes_on_the_next_try(where, wav, client: Client):
    """The web process died after storage joined the parts and before the row said so."""
    sent = send_parts(client, "talk.wav", wav, complete=False)
    upload = StagedUpload.objects.get(pk=sent["id"])
    parts = storage.multipart_parts(upload.key, upload.storage_upload_id)
    storage.multipart_complete(upload.key, upload.storage_upload_id, {n: etag for n, (_, etag) in parts.items()})
    again = client.post(f"{API}/uploads/{sent['id']}/complete")
    assert again.status_code == 200 and again.json()["content_type"] == "audio/wav"
