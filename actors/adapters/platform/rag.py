"""The platform client's methods for RAG: ``POST /api/rag/ingest`` (signed) and ``POST /api/rag/query``.

The ingest needs, beside ``X-Internal-Key``, ``X-RAG-Timestamp: <unix seconds>`` and
``X-RAG-Signature: sha256=<hex HMAC-SHA256(RAG_INGEST_SECRET, "<timestamp>." + body)>`` over the
exact bytes sent: the body is encoded once (``base.encode_body``) and those bytes are both signed
and sent, with a fresh timestamp on every attempt (the platform allows ±300 s). The secret stays a
``SecretStr`` until the HMAC is computed and is never logged (it is registered with the log
scrubber too). A wrong secret is a 401: a refusal of every write, which stops the run.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

from pydantic import SecretStr

from actors.adapters.platform.base import BaseClient
from contracts.platform import RagIngest, RagIngestResult, RagQuery, RagQueryResult

INGEST_PATH = "/api/rag/ingest"
QUERY_PATH = "/api/rag/query"


class IngestNotConfigured(RuntimeError):
    """An ingest asked of a client built without ``RAG_INGEST_SECRET``."""


def rag_signature(secret: str, timestamp: int, body: bytes) -> str:
    """The value of ``X-RAG-Signature`` for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def rag_signer(secret: SecretStr, clock: Callable[[], float] = time.time) -> Callable[[bytes], dict[str, str]]:
    """Headers signing a body: ``X-RAG-Timestamp`` (now) and ``X-RAG-Signature``."""

    def sign(body: bytes) -> dict[str, str]:
        timestamp = int(clock())
        return {
            "X-RAG-Timestamp": str(timestamp),
            "X-RAG-Signature": rag_signature(secret.get_secret_value(), timestamp, body),
        }

    return sign


class RagAPI(BaseClient):
    def __init__(self, *args, rag_ingest_secret: SecretStr | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._rag_secret = rag_ingest_secret

    @property
    def can_ingest(self) -> bool:
        return self._rag_secret is not None

    async def ingest(self, request: RagIngest) -> RagIngestResult:
        """Send documents to the platform, which chunks and embeds them (or skips those whose
        ``content_hash`` it already holds)."""
        if self._rag_secret is None:
            raise IngestNotConfigured("RAG_INGEST_SECRET is not set: the platform refuses unsigned ingests")
        response = await self._request(
            "POST",
            INGEST_PATH,
            body=request.model_dump(mode="json", exclude_none=True),
            sign=rag_signer(self._rag_secret),
        )
        return self._one(response, RagIngestResult)

    async def query(self, request: RagQuery) -> RagQueryResult:
        """The chunks nearest by meaning (the platform embeds the query)."""
        response = await self._request("POST", QUERY_PATH, body=request.model_dump(mode="json"))
        return self._one(response, RagQueryResult)
