"""The OpenAPI 3.1 document of the JSON API, served at /api/openapi.json.

One registry: each API describes its own paths beside its views, in one call of `add_paths`
(the history, current and markers endpoints in hmi/history_views.py, energy in
hmi/energy_views.py; OEE, quality and maintenance add theirs the same way). What every endpoint
shares is said once here: the two ways in (a session cookie, or a bearer token), the JSON
error, the answers every endpoint can give (400, 401, 404, 503), and the building blocks of
their parameters (ISO times, local days, ids).

The document is served without a login: it describes shapes, never a plant's data, and tools
read it before they hold a token. tests/hmi/test_openapi.py runs schemathesis against a live
server with it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import get_resolver
from django.views.decorators.http import require_safe

Json = dict[str, Any]
MAX_ID = 2**63 - 1  # a bigint: larger ids cannot name a row

PATHS: dict[str, Json] = {}
SCHEMAS: dict[str, Json] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "The reason, in words."},
            "errors": {
                "type": "object",
                "description": "Each parameter's problems, for a 400.",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
    "Time": {"type": "string", "format": "date-time", "description": "ISO-8601 in UTC, with Z."},
    "NullableNumber": {"type": ["number", "null"]},
}


def ref(name: str) -> Json:
    return {"$ref": f"#/components/schemas/{name}"}


def error(description: str) -> Json:
    return {"description": description, "content": {"application/json": {"schema": ref("Error")}}}


# The answers any API endpoint may give besides its 200, by status.
ERRORS: dict[str, Json] = {
    "400": error("A parameter is missing or wrong; `error` names the first, `errors` all."),
    "401": error("No session and no bearer token, or a token unknown, revoked or expired."),
    "404": error("An object (tag, plant) that does not exist or that you may not see."),
    "503": error("The query ran longer than WEB_STATEMENT_TIMEOUT_MS; try again later."),
}


def query(name: str, schema: Json, description: str, *, required: bool = False,
          explode: bool = True) -> Json:  # fmt: skip
    """A query parameter."""
    found: Json = {"name": name, "in": "query", "required": required, "schema": schema,
                   "description": description}  # fmt: skip
    if schema.get("type") == "array":
        found |= {"style": "form", "explode": explode}
    return found


def ids(most: int) -> Json:
    return {
        "type": "array",
        "minItems": 1,
        "maxItems": most,
        "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }


def json_body(description: str, schema: Json) -> Json:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def csv_body(description: str) -> Json:
    return {"description": description, "content": {"text/csv": {"schema": {"type": "string"}}}}


def get(operation_id: str, summary: str, parameters: list[Json], ok: Json, *,
        tags: list[str]) -> Json:  # fmt: skip
    """A GET operation (HEAD answers the same without a body) with the shared refusals."""
    return {
        "get": {
            "operationId": operation_id,
            "summary": summary,
            "tags": tags,
            "parameters": parameters,
            "responses": {"200": ok, **ERRORS},
        }
    }


def add_paths(paths: dict[str, Json], schemas: dict[str, Json] | None = None) -> None:
    """Describe an API's paths (and the schemas they name): call once, beside its views."""
    clash = set(paths) & set(PATHS) or set(schemas or {}) & set(SCHEMAS)
    if clash:
        raise ValueError(f"described twice in the OpenAPI document: {sorted(clash)}")
    PATHS.update(paths)
    SCHEMAS.update(schemas or {})


def document(server: str = "/") -> Json:
    """The whole document, of every API the URLconf routes (their modules describe them)."""
    get_resolver().url_patterns  # noqa: B018 (imports the views, which add their paths)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "scada-lite HMI API",
            "version": "1",
            "description": "Read-only JSON endpoints of the HMI. Log in (a session cookie) or "
            "send `Authorization: Bearer <token>`: an admin issues read-only tokens in the "
            "admin. Every answer shows only the plants the user is a member of.",
        },
        "servers": [{"url": server}],
        "security": [{"session": []}, {"bearer": []}],
        "paths": dict(sorted(PATHS.items())),
        "components": {
            "schemas": dict(sorted(SCHEMAS.items())),
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A read-only API token (`scada_…`).",
                },
                "session": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "sessionid",
                    "description": "The browser's login session.",
                },
            },
        },
    }


@login_not_required
@require_safe
def openapi_json(request: HttpRequest) -> JsonResponse:
    """The OpenAPI document; no login needed (it describes, it shows no data)."""
    return JsonResponse(document(), json_dumps_params={"ensure_ascii": False})
