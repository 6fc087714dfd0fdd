"""OpenAPI post-processing: every operation declares the errors it can answer.

Every API view can refuse a request as a whole, before its own code runs: 400 (invalid input,
for operations that take parameters or a body), 401/403 (not signed in, not allowed), 404 (no
such object, or one outside the user's scope) and 429 (throttled). drf-spectacular documents
only the success responses; the contract checks of a schema-driven test (schemathesis) then
report every such error as undocumented. This hook adds them, each with the DRF error body.
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA = {
    "type": "object",
    "description": "An error body: `detail` for a request-level refusal (401, 403, 404, 415, "
    "429, an unparseable body); `errors`, one entry per field, for invalid input (400).",
    "properties": {
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
    },
}
ERRORS = {
    "400": "The input is invalid or unparseable; the body says what is wrong.",
    "401": "Not signed in (no or an invalid session or token).",
    "403": "Signed in, but this role may not do this.",
    "404": "No such object, or one outside the user's scope.",
    "429": "Too many requests from this user or address; retry after the Retry-After seconds.",
}
BODY_ERRORS = {"415": "The body's content type is not one this operation accepts."}
METHODS = {"get", "put", "patch", "post", "delete"}
REFERENCE = {"$ref": "#/components/schemas/Error"}


def _declare(responses: dict[str, Any], code: str, description: str) -> None:
    declared = responses.get(code)
    if declared is None:
        responses[code] = {
            "description": description,
            "content": {"application/json": {"schema": REFERENCE}},
        }
        return
    # An operation's own error body (e.g. an import report) stays documented; the generic
    # refusals that can come before the operation's code runs are added beside it.
    content = declared.setdefault("content", {})
    media = content.setdefault("application/json", {})
    own = media.get("schema")
    media["schema"] = {"anyOf": [own, REFERENCE]} if own and own != REFERENCE else REFERENCE


def declare_error_responses(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_SCHEMA)
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            errors = {**ERRORS, **(BODY_ERRORS if "requestBody" in operation else {})}
            for code, description in errors.items():
                _declare(responses, code, description)
    return result
