"""Output budgets: a few bytes in must not become gigabytes out. A result larger than its budget, or one
that would take its batch past its total, fails its file with the sizes in its reason; nothing of it is
kept, and the batch's other files are delivered."""

import pytest
from django.test import Client

from backend.batches import storage
from backend.batches.models import Batch
from tests.helpers import encode, noisy_image, post_batch, run_in_process

pytestmark = pytest.mark.django_db(transaction=True)
MB = 1_000_000


def tiny(seed: int = 1) -> bytes:
    return encode(noisy_image((8, 8), seed=seed), "PNG")


def enlarged(client: Client, files: dict[str, bytes], side: int, fmt: str) -> Batch:
    steps = [{"processor": "resize", "options": {"mode": "fit", "width": side, "height": side, "upscale": True}},
             {"processor": "convert", "options": {"format": fmt}}]
    answer = post_batch(client, files, steps=steps)
    assert answer.status_code == 201, answer.json()
    return run_in_process(answer.json()["id"])


@pytest.mark.parametrize("side", [800, 1500, 2500])
def test_a_result_past_its_budget_fails_its_file_and_nothing_of_it_is_kept(settings, published, side):
    settings.RESULT_FLOOR_BYTES = 1 * MB  # 1 MB or 50 times the original, whichever is more
    fmt = "TIFF"  # uncompressed: its size is its pixels'
    photo = encode(noisy_image((side, side * 3 // 4)), "JPEG", quality=95)  # kept at its size: under 50×
    batch = enlarged(Client(), {"tiny.png": tiny(), "photo.jpg": photo}, side, fmt)
    states = {f.original_name: f for f in batch.files.all()}
    assert batch.status == "ready" and states["photo.jpg"].status == "done"
    failed = states["tiny.png"]
    assert failed.status == "failed" and "a result may be at most 1.0 MB" in failed.error, failed.error
    assert storage.list_prefix(f"{batch.prefix}out/{failed.pk}/") == []
    assert batch.output_bytes == sum(r["size"] for r in states["photo.jpg"].results)


def test_a_batchs_results_stop_at_its_total(settings, published):
    settings.RESULT_FLOOR_BYTES = 100 * MB
    one = enlarged(Client(), {"a.png": tiny(1)}, 1500, "TIFF").output_bytes
    settings.BATCH_MAX_OUTPUT_BYTES = one * 3 // 2  # room for one such result, not two
    batch = enlarged(Client(), {"a.png": tiny(1), "b.png": tiny(2), "c.png": tiny(3)}, 1500, "TIFF")
    statuses = sorted(batch.files.values_list("status", flat=True))
    assert statuses == ["done", "failed", "failed"]
    reasons = set(batch.files.filter(status="failed").values_list("error", flat=True))
    assert reasons == {f"Would take the batch's results past {settings.BATCH_MAX_OUTPUT_BYTES / MB:,.1f} MB in all."}
    assert batch.output_bytes <= settings.BATCH_MAX_OUTPUT_BYTES
