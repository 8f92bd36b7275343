"""Liveness, readiness and the bucket created at start-up, against the real database, broker and S3."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command

from tests.helpers import s3_storage_setting

pytestmark = [pytest.mark.django_db, pytest.mark.s3]


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_probes_answer_on_the_process_own_address_behind_https_and_host_checks(client, settings):
    # A container health check calls http://127.0.0.1:8000/readyz: not an allowed host, not https.
    settings.ALLOWED_HOSTS = ["media.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    for path in ("/healthz", "/readyz"):
        response = client.get(path, HTTP_HOST="127.0.0.1:8000")
        assert response.status_code == 200, (path, response.status_code)
    # Every other page still keeps both rules.
    assert client.get("/", HTTP_HOST="127.0.0.1:8000").status_code == 400
    assert client.get("/", HTTP_HOST="media.example.com").status_code == 301
    assert client.post("/readyz", HTTP_HOST="127.0.0.1:8000").status_code == 400


def test_readyz_when_everything_is_reachable(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "ok"}


def test_readyz_names_what_is_down(client, settings, s3_server):
    broken = s3_storage_setting(s3_server)
    broken["OPTIONS"] = {**broken["OPTIONS"], "endpoint_url": "http://127.0.0.1:9"}  # nothing listens there
    settings.STORAGES = {**settings.STORAGES, "default": broken}
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "broker": "ok", "storage": "unavailable"}


def test_ensure_bucket_creates_a_missing_bucket_once(settings, s3_server):
    name = f"fresh-{uuid.uuid4().hex[:8]}"
    fresh = s3_storage_setting(s3_server)
    fresh["OPTIONS"] = {**fresh["OPTIONS"], "bucket_name": name}
    settings.STORAGES = {**settings.STORAGES, "default": fresh}
    buckets = lambda: {b["Name"] for b in s3_server.client().list_buckets()["Buckets"]}  # noqa: E731
    assert name not in buckets()
    out = io.StringIO()
    call_command("ensure_bucket", stdout=out)
    assert "bucket created" in out.getvalue() and name in buckets()
    out = io.StringIO()
    call_command("ensure_bucket", stdout=out)
    assert "already present" in out.getvalue()
    # Set up for uploads in parts: the page's part PUTs (CORS), and S3 aborting what is left unfinished.
    client = s3_server.client()
    (rule,) = client.get_bucket_cors(Bucket=name)["CORSRules"]
    assert "PUT" in rule["AllowedMethods"] and rule["AllowedOrigins"] == ["*"]
    (lifecycle,) = client.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
    assert lifecycle["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
