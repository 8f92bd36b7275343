"""The one representation of a batch's state: the API, the waiting page's polling and the callback
show the same figures, labels and links, made by one serializer."""

import pytest
from django.test import Client

from backend.batches import webhooks
from backend.batches.models import Batch
from tests.helpers import encode, noisy_image, post_batch, run_in_process

pytestmark = pytest.mark.django_db(transaction=True)

CLOCK_FIELDS = {"now", "elapsed_seconds", "expires_in_seconds", "eta_seconds"}  # read at each answer


def without_clock(state: dict) -> dict:
    return {key: value for key, value in state.items() if key not in CLOCK_FIELDS}


@pytest.mark.parametrize("outcome", ["pending", "ready"])
def test_api_page_and_callback_show_one_state(outcome, settings, published):
    settings.SITE_URL = "http://testserver"
    client = Client()
    # The second PNG is cut short after its header: taken in, then failed by the worker.
    created = post_batch(client, {"good.png": encode(noisy_image((120, 90)), "PNG"),
                                  "cut.png": encode(noisy_image((60, 40)), "PNG")[:200]},
                         processor="resize", options={"width": 60})
    assert created.status_code == 201, created.json()
    batch_id = created.json()["id"]
    if outcome == "ready":
        run_in_process(batch_id)
    api = client.get(f"/api/v1/batches/{batch_id}").json()
    page = client.get(f"/b/{batch_id}/status.json").json()
    callback = webhooks.payload(Batch.objects.get(pk=batch_id), "ready")["batch"]
    assert without_clock(api) == without_clock(page) == without_clock(callback)
    assert api["status"] == outcome
    assert api["page_url"] == f"http://testserver/b/{batch_id}/"
    assert api["status_url"] == f"http://testserver/api/v1/batches/{batch_id}"
    if outcome == "ready":
        assert api["download_url"] == f"http://testserver/b/{batch_id}/download"
        assert api["headline"] == "Ready: 1 done, 1 failed"
        done = next(f for f in api["files"] if f["status"] == "done")
        assert done["results"][0]["url"].startswith(f"http://testserver/b/{batch_id}/r/{done['id']}/0")
        assert done["status_label"] == "Done" and done["status_icon"] == "✓"
        failed = next(f for f in api["files"] if f["status"] == "failed")
        assert failed["error"] and failed["results"] == [] and failed["preview_url"] is None
        assert api["errors_url"] == f"http://testserver/b/{batch_id}/errors.txt"
    else:
        assert api["download_url"] is None and api["cancel_url"].endswith(f"/api/v1/batches/{batch_id}/cancel")


def test_the_page_renders_the_same_state(published):
    client = Client()
    created = post_batch(client, {"a.png": encode(noisy_image((80, 60)), "PNG")}, processor="resize",
                         options={"width": 40})
    batch_id = created.json()["id"]
    run_in_process(batch_id)
    state = client.get(f"/api/v1/batches/{batch_id}").json()
    page = client.get(f"/b/{batch_id}/").content.decode()
    assert state["headline"] in page and state["download_url"].removeprefix("http://testserver") in page
    assert state["files"][0]["results"][0]["url"] in page
