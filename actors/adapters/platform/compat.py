"""Is this platform the one the tasks speak? Checked once at worker start, not request by request.

``fetch_openapi`` reads the platform's ``/openapi.json`` (FastAPI serves it without the key);
``missing`` holds each task's ``PlatformNeed`` against it: the route and method must exist, and
every field the task relies on must be a property of that route's request body or of its
successful answer (an array's items, ``anyOf`` branches and ``$ref`` followed). The answer is a
list of sentences, one per gap, for the one configuration message the worker prints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import httpx

from contracts.platform import PlatformNeed

OPENAPI_PATH = "/openapi.json"


class PlatformUnreachable(Exception):
    """The document could not be read (down, not JSON): the check is skipped, not failed."""


def fetch_openapi(base_url: str, timeout_s: float = 5.0) -> dict[str, Any]:
    try:
        response = httpx.get(base_url.rstrip("/") + OPENAPI_PATH, timeout=timeout_s)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise PlatformUnreachable(f"{type(exc).__name__}: {str(exc)[:200]}") from None
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise PlatformUnreachable("not an OpenAPI document")
    return document


def _resolve(document: dict, schema: Any, seen: frozenset[str] = frozenset()) -> list[dict]:
    """The object schemas a schema may stand for (refs followed, unions and arrays opened)."""
    if not isinstance(schema, dict):
        return []
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and ref not in seen:
        target: Any = document
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return _resolve(document, target, seen | {ref})
    found = [schema] if "properties" in schema else []
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []):
            found += _resolve(document, branch, seen)
    if "items" in schema:
        found += _resolve(document, schema["items"], seen)
    return found


def _fields(document: dict, operation: dict) -> set[str]:
    schemas = []
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
    schemas.append(body.get("schema"))
    for status, answer in operation.get("responses", {}).items():
        if status.startswith("2"):
            schemas.append(answer.get("content", {}).get("application/json", {}).get("schema"))
    names: set[str] = {p.get("name") for p in operation.get("parameters", [])}
    for schema in schemas:
        for resolved in _resolve(document, schema):
            names |= set(resolved.get("properties", {}))
    return names


def missing(document: dict[str, Any], needs: Iterable[PlatformNeed]) -> list[str]:
    """One sentence per route or field the platform's document lacks; [] when all are there."""
    gaps = []
    for need in needs:
        operation = document["paths"].get(need.path, {}).get(need.method.lower())
        if operation is None:
            gaps.append(f"{need}: no such route")
            continue
        absent = [name for name in need.fields if name not in _fields(document, operation)]
        if absent:
            gaps.append(f"{need}: no field {', '.join(absent)}")
    return gaps


__all__ = ["OPENAPI_PATH", "PlatformUnreachable", "fetch_openapi", "missing"]
