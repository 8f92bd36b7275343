"""Security settings: Django's deployment checks, cookies, CSP, and how results are served."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile

from backend.batches.models import BatchFile
from tests.helpers import ROOT, encode, form_fields, noisy_image, run_in_process

PRODUCTION = {"DEBUG": "false", "HTTPS": "true", "SECRET_KEY": secrets.token_urlsafe(60),
              "ALLOWED_HOSTS": "media.example.com", "CSRF_TRUSTED_ORIGINS": "https://media.example.com"}


def production_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))}
    return {**env, **PRODUCTION, "PYTHONPATH": str(ROOT)}


def test_the_deployment_checks_pass_with_production_settings():
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=production_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_cookies_are_secure_and_http_only():
    script = ("import django, json; django.setup(); from django.conf import settings as s; print(json.dumps({k: "
              "getattr(s, k) for k in ['SESSION_COOKIE_SECURE', 'SESSION_COOKIE_HTTPONLY', 'CSRF_COOKIE_SECURE', "
              "'CSRF_COOKIE_HTTPONLY', 'SECURE_SSL_REDIRECT', 'SECURE_HSTS_SECONDS', 'DEBUG']}))")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**production_env(), "DJANGO_SETTINGS_MODULE": "backend.config.settings"})
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == {"SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_HTTPONLY": True, "CSRF_COOKIE_SECURE": True,
                      "CSRF_COOKIE_HTTPONLY": True, "SECURE_SSL_REDIRECT": True,
                      "SECURE_HSTS_SECONDS": 31536000, "DEBUG": False}


@pytest.mark.django_db
def test_the_csrf_cookie_a_page_sets_is_http_only(client):
    response = client.get("/")
    cookie = response.cookies["csrftoken"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/b/00000000-0000-4000-8000-000000000000/", "/nowhere"])
def test_pages_carry_a_strict_content_security_policy(client, path):
    policy = client.get(path)["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self';" in policy
    assert "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy and "object-src 'none'" in policy


@pytest.mark.django_db
def test_pages_have_no_inline_scripts_or_styles(client):
    page = client.get("/").content.decode()
    assert "<script>" not in page and "style=" not in page and "<style" not in page


@pytest.mark.django_db
def test_results_are_served_as_zip_attachments_never_from_the_site_itself(client, published, s3_server, settings):
    photo = encode(noisy_image((120, 80)), "JPEG")
    response = client.post("/", {**form_fields("thumbnail"), "files": [SimpleUploadedFile("a.jpg", photo)]})
    batch_id = response["Location"].strip("/").split("/")[-1]
    batch = run_in_process(batch_id)

    link = client.get(f"/b/{batch_id}/download")
    assert link.status_code == 302
    target = urlparse(link["Location"])
    assert target.netloc == urlparse(s3_server.endpoint).netloc, "served by the storage, not this site"
    query = parse_qs(target.query)
    assert int(query["X-Amz-Expires"][0]) <= (batch.expires_at - batch.ready_at).total_seconds()
    served = requests.get(link["Location"], timeout=10)
    assert served.headers["Content-Type"] == "application/zip"
    assert served.headers["Content-Disposition"].startswith("attachment")
    # Nothing of a batch is reachable under the site's own paths.
    for key in (batch.archive_key, BatchFile.objects.get(batch_id=batch_id).source_key):
        assert client.get("/" + key).status_code == 404
        assert client.get("/media/" + key).status_code == 404
