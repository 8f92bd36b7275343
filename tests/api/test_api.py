"""REST API v1: the same validation, state and cancel as the pages, answered in JSON."""

from __future__ import annotations

import io
import json
import time
import zipfile

import jsonschema
import pytest
import requests
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.authtoken.models import Token

from backend.batches.models import Batch, BatchFile
from backend.processors import registry
from tests.helpers import form_fields, photo, post_batch, run_in_process
from tests.support.webhooks import assert_signed

pytestmark = pytest.mark.django_db
API = "/api/v1"


# ---------------------------------------------------------------------------
# Processors


def test_processors_come_from_the_registry_with_a_schema_their_defaults_satisfy(client):
    answer = client.get(f"{API}/processors")
    assert answer.status_code == 200
    listed = {entry["name"]: entry for entry in answer.json()}
    assert list(listed) == [cls.name for cls in registry.available()]
    for cls in registry.available():
        entry = listed[cls.name]
        assert entry["label"] == str(cls.label) and entry["queue"] == cls.queue
        assert entry["accepts"] == list(cls.accepts)
        schema = entry["options_schema"]
        jsonschema.Draft202012Validator.check_schema(schema)
        # The documented defaults satisfy the schema, and the processor's own form accepts them.
        defaults = {name: field["default"] for name, field in schema["properties"].items() if "default" in field}
        jsonschema.validate(defaults, {**schema, "required": []})
        form = cls.options_form(data=defaults)
        assert form.is_valid() or set(form.errors) <= set(schema["required"]), (cls.name, form.errors)
    resize = listed["resize"]["options_schema"]["properties"]
    assert resize["width"]["type"] == ["integer", "null"] and resize["width"]["maximum"] > 1000
    assert set(resize["mode"]["enum"]) == {"fit", "fill", "exact", "percent"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"width": 0}, listed["resize"]["options_schema"])


# ---------------------------------------------------------------------------
# Creating batches and the error answers


