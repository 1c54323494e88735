"""An OpenAI-compatible ``POST {EMBEDDINGS_URL}/embeddings`` client.

- Batches within the API's limits: at most ``EMBEDDINGS_BATCH_SIZE`` inputs per request (OpenAI
  allows 2,048) and ``EMBEDDINGS_MAX_BATCH_TOKENS`` estimated tokens per request; an input longer
  than ``EMBEDDINGS_MAX_INPUT_TOKENS`` is cut (the chunker keeps chunks far below it). Tokens are
  estimated at 3 characters each, which over-counts English (about 4), so a batch is never refused.
- 429 with ``Retry-After`` / ``retry-after-ms`` / ``x-ratelimit-reset-*`` waited out, 5xx and
  network errors retried (``kit.post_json``); the key goes in the ``Authorization`` header only
  and is registered with the log redaction.
- The answer is validated item by item: one vector per input, each index once, finite numbers
  (``float`` or ``base64`` float32 as OpenAI sends), all of one dimension. Anything else is an
  ``EmbeddingResponseError``: nothing half-understood is stored.
- The dimension: ``EMBEDDINGS_DIMENSIONS`` when set (and sent as ``dimensions``), else learned
  from one short request, once per process.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import math
import struct
from collections.abc import Awaitable, Callable, Sequence

import httpx
from pydantic import SecretStr

from actors.adapters.embeddings.interface import Embedded
from actors.adapters.kit import EndpointUnavailable, PerLoop, post_json
from scheduler.logs import register_secrets

#: characters per token, estimated low so that a batch never exceeds the API's token limits
CHARS_PER_TOKEN = 3


class EmbeddingResponseError(EndpointUnavailable):
    """A 200 whose body is not one valid vector per input (retried: such answers are usually passing)."""


def batches(texts: Sequence[str], max_inputs: int, max_tokens: int) -> list[list[int]]:
    """Indexes of ``texts`` grouped into requests: ≤ ``max_inputs`` each and ≤ ``max_tokens``
    estimated tokens (a single input over the budget still goes, alone)."""
    groups: list[list[int]] = [[]]
    tokens = 0
    for index, text in enumerate(texts):
        cost = math.ceil(len(text) / CHARS_PER_TOKEN)
        if groups[-1] and (len(groups[-1]) >= max_inputs or tokens + cost > max_tokens):
            groups.append([])
            tokens = 0
        groups[-1].append(index)
        tokens += cost
    return [g for g in groups if g]


def parse_vectors(data: object, count: int) -> list[list[float]]:
    """The vectors of an embeddings answer, in input order; raises ``EmbeddingResponseError``."""
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list) or len(items) != count:
        raise EmbeddingResponseError(f"expected {count} embeddings, got {type(items).__name__}"
                                     f"{'' if not isinstance(items, list) else f' of {len(items)}'}")
    vectors: list[list[float] | None] = [None] * count
    for position, item in enumerate(items):
        index = item.get("index") if isinstance(item, dict) else None
        if type(index) is not int or not 0 <= index < count or vectors[index] is not None:
            raise EmbeddingResponseError(f"item {position}: index missing, out of range or repeated")
        vectors[index] = _vector(item.get("embedding"), position)
    if len({len(v) for v in vectors}) != 1:  # type: ignore[arg-type]
        raise EmbeddingResponseError("embeddings of different dimensions in one answer")
    return vectors  # type: ignore[return-value]


def _vector(raw: object, position: int) -> list[float]:
    if isinstance(raw, str):  # encoding_format=base64: little-endian float32
        try:
            packed = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise EmbeddingResponseError(f"item {position}: embedding is not base64") from None
        if not packed or len(packed) % 4:
            raise EmbeddingResponseError(f"item {position}: base64 embedding is not float32s")
        raw = list(struct.unpack(f"<{len(packed) // 4}f", packed))
    if not isinstance(raw, list) or not raw or not all(type(x) in (int, float) and math.isfinite(x) for x in raw):
        raise EmbeddingResponseError(f"item {position}: embedding is not a list of finite numbers")
    return [float(x) for x in raw]


class RemoteEmbedder:
    def __init__(self, url: str, model: str, api_key: SecretStr | None = None, *, dimensions: int | None = None,
                 batch_size: int = 256, max_batch_tokens: int = 100_000, max_input_tokens: int = 8191,
                 timeout_s: float = 30.0, max_attempts: int = 4, max_wait_s: float = 60.0,
                 transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep):
        self.url = url.rstrip("/") + "/embeddings"
        self.model, self._api_key, self._dimensions = model, api_key, dimensions
        register_secrets([api_key])
        self.batch_size, self.max_batch_tokens, self.max_input_tokens = batch_size, max_batch_tokens, max_input_tokens
        self.max_attempts, self.max_wait_s, self.sleep = max_attempts, max_wait_s, sleep
        timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0))
        self._pools = PerLoop(lambda: httpx.AsyncClient(timeout=timeout, transport=transport),
                              is_closed=lambda pool: pool.is_closed)
        self._probe_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"RemoteEmbedder({self.url!r}, model={self.model!r})"

    async def aclose(self) -> None:
        await self._pools.aclose(lambda pool: pool.aclose())

    async def dimension(self) -> int:
        if self._dimensions is None:
            async with self._probe_lock:
                if self._dimensions is None:
                    self._dimensions = len((await self._request(["dimension"]))[0])
        return self._dimensions

    async def embed(self, texts: Sequence[str]) -> Embedded:
        limit = self.max_input_tokens * CHARS_PER_TOKEN
        cut = [text[:limit] for text in texts]
        vectors: list[list[float]] = [[] for _ in cut]
        groups = batches(cut, self.batch_size, self.max_batch_tokens)
        for group in groups:
            for index, vector in zip(group, await self._request([cut[i] for i in group]), strict=True):
                vectors[index] = vector
        if vectors and self._dimensions is not None and any(len(v) != self._dimensions for v in vectors):
            raise EmbeddingResponseError(f"embeddings are not of the configured dimension {self._dimensions}")
        return Embedded(vectors, len(groups))

    async def _request(self, inputs: list[str]) -> list[list[float]]:
        body: dict = {"model": self.model, "input": inputs, "encoding_format": "float"}
        if self._dimensions is not None:
            body["dimensions"] = self._dimensions
        headers = {"Authorization": f"Bearer {self._api_key.get_secret_value()}"} if self._api_key else {}
        data = await post_json(self._pools.get(), self.url, body, headers=headers, attempts=self.max_attempts,
                               max_wait_s=self.max_wait_s, sleep=self.sleep)
        return parse_vectors(data, len(inputs))
