"""Provider OpenAPI specs, the JSON Schemas derived from them, and `seedflow schemas`."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

from seedflow.cli import main
from seedflow.errors import SeedflowError
from seedflow.providers.schemas import derive, dump, request_schema, response_schema, schema_dir

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
PROVIDERS = ("apikley", "modellix")

APIKLEY_EXAMPLE: dict[str, Any] = {  # FACTS.md / the provider's page: the documented request
    "model": "bytedance/seedream-v4-text-to-image",
    "callBackUrl": "https://your-domain.com/api/callback",
    "input": {
        "prompt": "Draw the following system of binary linear equations and the corresponding "
                  "solution steps on the blackboard: 5x + 2y = 26; 2x -y = 5.",
        "image_size": "square_hd",
        "image_resolution": "1K",
        "max_images": 1,
    },
}
MODELLIX_EXAMPLE: dict[str, Any] = {
    "prompt": "Beautiful cherry blossom garden in spring, soft lighting",
}


def _load(provider: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((SCHEMAS / "openapi" / f"{provider}.yaml").read_text())
    return doc


def _errors(schema: dict[str, Any], instance: object) -> list[str]:
    return [e.message for e in Draft202012Validator(schema).iter_errors(instance)]


def _nodes(node: object) -> Iterator[dict[str, Any]]:
    """Every object in a JSON document."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _nodes(value)


def _synthetic(**components: Any) -> dict[str, Any]:
    """A minimal OpenAPI document whose one request body is ``components["Body"]``."""
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Body"}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Synthetic", "version": "1"},
        "paths": {"/things": {"post": {"operationId": "make", "requestBody": body,
                                       "responses": {"200": {"description": "ok"}}}}},
        "components": {"schemas": components},
    }


# --- the OpenAPI documents -------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_openapi_documents_are_valid(provider: str) -> None:
    validate_openapi(_load(provider))


def test_schema_dir_is_the_checkout_folder() -> None:
    assert schema_dir() == SCHEMAS


# --- derivation ------------------------------------------------------------------------------