@pytest.mark.s3
def test_create_follow_and_download_in_process(client, published, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = post_batch(client, {"a.jpg": photo(1), "b.jpg": photo(2)},
                            processor="resize", options={"width": 200, "height": 200})
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert answer["Location"] == body["status_url"] == f"http://testserver{API}/batches/{body['id']}"
    assert body["page_url"] == f"http://testserver/b/{body['id']}/"
    assert body["status"] == "pending" and body["file_count"] == 2
    assert sorted(published["files"]) == sorted(f["id"] for f in body["files"])
    assert body["cancel_url"].endswith(f"/batches/{body['id']}/cancel")

    run_in_process(body["id"])
    state = client.get(body["status_url"]).json()
    assert state["status"] == "ready" and state["done_count"] == 2
    assert state["download_url"] == f"http://testserver/b/{body['id']}/download"
    link = client.get(state["download_url"])
    archive_bytes = requests.get(link["Location"], timeout=10).content
    with zipfile.ZipFile(io.BytesIO(archive_bytes)) as zipped:
        assert sorted(zipped.namelist()) == ["a.jpg", "b.jpg"]


def test_steps_and_presets_are_accepted(client, published, settings):
    steps = [{"processor": "resize", "options": {"mode": "fit", "width": 100, "height": 100}},
             {"processor": "convert", "options": {"format": "PNG"}}]
    answer = post_batch(client, {"a.jpg": photo()}, steps=steps)
    assert answer.status_code == 201, answer.content
    assert answer.json()["processors"] == ["resize", "convert"]
    batch = Batch.objects.get(pk=answer.json()["id"])
    assert batch.steps[1]["options"]["format"] == "PNG"
    assert batch.steps[1]["options"]["quality"] == 85, "left-out options take their defaults"

    answer = post_batch(client, {"a.jpg": photo()}, preset="web-gallery")
    assert answer.status_code == 201 and answer.json()["processors"] == ["resize", "watermark_text", "convert"]
    # Named after its preset: the heading, and the ZIP once ready.
    label = settings.PIPELINE_PRESETS["web-gallery"]["label"]
    assert answer.json()["preset_label"] == label and answer.json()["headline"].startswith(label + " · ")
    batch = run_in_process(answer.json()["id"])
    assert batch.archive_name.startswith("web-gallery-1600-px-watermark-webp-80-"), batch.archive_name


@pytest.mark.parametrize(("files", "fields", "bad_field", "words"), [
    ({}, {"processor": "resize"}, "files", "at least one file"),
    ({"a.jpg": b"x"}, {"processor": "no_such"}, "processor", "not an available processing type"),
    ({"a.jpg": b"x"}, {}, "processor", "Choose what to do"),
    ({"notes.jpg": b"hello, not a picture"}, {"processor": "resize"}, "files", "notes.jpg"),
    ({"empty.png": b""}, {"processor": "resize"}, "files", "empty.png"),
    ({"a.jpg": None}, {"processor": "resize", "options": {"width": "wide"}}, "options.width", "whole number"),
    ({"a.jpg": None}, {"processor": "resize", "options": {"width": 100000}}, "options.width", "less than"),
    ({"a.jpg": None}, {"processor": "resize", "options": {"colour": 1}}, "options.colour", "No such option"),
    ({"a.jpg": None}, {"processor": "resize", "options": "{not json"}, "options", "Not valid JSON"),
    ({"a.jpg": None}, {"processor": "resize", "options": [1]}, "options", "JSON object"),
    ({"a.jpg": None}, {"steps": [{"processor": "resize"}], "processor": "resize"}, "steps", "only one of"),
    ({"a.jpg": None}, {"steps": [{"processor": "resize"}], "options": {"width": 1}}, "steps", "only one of"),
    ({"a.jpg": None}, {"steps": [{"options": {}}]}, "steps[0]", "Each step"),
    ({"a.jpg": None}, {"steps": [{"processor": "resize", "options": {"mode": "exact", "width": 10}},
                                 {"processor": "convert", "options": {"format": "BMP"}}]},
     "steps[1].options.format", "valid choice"),
    ({"a.jpg": None}, {"steps": [{"processor": "resize"}] * 6}, "steps", "At most 5 steps"),
    ({"a.jpg": None}, {"steps": []}, "steps", "at least one"),
    ({"a.jpg": None}, {"steps": "[" * 50_000 + "]" * 50_000}, "steps", "deeply nested"),
    ({"a.jpg": None}, {"options": '{"text": "' + "x" * 200_000 + '"}', "processor": "resize"}, "options",
     "Too large"),
    ({"a.jpg": None}, {"steps": [{"processor": "video_mp4"}, {"processor": "resize"}]}, "steps[1].processor",
     "cannot follow"),
    ({"a.jpg": None}, {"preset": "nope"}, "preset", "No preset has this key"),
    ({"a.jpg": None}, {"processor": "resize", "webhook_url": "http://example.com/hook"}, "webhook_url", "no callbacks"),
])
def test_every_mistake_is_a_400_naming_the_field(client, published, files, fields, bad_field, words):
    files = {name: photo() if content is None else content for name, content in files.items()}
    answer = post_batch(client, files, **fields)
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["error"] and bad_field in body["fields"], body
    assert any(words in message for message in body["fields"][bad_field]), body
    assert Batch.objects.count() == 0 and published["files"] == []


def test_a_body_larger_than_one_request_may_be_is_413_json(client, settings):
    settings.MAX_REQUEST_BYTES = 10_000
    answer = post_batch(client, {"big.jpg": photo(size=(3000, 2000)) * 2}, processor="resize")
    assert answer.status_code == 413 and "at most" in answer.json()["error"]


def test_unknown_batches_and_methods(client):
    missing = client.get(f"{API}/batches/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and missing.json() == {"error": "No batch has this id."}
    assert client.get(f"{API}/batches/not-a-uuid").status_code == 404
    assert client.delete(f"{API}/processors").status_code == 405
    assert client.post(f"{API}/batches", {"processor": "resize"}, content_type="application/json").status_code == 415


def test_cancel_while_work_remains_then_409(client, published, django_capture_on_commit_callbacks):
    body = post_batch(client, {"a.jpg": photo()}, processor="resize").json()
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(body["cancel_url"])
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    assert BatchFile.objects.get(batch_id=body["id"]).status == BatchFile.Status.CANCELLED
    again = client.post(body["cancel_url"])
    assert again.status_code == 409 and "already ended" in again.json()["error"]


def test_batch_creation_is_rate_limited_per_client_address(client, published, settings):
    settings.API_BATCH_CREATE_RATE = "2/minute"
    statuses = [post_batch(client, {"a.jpg": photo()}, processor="resize").status_code for _ in range(2)]
    assert statuses == [201, 201]
    limited = post_batch(client, {"a.jpg": photo()}, processor="resize")
    assert limited.status_code == 429 and 0 < int(limited["Retry-After"]) <= 60
    assert "throttled" in limited.json()["error"].lower()
    other = Client(REMOTE_ADDR="10.1.2.3")
    assert post_batch(other, {"a.jpg": photo()}, processor="resize").status_code == 201, "another address has its own"


def test_the_upload_form_shares_the_limit_with_the_api(client, published, settings):
    settings.API_BATCH_CREATE_RATE = "2/minute"
    page = client.post("/", {**form_fields("resize"), "files": [SimpleUploadedFile("a.jpg", photo())]})
    assert page.status_code == 302
    assert post_batch(client, {"a.jpg": photo()}, processor="resize").status_code == 201
    refused = client.post("/", {**form_fields("resize"), "files": [SimpleUploadedFile("a.jpg", photo())]})
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert "Too many batches from your address" in refused.content.decode()
    assert Batch.objects.count() == 2


# ---------------------------------------------------------------------------
# Tokens and operators


@pytest.fixture
def tokens(db) -> dict[str, str]:
    user = User.objects.create_user("client")
    staff = User.objects.create_user("operator", is_staff=True)
    return {"client": Token.objects.create(user=user).key, "operator": Token.objects.create(user=staff).key}


def test_a_setting_requires_tokens_for_api_clients(client, settings, tokens, published):
    settings.API_REQUIRE_TOKEN = True
    refused = client.get(f"{API}/processors")
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == "Token"
    assert client.get(f"{API}/processors", HTTP_AUTHORIZATION="Token wrong").status_code == 401
    assert client.get(f"{API}/processors", HTTP_AUTHORIZATION=f"Token {tokens['client']}").status_code == 200
    created = post_batch(Client(HTTP_AUTHORIZATION=f"Token {tokens['client']}"), {"a.jpg": photo()},
                         processor="resize")
    assert created.status_code == 201
    assert client.get("/").status_code == 200, "the pages stay open to anyone"


def test_listing_and_stats_are_for_operators_only(client, tokens, published):
    body = post_batch(client, {"a.jpg": photo()}, processor="resize").json()
    for path in (f"{API}/batches", f"{API}/stats"):
        assert client.get(path).status_code == 401
        assert client.get(path, HTTP_AUTHORIZATION=f"Token {tokens['client']}").status_code == 403
    operator = Client(HTTP_AUTHORIZATION=f"Token {tokens['operator']}")
    active = operator.get(f"{API}/batches?status=active").json()
    assert [entry["id"] for entry in active] == [body["id"]]
    assert operator.get(f"{API}/batches?status=ready").json() == []
    assert operator.get(f"{API}/batches?status=bogus").status_code == 400


def test_stats_match_a_batch_with_known_outcomes(client, tokens, published, django_capture_on_commit_callbacks):
    corrupt = photo(3)[:2000]
    body = post_batch(client, {"a.jpg": photo(1), "b.jpg": photo(2), "c.jpg": corrupt}, processor="resize",
                      options={"width": 100, "height": 100}).json()
    run_in_process(body["id"])
    figures = Client(HTTP_AUTHORIZATION=f"Token {tokens['operator']}").get(f"{API}/stats").json()
    assert figures["batches"]["ready"] == 1 and figures["batches"]["pending"] == 0
    assert figures["files"]["done"] == 2 and figures["files"]["failed"] == 1
    assert figures["success_rate"] == {"all_time": 0.6667, "last_hour": 0.6667}
    for period in ("all_time", "last_hour"):
        resize = figures["processing_time"][period]["resize"]
        assert resize["files"] == 3 and 0 <= resize["average_seconds"] <= resize["p95_seconds"]
    assert figures["files_per_minute"] == 0.3
    assert set(figures["queue_depth"]) == {"images", "media", "default"}
    assert figures["archive_bytes"] == Batch.objects.get(pk=body["id"]).archive_size > 0


# ---------------------------------------------------------------------------
# End to end over HTTP against a real worker


@pytest.mark.integration
def test_the_api_end_to_end_on_a_real_worker(processes, live_server, settings, receiver):
    hooks = {"WEBHOOK_ALLOWED_HOSTS": "127.0.0.1", "WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_SECRET": "e2e"}
    settings.WEBHOOK_ALLOWED_HOSTS, settings.WEBHOOK_ALLOW_PRIVATE = ["127.0.0.1"], True
    worker = processes.start("worker", "--concurrency", "2", **hooks)
    files = [("files", (f"p{i}.jpg", photo(i), "image/jpeg")) for i in range(3)]
    files.append(("files", ("bad.jpg", photo(9)[:1500], "image/jpeg")))
    answer = requests.post(f"{live_server.url}{API}/batches", files=files, timeout=30, data={
        "steps": json.dumps([{"processor": "resize", "options": {"width": 300, "height": 300}},
                             {"processor": "convert", "options": {"format": "PNG"}}]),
        "webhook_url": receiver.url,
    })
    assert answer.status_code == 201, answer.text
    status_url = answer.json()["status_url"]
    deadline = time.monotonic() + 120
    while (state := requests.get(status_url, timeout=10).json())["status"] not in ("ready", "failed"):
        assert time.monotonic() < deadline, state
        time.sleep(0.5)
    assert state["status"] == "ready" and (state["done_count"], state["failed_count"]) == (3, 1)
    assert next(f for f in state["files"] if f["name"] == "bad.jpg")["error"]
    zipped = zipfile.ZipFile(io.BytesIO(requests.get(state["download_url"], timeout=30).content))
    assert sorted(zipped.namelist()) == ["errors.txt", "p0.png", "p1.png", "p2.png"]

    deadline = time.monotonic() + 30
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.2)
    headers, raw = receiver.received[0]
    assert assert_signed(headers, raw, "e2e")["event"] == "batch.ready"
    # The worker logs one JSON object per line, naming the batch of each event.
    events = [json.loads(line) for line in processes.log_of(worker).splitlines() if line.startswith("{")]
    finished = [e for e in events if e.get("event") == "file.finished" and e.get("batch") == state["id"]]
    assert len(finished) == 4 and {e["outcome"] for e in finished} == {"done", "failed"}
    assert all(e["processor"] == "resize,convert" and e["duration"] >= 0 for e in finished)
