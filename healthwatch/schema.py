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
    "description": "DRF's error body: `detail` for request-level errors, one list per field "
    "for validation errors.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}
ERRORS = {
    "400": "The input is invalid; the body names each field and what is wrong.",
    "401": "Not signed in (no or an invalid session or token).",
    "403": "Signed in, but this role may not do this.",
    "404": "No such object, or one outside the user's scope.",
    "429": "Too many requests from this user or address; retry after the Retry-After seconds.",
}
METHODS = {"get", "put", "patch", "post", "delete"}


def declare_error_responses(result: dict[str, Any], **_: Any) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Error", ERROR_SCHEMA)
    reference = {"$ref": "#/components/schemas/Error"}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in ERRORS.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": reference}},
                    },
                )
    return result
