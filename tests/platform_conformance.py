"""Checks against the real platform's OpenAPI document (``tests/fixtures/platform/openapi.json``).

The platform stand-in and the platform adapter must both agree with that document, not with
each other: a test that only runs the adapter against the stand-in would pass with both wrong
in the same way. So every request the adapter sends and every answer the stand-in gives can be
held against the document:

- ``assert_request_conforms(method, path, body=..., params=...)``: the operation exists at that
  exact path (a missing trailing slash is a 307 on the real service, so it is an error here),
  every query parameter is declared and scalar (the platform keeps only the last of repeated
  values), and the body validates against the declared request schema.
- ``assert_response_conforms(method, path, status, body)``: the status is declared for that
  operation and the body validates against its schema. A few statuses the real service gives
  without declaring them (the quirks in ``tests/fixtures/platform/README.md``: 307 redirects, 401
  without the key, 400/404 from handlers, the 500 of an incident for an unknown server) are
  accepted with FastAPI's ``{"detail": ...}`` body.
- ``CheckedTransport``: an httpx transport that does both for every exchange of a client (pass it
  as the platform client's ``transport``), keeping what it saw in ``exchanges`` and failing at
  the first violation.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import httpx
from openapi_schema_validator import OAS31Validator

from tests.support import FIXTURES

SPEC_PATH = FIXTURES / "platform" / "openapi.json"

#: statuses the real service answers without declaring them (tests/fixtures/platform/README.md)
UNDECLARED_QUIRKS = {307, 400, 401, 403, 404, 409, 500}

#: routes that read their raw body themselves (to check an HMAC over its bytes), so the document
#: declares no request body for them; the body's shape is in tests/fixtures/platform/README.md
RAW_BODY_OPERATIONS = {("POST", "/api/rag/ingest")}


class Nonconformance(AssertionError):
    """A request or response that the platform's OpenAPI document does not allow."""


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text())


@cache
def _templates() -> list[tuple[re.Pattern, str, int]]:
    """(regex, template, literal segment count) per path; literal segments win over parameters."""
    found = []
    for template in spec()["paths"]:
        pattern = re.sub(r"\{[^/}]+\}", "[^/]+", re.escape(template).replace(r"\{", "{").replace(r"\}", "}"))
        literals = sum(1 for part in template.split("/") if part and not part.startswith("{"))
        found.append((re.compile(f"^{pattern}$"), template, literals))
    return found


def operation(method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The (template, operation) of ``method path``; ``Nonconformance`` if the document has none."""
    path = path.split("?", 1)[0]
    matches = sorted(((lit, tpl) for rx, tpl, lit in _templates() if rx.match(path)), reverse=True)
    for _, template in matches:
        op = spec()["paths"][template].get(method.lower())
        if op is not None:
            return template, op
    hint = ""
    other = path[:-1] if path.endswith("/") else path + "/"
    if any(rx.match(other) for rx, _, _ in _templates()):
        hint = f" (the document has {other!r}: the real service answers 307 here)"
    raise Nonconformance(f"{method.upper()} {path}: no such operation in the platform's OpenAPI document{hint}")


def _validate(schema: dict[str, Any], value: Any, what: str) -> None:
    rooted = {**schema, "components": spec()["components"]}
    errors = sorted(OAS31Validator(rooted).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        shown = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:200]}" for e in errors[:5])
        raise Nonconformance(f"{what}: {shown}")


def assert_request_conforms(
    method: str, path: str, *, body: Any = None, params: dict[str, Any] | list[tuple[str, Any]] | None = None
) -> None:
    template, op = operation(method, path)
    declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "query"}
    pairs = list(params.items()) if isinstance(params, dict) else list(params or [])
    names = [name for name, _ in pairs]
    for name, value in pairs:
        if name not in declared:
            raise Nonconformance(f"{method.upper()} {template}: query parameter {name!r} is not declared")
        if isinstance(value, list | tuple) or names.count(name) > 1:
            raise Nonconformance(
                f"{method.upper()} {template}: query parameter {name!r} repeated "
                "(the platform keeps only the last value)"
            )
    request_body = op.get("requestBody")
    if body is None:
        if request_body and request_body.get("required"):
            raise Nonconformance(f"{method.upper()} {template}: a body is required")
        return
    if not request_body:
        if (method.upper(), template) in RAW_BODY_OPERATIONS:
            return
        raise Nonconformance(f"{method.upper()} {template}: takes no body")
    schema = request_body["content"]["application/json"]["schema"]
    _validate(schema, body, f"{method.upper()} {template} request body")


def assert_response_conforms(method: str, path: str, status: int, body: Any) -> None:
    template, op = operation(method, path)
    responses = op.get("responses", {})
    declared = responses.get(str(status))
    if declared is None:
        if status in UNDECLARED_QUIRKS:
            if status != 307 and not (isinstance(body, dict) and "detail" in body):
                raise Nonconformance(f"{method.upper()} {template} {status}: expected a {{'detail': ...}} body")
            return
        raise Nonconformance(
            f"{method.upper()} {template}: status {status} is not declared (declared: {', '.join(sorted(responses))})"
        )
    schema = declared.get("content", {}).get("application/json", {}).get("schema")
    if schema is not None and schema != {}:
        _validate(schema, body, f"{method.upper()} {template} {status} response")


def _json_or_none(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise Nonconformance(f"not JSON: {raw[:200]!r}") from exc


class CheckedTransport(httpx.AsyncBaseTransport):
    """Holds every exchange against the document; raises ``Nonconformance`` at the first breach.

    The request is checked before it is sent, the response before the client sees it, so a test
    fails where the disagreement is, not later where its consequence shows.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport | None = None):
        self.inner = inner or httpx.AsyncHTTPTransport()
        #: (method, path, status) of every checked exchange
        self.exchanges: list[tuple[str, str, int]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.startswith("/api/"):
            assert_request_conforms(
                request.method, path, body=_json_or_none(request.content), params=list(request.url.params.multi_items())
            )
        response = await self.inner.handle_async_request(request)
        if path.startswith("/api/"):
            raw = await response.aread()
            assert_response_conforms(request.method, path, response.status_code, _json_or_none(raw))
            self.exchanges.append((request.method, path, response.status_code))
            headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-encoding"]
            response = httpx.Response(
                response.status_code, headers=headers, content=raw, request=request, extensions=response.extensions
            )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
