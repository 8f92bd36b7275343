"""Callbacks: one signed POST when a batch ends, retried until accepted, never to a private address
unless allowed; the body is the batch's state as the API answers it."""

import pytest

from backend.batches import webhooks
from backend.batches.models import Batch
from tests.helpers import photo, post_batch, run_in_process
from tests.support.webhooks import assert_signed

pytestmark = pytest.mark.django_db


def test_a_ready_batch_posts_one_signed_callback_retried_until_accepted(
        client, settings, receiver, published, django_capture_on_commit_callbacks):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_ALLOW_PRIVATE = True
    settings.WEBHOOK_SECRET = "site secret"
    body = post_batch(client, {"a.jpg": photo()}, processor="resize", webhook_url=receiver.url).json()
    with django_capture_on_commit_callbacks(execute=True):
        run_in_process(body["id"])
    assert published["webhooks"] == [(body["id"], "ready")]

    receiver.replies = [503]
    assert webhooks.deliver(body["id"], "ready") is False, "a 503 is tried again later"
    assert webhooks.deliver(body["id"], "ready") is True
    assert webhooks.deliver(body["id"], "ready") is True, "already delivered: nothing is sent"
    assert len(receiver.received) == 2
    headers, raw = receiver.received[-1]
    event = assert_signed(headers, raw, "site secret")
    assert event["event"] == "batch.ready" and event["batch"]["id"] == body["id"]
    assert event["batch"]["download_url"].endswith(f"/b/{body['id']}/download")
    assert Batch.objects.get(pk=body["id"]).webhook_events == ["ready"]


def test_callbacks_never_go_to_private_addresses_unless_allowed(client, settings, receiver, published):
    settings.WEBHOOK_ALLOWED_HOSTS = ["*"]
    answer = post_batch(client, {"a.jpg": photo()}, processor="resize", webhook_url=receiver.url)
    assert answer.status_code == 400 and "private address" in answer.json()["fields"]["webhook_url"][0]
    for url in ("ftp://example.com/x", "http://user:pw@example.com/", "http://[::1]/", "http://localhost/"):
        answer = post_batch(client, {"a.jpg": photo()}, processor="resize", webhook_url=url)
        assert answer.status_code == 400 and "webhook_url" in answer.json()["fields"], url
    settings.WEBHOOK_ALLOWED_HOSTS = [".example.org"]
    answer = post_batch(client, {"a.jpg": photo()}, processor="resize", webhook_url="https://evil.test/")
    assert "not among the hosts" in answer.json()["fields"]["webhook_url"][0]
    # Checked again when sending: a batch whose URL turned private gets nothing.
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    batch = Batch.objects.create(steps=[{"processor": "resize"}], status="ready", webhook_url=receiver.url)
    with pytest.raises(webhooks.WebhookRefused):
        webhooks.deliver(str(batch.pk), "ready")
    assert receiver.received == []