def test_derive_inlines_refs_and_converts_openapi_keywords() -> None:
    doc = _synthetic(
        Body={
            "type": "object",
            "required": ["id", "name"],
            "discriminator": {"propertyName": "kind"},
            "xml": {"name": "body"},
            "externalDocs": {"url": "https://example.com"},
            "x-internal": True,
            "properties": {
                "id": {"type": "string", "readOnly": True},
                "name": {"$ref": "#/components/schemas/Name"},
                "count": {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
                "example": {"type": "string", "nullable": False},
            },
        },
        Name={"type": "string", "nullable": True, "example": "mug"},
    )
    (name, schema), = derive(doc, "synthetic").items()
    assert name == "synthetic.request.schema.json"
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == "urn:seedflow:schemas:synthetic.request.schema.json"
    assert "openapi/synthetic.yaml" in schema["description"]
    assert "Do not edit by hand" in schema["description"]
    assert schema["required"] == ["name"]
    assert schema["properties"] == {
        "name": {"type": ["string", "null"], "examples": ["mug"]},
        "count": {"type": "integer", "exclusiveMinimum": 0},
        "example": {"type": "string"},
    }
    for dropped in ("discriminator", "xml", "externalDocs", "x-internal"):
        assert dropped not in schema
    Draft202012Validator.check_schema(schema)


def test_nullable_follows_openapi_3_0_3() -> None:
    """``nullable`` adds "null" to an explicit type only; an enum must list null itself."""
    doc = _synthetic(Body={"type": "object", "properties": {
        "untyped": {"nullable": True, "example": {"$ref": "not a reference, just data"}},
        "state": {"type": "string", "nullable": True, "enum": ["on", "off", None]},
    }})
    schema = derive(doc, "s")["s.request.schema.json"]
    assert schema["properties"]["untyped"] == {"examples": [{"$ref": "not a reference, just data"}]}
    assert schema["properties"]["state"]["type"] == ["string", "null"]
    assert _errors(schema, {"state": None}) == []
    assert _errors(schema, {"state": "dim"}) != []


def test_derive_refuses_a_recursive_ref() -> None:
    doc = _synthetic(Body={"type": "object", "properties": {
        "child": {"$ref": "#/components/schemas/Body"}}})
    with pytest.raises(SeedflowError, match=r"recursive \$ref"):
        derive(doc, "s")


def test_derive_inlines_a_ref_used_twice() -> None:
    doc = _synthetic(Body={"type": "object", "properties": {
        "a": {"$ref": "#/components/schemas/Leaf"}, "b": {"$ref": "#/components/schemas/Leaf"}}},
        Leaf={"type": "integer"})
    schema = derive(doc, "s")["s.request.schema.json"]
    assert schema["properties"] == {"a": {"type": "integer"}, "b": {"type": "integer"}}


def test_several_request_bodies_are_named_by_operation_id() -> None:
    doc = _synthetic(Body={"type": "object"})
    doc["paths"]["/other"] = {"put": {**doc["paths"]["/things"]["post"], "operationId": "edit"}}
    assert sorted(derive(doc, "s")) == ["s.edit.request.schema.json", "s.make.request.schema.json"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_committed_schema_is_derived_deterministically(provider: str) -> None:
    name = f"{provider}.request.schema.json"
    text = (SCHEMAS / name).read_text()
    assert dump(derive(_load(provider), provider)[name]) == text
    assert dump(derive(_load(provider), provider)[name]) == text
    assert text.endswith("}\n")
    assert '"$ref"' not in text
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_request_schema_is_valid_and_its_examples_pass(provider: str) -> None:
    schema = request_schema(provider)
    Draft202012Validator.check_schema(schema)
    assert schema["title"] and schema["$id"]
    for node in _nodes(schema):
        for example in node.get("examples", []):
            assert _errors(node, example) == [], example


def test_request_schema_of_an_unknown_provider() -> None:
    with pytest.raises(ValueError, match="no request schema for provider 'nope'"):
        request_schema("nope")


# --- what the derived request schemas accept -------------------------------------------------


def _apikley(**input_changes: object) -> dict[str, Any]:
    return {**APIKLEY_EXAMPLE, "input": {**APIKLEY_EXAMPLE["input"], **input_changes}}


def test_apikley_accepts_the_documented_request() -> None:
    schema = request_schema("apikley")
    assert _errors(schema, APIKLEY_EXAMPLE) == []
    assert _errors(schema, _apikley(prompt="p" * 5000, max_images=6, seed=11,
                                    nsfw_checker=False, image_size="landscape_21_9")) == []


@pytest.mark.parametrize(("request_body", "complaint"), [
    ({**APIKLEY_EXAMPLE, "webhook": "https://x.example"}, "'webhook' was unexpected"),
    (_apikley(negative_prompt="blur"), "'negative_prompt' was unexpected"),
    (_apikley(prompt="p" * 5001), "is too long"),
    (_apikley(max_images=7), "7 is greater than the maximum of 6"),
    (_apikley(max_images=0), "0 is less than the minimum of 1"),
    (_apikley(max_images=1.5), "1.5 is not a multiple of 1"),
    (_apikley(image_size="huge"), "'huge' is not one of"),
    (_apikley(image_resolution="8K"), "'8K' is not one of"),
    ({"model": "bytedance/seedream-v4-text-to-image"}, "'input' is a required property"),
    ({**APIKLEY_EXAMPLE, "model": "other/model"}, "'other/model' is not one of"),
])
def test_apikley_refuses(request_body: dict[str, Any], complaint: str) -> None:
    errors = _errors(request_schema("apikley"), request_body)
    assert len(errors) == 1 and complaint in errors[0], errors


def test_modellix_accepts_the_documented_request() -> None:
    schema = request_schema("modellix")
    assert _errors(schema, MODELLIX_EXAMPLE) == []
    assert _errors(schema, {**MODELLIX_EXAMPLE, "size": "3024x1296",
                            "sequential_image_generation": "auto",
                            "sequential_image_generation_max_images": 15,
                            "optimize_prompt_mode": "fast"}) == []


@pytest.mark.parametrize(("request_body", "complaint"), [
    ({**MODELLIX_EXAMPLE, "size": "1024"}, "'1024' does not match"),
    ({**MODELLIX_EXAMPLE, "seed": 11}, "'seed' was unexpected"),
    ({"prompt": ""}, "should be non-empty"),
    ({"prompt": "p" * 10001}, "is too long"),
    ({**MODELLIX_EXAMPLE, "sequential_image_generation_max_images": 16}, "greater than the max"),
    ({**MODELLIX_EXAMPLE, "sequential_image_generation": "on"}, "'on' is not one of"),
    ({**MODELLIX_EXAMPLE, "optimize_prompt_mode": "slow"}, "'slow' is not one of"),
    ({"size": "2048x2048"}, "'prompt' is a required property"),
])
def test_modellix_refuses(request_body: dict[str, Any], complaint: str) -> None:
    errors = _errors(request_schema("modellix"), request_body)
    assert len(errors) == 1 and complaint in errors[0], errors


# --- response schemas (derived in memory) ----------------------------------------------------


@pytest.mark.parametrize(("provider", "operation", "status", "body"), [
    ("apikley", "createTask", "200",
     {"code": 200, "msg": "success", "data": {"taskId": "task_bytedance_1765176547151"}}),
    ("apikley", "createTask", "200", {"code": 433, "message": "sub-key over limit", "data": None}),
    ("apikley", "getTask", "200", {"code": 200, "msg": "success", "data": {
        "taskId": "task_12345678", "model": "grok-imagine/text-to-image", "state": "success",
        "param": '{"model":"grok-imagine/text-to-image"}',
        "resultJson": '{"resultUrls":["https://example.com/generated-content.jpg"]}',
        "failCode": "", "failMsg": "", "costTime": 15000, "completeTime": 1698765432000,
        "createTime": 1698765400000, "updateTime": 1698765432000}}),
    ("apikley", "getTask", "200", {"code": 200, "msg": "success", "data": {
        "taskId": "t", "state": "generating", "resultJson": None, "completeTime": None}}),
    ("apikley", "getTask", "default", {"code": 404, "msg": "Task not found"}),
    ("modellix", "createTask", "200", {"code": 0, "message": "success", "data": {
        "status": "pending", "task_id": "task-def456", "model_id": "model-123",
        "get_result": {"method": "GET", "url": "https://api.modellix.ai/api/v1/tasks/task-def456"}}}),
    ("modellix", "getTask", "200", {"code": 0, "message": "success", "data": {
        "status": "success", "task_id": "task-abc123", "model_id": "qwen-image-plus",
        "duration": 3500, "result": {
            "resources": [{"url": "https://cdn.example.com/images/abc123.png", "type": "image",
                           "width": 1024, "height": 1024, "format": "png", "role": "primary"}],
            "metadata": {"image_count": 1, "request_id": "req-123456"},
            "extensions": {"submit_time": "2024-01-01T10:00:00Z",
                           "end_time": "2024-01-01T10:00:03Z"}}}}),
    ("modellix", "getTask", "200", {"code": 0, "message": "success", "data": {
        "status": "processing", "task_id": "t", "result": None}}),
    ("modellix", "createTask", "400", {"code": 400, "message": "Invalid format: parameter 'size' "
                                       "must be in format 'width*height', got '1024'"}),
])
def test_response_schema_accepts_documented_bodies(provider: str, operation: str, status: str,
                                                   body: dict[str, Any]) -> None:
    assert _errors(response_schema(provider, operation, status), body) == []


@pytest.mark.parametrize(("provider", "operation", "body"), [
    ("apikley", "getTask", {"code": 200, "msg": "ok", "data": {"taskId": "t", "state": "done"}}),
    ("apikley", "getTask", {"code": 299, "msg": "ok", "data": None}),
    ("modellix", "getTask", {"code": 0, "message": "ok", "data": {"status": "done",
                                                                   "task_id": "t"}}),
])
def test_response_schema_refuses_undocumented_values(provider: str, operation: str,
                                                     body: dict[str, Any]) -> None:
    assert _errors(response_schema(provider, operation), body) != []


@pytest.mark.parametrize("provider", PROVIDERS)
def test_response_schemas_are_valid_and_their_examples_pass(provider: str) -> None:
    for operation in ("createTask", "getTask"):
        schema = response_schema(provider, operation)
        Draft202012Validator.check_schema(schema)
        assert '"$ref"' not in json.dumps(schema)
        for node in _nodes(schema):
            for example in node.get("examples", []):
                assert _errors(node, example) == [], example


def test_response_schema_of_an_unknown_operation() -> None:
    with pytest.raises(ValueError, match=r"apikley\.yaml has no operation 'cancel'"):
        response_schema("apikley", "cancel")


# --- seedflow schemas [--check] --------------------------------------------------------------


@pytest.fixture
def schemas_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "schemas"
    shutil.copytree(SCHEMAS, folder)
    return folder


def test_committed_derived_files_are_up_to_date() -> None:
    assert main(["schemas", "--check"]) == 0


def test_check_names_a_stale_file(schemas_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = schemas_copy / "apikley.request.schema.json"
    stale.write_text(stale.read_text().replace('"maxLength": 5000', '"maxLength": 6000'))
    assert main(["schemas", "--check", "--dir", str(schemas_copy)]) == 1
    err = capsys.readouterr().err
    assert f"{stale} (stale)" in err
    assert "modellix" not in err
    assert "Run `seedflow schemas` and commit the result." in err
    assert "6000" in stale.read_text()  # --check writes nothing


def test_check_names_a_missing_file(schemas_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = schemas_copy / "modellix.request.schema.json"
    missing.unlink()
    assert main(["schemas", "--check", "--dir", str(schemas_copy)]) == 1
    assert f"{missing} (missing)" in capsys.readouterr().err
    assert not missing.exists()


def test_rebuild_writes_only_what_changed(schemas_copy: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    apikley = schemas_copy / "apikley.request.schema.json"
    modellix = schemas_copy / "modellix.request.schema.json"
    expected = apikley.read_text()
    apikley.write_text("{}\n")
    untouched = modellix.stat().st_mtime_ns
    assert main(["schemas", "--dir", str(schemas_copy)]) == 0
    pipeline = schemas_copy / "pipeline.schema.json"
    lock = schemas_copy / "lock.schema.json"
    assert capsys.readouterr().out.splitlines() == [f"wrote       {apikley}",
                                                    f"unchanged   {modellix}",
                                                    f"unchanged   {pipeline}",
                                                    f"unchanged   {lock}"]
    assert apikley.read_text() == expected
    assert modellix.stat().st_mtime_ns == untouched
    assert main(["schemas", "--check", "--dir", str(schemas_copy)]) == 0


def test_no_specs_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemas", "--dir", str(tmp_path)]) == 1
    assert "no OpenAPI specs in" in capsys.readouterr().err
