"""Every answer under /api/ is JSON in the API's error shape, whatever goes wrong and wherever:
CSRF, unknown and malformed addresses, too many fields, bodies too deep or too large, server errors."""

import io
import json

import pytest
from django.test import Client

from backend.api import views

pytestmark = pytest.mark.django_db
API = "/api/v1"


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert isinstance(body["error"], str) and body["error"]
    return body


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/nothing-here", f"{API}/batches/not-a-uuid/cancel",
                                  f"{API}/uploads/null%2Cnull/complete", f"{API}/uploads/1/parts", "/api/"])
def test_writes_to_unknown_or_malformed_addresses_answer_json_without_a_csrf_token(method, path):
    client = Client(enforce_csrf_checks=True)
    assert_json_error(getattr(client, method)(path), 404)


def test_a_csrf_failure_under_the_api_is_json(settings):
    """A session-authenticated write without its token: DRF's own CSRF check, in the API's shape."""
    from django.contrib.auth.models import User

    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_user("someone"))
    body = assert_json_error(client.post(f"{API}/uploads", {"name": "a.jpg", "size": 10}), 403)
    assert "CSRF" in body["error"]


def test_the_csrf_failure_view_itself_answers_json_under_the_api(rf):
    from backend.web.views import csrf_failure

    assert_json_error(csrf_failure(rf.post("/api/v1/whatever")), 403)
    assert csrf_failure(rf.post("/"))["Content-Type"].startswith("text/html"), "the pages keep their page"


def test_too_many_form_fields_is_a_json_400(settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 50
    body = "&".join(f"f{i}=x" for i in range(200))
    answer = Client().post(f"{API}/uploads", body, content_type="application/x-www-form-urlencoded")
    assert_json_error(answer, 400)


@pytest.mark.parametrize("where", ["uploads", "parts"])
@pytest.mark.parametrize("bomb", ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000,
                                  '{"parts": [' + "1," * 200_000 + "1]}", '{"name": "' + "x" * 50_000_000 + '"}'])
def test_json_bodies_too_deep_or_too_large_are_a_json_400(where, bomb):
    client = Client()
    path = f"{API}/uploads"
    if where == "parts":
        started = client.post(path, {"name": "a.wav", "size": 10_000_000}, content_type="application/json")
        path = started.json()["parts_url"]
    assert_json_error(client.post(path, bomb, content_type="application/json"), 400)


def test_an_unknown_upload_is_a_json_404_in_plain_words():
    body = assert_json_error(Client().post(f"{API}/uploads/00000000-0000-4000-8000-000000000000/parts",
                                           {"parts": [1]}, content_type="application/json"), 404)
    assert body["error"].startswith("No upload has this id")


def test_a_body_over_the_request_limit_is_a_json_413(settings):
    settings.MAX_REQUEST_BYTES = 1024
    answer = Client().generic("POST", f"{API}/batches", b"x", content_type="multipart/form-data; boundary=x",
                              CONTENT_LENGTH=str(10 * 1024 * 1024))
    assert_json_error(answer, 413)


def test_a_server_error_under_the_api_is_json(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(views.PresetList, "get", broken)
    client = Client(raise_request_exception=False)
    body = assert_json_error(client.get(f"{API}/presets"), 500)
    assert "a bug" not in json.dumps(body), "no internals in the answer"
    page = client.get("/nothing-here")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


def test_a_json_body_that_is_not_text_is_a_json_400():
    answer = Client().generic("POST", f"{API}/uploads", io.BytesIO(b"\xff\xfe{").read(),
                              content_type="application/json")
    assert_json_error(answer, 400)


def test_the_schema_says_anonymous_calls_are_allowed_unless_tokens_are_required(client, settings):
    def security(path: str, method: str = "get") -> list:
        schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
        return schema["paths"][path][method]["security"]

    assert {} in security("/api/v1/presets") and {} in security("/api/v1/batches", "post")
    assert {} not in security("/api/v1/stats"), "operators only"
    settings.API_REQUIRE_TOKEN = True
    assert {} not in security("/api/v1/presets")


@pytest.mark.parametrize("error", ["OperationalError", "InterfaceError"])
def test_a_database_out_of_reach_is_a_503_to_try_again_not_a_server_error(monkeypatch, error):
    import django.db

    from backend.web import views as web_views

    def unreachable(*args, **kwargs):
        raise getattr(django.db, error)('could not translate host name "postgres" to address')

    monkeypatch.setattr(views.PresetList, "get", unreachable)
    monkeypatch.setattr(web_views, "batch_representation", unreachable)
    client = Client(raise_request_exception=False)
    body = assert_json_error(answer := client.get(f"{API}/presets"), 503)
    assert answer["Retry-After"] == "5" and "postgres" not in body["error"]
    from backend.batches.models import Batch

    batch = Batch.objects.create(steps=[{"processor": "resize"}])
    page = client.get(f"/b/{batch.pk}/")
    assert page.status_code == 503 and page["Retry-After"] == "5" and "try again" in page.content.decode().lower()


def test_a_rate_count_out_of_reach_lets_the_request_through(monkeypatch, published, settings):
    from django.db import OperationalError

    from backend.api import throttling
    from tests.helpers import photo, post_batch

    settings.API_BATCH_CREATE_RATE = "1/minute"

    def unreachable(*args, **kwargs):
        raise OperationalError("connection reset")

    monkeypatch.setattr(throttling, "quota_take", unreachable)
    client = Client()
    assert [post_batch(client, {"a.jpg": photo()}, processor="resize").status_code for _ in range(2)] == [201, 201]
