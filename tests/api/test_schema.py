"""The OpenAPI document against real answers, the API's own 404, presets, and language-free error keys."""

from __future__ import annotations

import json

import jsonschema
import pytest

from backend.batches.lifecycle import batch_cancel
from tests.helpers import photo, post_batch, run_in_process

pytestmark = pytest.mark.django_db
API = "/api/v1"


def openapi(client) -> dict:
    answer = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert answer.status_code == 200
    return json.loads(answer.content)


def strict(schema: dict, document: dict) -> dict:
    """An OpenAPI 3.0 schema as strict JSON Schema: references resolved, nullable spelled out,
    and no property beyond the documented ones."""
    if "$ref" in schema:
        return strict(document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]], document)
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return strict({**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}, document)
    result = {key: value for key, value in schema.items() if key not in {"nullable", "readOnly", "format"}}
    if schema.get("nullable"):
        result = {"anyOf": [result, {"type": "null"}]}
        return result
    if "properties" in schema:
        result["properties"] = {name: strict(sub, document) for name, sub in schema["properties"].items()}
        result["additionalProperties"] = False
    if "items" in schema:
        result["items"] = strict(schema["items"], document)
    return result


def post(client, language: str = "en", **fields):
    """A batch of one good photo and one damaged one, asked for in `language`."""
    return post_batch(client, {"a.jpg": photo(), "b.jpg": photo(2)[:900]}, HTTP_ACCEPT_LANGUAGE=language, **fields)


def test_every_field_of_real_batch_answers_is_documented_and_every_documented_field_is_there(client, published):
    document = openapi(client)
    state_schema = strict({"$ref": "#/components/schemas/BatchState"}, document)
    documented = set(state_schema["properties"])
    documented_file = set(state_schema["properties"]["files"]["items"]["properties"])

    created = post(client, processor="resize", options={"width": 100, "height": 100})
    assert created.status_code == 201, created.content
    answers = [created.json()]
    run_in_process(created.json()["id"])
    answers.append(client.get(created.json()["status_url"]).json())  # ready, one file failed
    pending = post(client, processor="thumbnail").json()
    answers.append(client.post(pending["cancel_url"]).json())  # cancelled
    for answer in answers:
        jsonschema.validate(answer, state_schema)
        assert set(answer) == documented, set(answer) ^ documented
        for file in answer["files"]:
            assert set(file) == documented_file
    assert {answer["status"] for answer in answers} == {"pending", "ready", "cancelled"}
    assert any(file["error"] for file in answers[1]["files"]) and answers[1]["download_url"]


def test_processor_and_preset_lists_match_their_schemas(client):
    document = openapi(client)
    for path, component in (("processors", "Processor"), ("presets", "Preset")):
        answer = client.get(f"{API}/{path}").json()
        jsonschema.validate(answer, {"type": "array", "items": strict(
            {"$ref": f"#/components/schemas/{component}"}, document)})
    presets = {entry["key"]: entry for entry in client.get(f"{API}/presets").json()}
    assert presets["web-gallery"]["steps"][0]["processor"] == "resize"


def test_a_preset_from_the_list_makes_a_batch(client, published):
    key = client.get(f"{API}/presets").json()[0]["key"]
    answer = post(client, preset=key)
    assert answer.status_code == 201, answer.content


def test_errors_are_documented_and_unknown_api_addresses_answer_json(client):
    error_schema = strict({"$ref": "#/components/schemas/Error"}, openapi(client))
    for path in ("/api/v2/batches", "/api/v1/nothing", "/api/"):
        answer = client.get(path)
        assert answer.status_code == 404 and answer["Content-Type"] == "application/json", path
        jsonschema.validate(answer.json(), error_schema)
    assert "nothing at this address" in client.get("/not-the-api").content.decode(), "pages keep their HTML 404"


def test_error_keys_are_the_same_in_every_language(client, published):
    fields = {"steps": [{"processor": "resize", "options": {"width": "wide"}},
                        {"processor": "convert", "options": {"format": "BMP"}},
                        {"processor": "cleanup", "options": {"colour": 1}}]}
    english = post(client, "en", **fields).json()
    russian = post(client, "ru", **fields).json()
    assert set(english["fields"]) == set(russian["fields"]) == {
        "steps[0].options.width", "steps[1].options.format", "steps[2].options.colour"}
    assert english["fields"]["steps[1].options.format"] != russian["fields"]["steps[1].options.format"]

    bad_preset = post(client, "ru", preset="nope").json()
    assert list(bad_preset["fields"]) == ["preset"], "one error, about the preset only"


def test_cancelled_through_the_domain_reads_the_same_over_the_api(client, published):
    created = post(client, processor="thumbnail").json()
    assert batch_cancel(created["id"]) is True
    state = client.get(created["status_url"]).json()
    assert state["status"] == "cancelled" and state["cancel_url"] is None and state["download_url"] is None
