"""How the stand-in answers: rows go out as stored (already JSON-shaped), not re-validated."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel


def json_response(payload: Any, status_code: int = 200) -> JSONResponse:
    # No re-validation, so a test can plant a value from a "newer platform" (see api.py).
    if isinstance(payload, BaseModel):
        payload = payload.model_dump(mode="json")
    return JSONResponse(payload, status_code=status_code)
