"""The OpenAPI document declares the errors the API gives: every /api/v1 route lists 401, 403, 404, 409 and 422
with the one error body `{code, message, details}`, so clients and conformance checkers (schemathesis) know them."""

from __future__ import annotations

from typing import Any

from zhili.app import create_app

ERRORS = {"401", "403", "404", "409", "422"}


def test_every_api_route_declares_the_error_answers_with_the_error_body() -> None:
    spec: dict[str, Any] = create_app().openapi()
    checked = 0
    for path, ops in spec["paths"].items():
        if not path.startswith("/api/v1/") or path == "/api/v1/health":
            continue
        for method, op in ops.items():
            missing = ERRORS - set(op["responses"])
            assert not missing, f"{method.upper()} {path} does not declare {sorted(missing)}"
            for status in ERRORS:
                schema = op["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)
            checked += 1
    assert checked > 100
    body = spec["components"]["schemas"]["ErrorBody"]
    assert set(body["properties"]) == {"code", "message", "details"} and set(body["required"]) == {"code", "message"}
