"""An OpenAI-compatible ``POST /v1/embeddings`` stand-in, answering with the bundled WordLlama model.

Vectors come from WordLlama ``l2_supercat`` (``wordllama.py``: loaded from the wheel, no download),
so texts that mean the same are near each other and search in the demo finds by meaning. The
platform asks for ``dimensions: 512`` and gets 512 numbers per input (the model's 256 followed by
zeros: cosines are the model's own, see ``wordllama.py``); without ``dimensions`` the answer has
``DEFAULT_DIMENSIONS`` (512, the platform's column). Requests follow OpenAI's API: ``input`` is a
string or a list of strings; ``encoding_format`` ``float`` or ``base64`` (what the official client
asks for by default). Bad input is a 400 with OpenAI's error shape; token arrays are refused (a
400: this stand-in has no tokenizer to read them back).

Rate limits as OpenAI answers them: ``app.throttle.refuse(n, retry_after_s)`` makes the next ``n``
requests a 429 with ``Retry-After`` (whole seconds, as an HTTP header allows), ``retry-after-ms`` and
``x-ratelimit-reset-requests``; ``max_inputs`` lowers the inputs a request may carry (a 400 above it).

Counters: ``app.counters.embedded`` (``inputs``, ``tokens``, ``rate_limited``) and
``app.counters.batches`` (inputs of each request answered) beside the request counts.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import struct
from collections import Counter
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.embeddings.wordllama import embed_texts
from sandbox.http import Counters, Instrumented

DEFAULT_DIMENSIONS = 512  # the platform's vector(512) column
MAX_INPUTS = 2048  # OpenAI's limit per request
MAX_TOKENS_PER_INPUT = 8192
_WORD = re.compile(r"\w+")


def embed(text: str, dimensions: int = DEFAULT_DIMENSIONS) -> list[float]:
    """The unit vector of one input, as the endpoint answers it."""
    return embed_texts([text], dimensions)[0].tolist()


def token_count(text: str) -> int:
    """An estimate (words), for ``usage`` and the per-input limit."""
    return len(_WORD.findall(text))


@dataclass
class EmbeddingCounters(Counters):
    embedded: Counter = field(default_factory=Counter)  # inputs | tokens | rate_limited
    batches: list[int] = field(default_factory=list)  # inputs per request answered

    def reset(self) -> None:
        super().reset()
        self.embedded.clear()
        self.batches.clear()

    def as_dict(self) -> dict:
        return {**super().as_dict(), "embedded": dict(self.embedded), "batches": list(self.batches)}


@dataclass
class Throttle:
    """The next ``pending`` requests are answered 429, asking for ``retry_after_s``."""

    pending: int = 0
    retry_after_s: float = 1.0

    def refuse(self, requests: int, retry_after_s: float = 1.0) -> None:
        self.pending, self.retry_after_s = requests, retry_after_s


class InvalidRequest(ValueError):
    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


def _inputs(payload: object, max_inputs: int = MAX_INPUTS) -> list[str]:
    if not isinstance(payload, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if not isinstance(payload.get("model"), str) or not payload["model"]:
        raise InvalidRequest("you must provide a model parameter", "model")
    raw = payload.get("input")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("'input' must be a non-empty string or array.", "input")
    if len(raw) > max_inputs:
        raise InvalidRequest(f"'input' must have at most {max_inputs} items.", "input")
    for item in raw:
        if not isinstance(item, str) or item == "":
            raise InvalidRequest(
                "'$.input' is invalid: each input must be a non-empty string "
                "(token arrays are not read by this stand-in).",
                "input",
            )
        if token_count(item) > MAX_TOKENS_PER_INPUT:
            raise InvalidRequest(f"This model's maximum context length is {MAX_TOKENS_PER_INPUT} tokens.", "input")
    return raw


def embeddings_app(
    *, api_key: str | None = None, dimensions: int = DEFAULT_DIMENSIONS, max_inputs: int = MAX_INPUTS
) -> Instrumented:
    """The embeddings stand-in; with ``api_key`` set, requests need ``Authorization: Bearer <api_key>``."""
    counters = EmbeddingCounters()
    throttle = Throttle()

    async def create(request: Request) -> JSONResponse:
        if api_key is not None and request.headers.get("authorization", "") != f"Bearer {api_key}":
            return _error(401, "Incorrect API key provided.", None, "invalid_api_key")
        if throttle.pending > 0:
            throttle.pending -= 1
            counters.embedded["rate_limited"] += 1
            wait = throttle.retry_after_s
            response = _error(
                429, "Rate limit reached for requests. Please try again later.", None, "rate_limit_exceeded"
            )
            response.headers.update(
                {
                    "Retry-After": str(max(1, round(wait))),
                    "retry-after-ms": str(int(wait * 1000)),
                    "x-ratelimit-reset-requests": f"{wait:g}s",
                    "x-ratelimit-remaining-requests": "0",
                }
            )
            return response
        try:
            payload = json.loads(await request.body())
            inputs = _inputs(payload, max_inputs)
            size = payload.get("dimensions", dimensions)
            if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 4096:
                raise InvalidRequest("'dimensions' must be an integer between 1 and 4096.", "dimensions")
            encoding = payload.get("encoding_format", "float")
            if encoding not in ("float", "base64"):
                raise InvalidRequest("'encoding_format' must be 'float' or 'base64'.", "encoding_format")
        except json.JSONDecodeError:
            return _error(400, "We could not parse the JSON body of your request.")
        except InvalidRequest as exc:
            return _error(400, str(exc), exc.param)
        data = []
        matrix = await asyncio.to_thread(embed_texts, inputs, size)  # numpy off the event loop
        for index, row in enumerate(matrix):
            vector = row.tolist()
            if encoding == "base64":  # little-endian float32, as OpenAI sends it
                vector = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        tokens = sum(token_count(item) for item in inputs)
        counters.embedded["inputs"] += len(inputs)
        counters.embedded["tokens"] += tokens
        counters.batches.append(len(inputs))
        return JSONResponse(
            {
                "object": "list",
                "data": data,
                "model": payload["model"],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    app = Instrumented(Starlette(routes=[Route("/v1/embeddings", create, methods=["POST"])]), counters=counters)
    app.throttle = throttle
    return app


def _error(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}, status
    )
