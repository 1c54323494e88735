"""The embeddings adapter against the OpenAI-compatible stand-in: batching within the limits,
429 with Retry-After waited out, 5xx retried, answers validated, the key never in a log line."""

from __future__ import annotations

import asyncio
import base64
import struct

import httpx
import pytest
from pydantic import SecretStr

from actors.adapters.embeddings.remote import EmbeddingResponseError, RemoteEmbedder, batches, parse_vectors
from actors.adapters.kit import EndpointRefused, EndpointUnavailable, retry_after_s
from sandbox.embeddings.app import embed, embeddings_app
from sandbox.http import ServedApp
from scheduler.errors import ConfigurationError

KEY = "sk-embeddings-secret-0000000000"


@pytest.fixture
def endpoint():
    app = embeddings_app(api_key=KEY, max_inputs=8)
    with ServedApp(app) as served:
        yield app, f"{served.url}/v1"


def make(url: str, **options) -> tuple[RemoteEmbedder, list[float]]:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    options = {"batch_size": 8, **options}
    return RemoteEmbedder(url, "text-embedding-3-small", SecretStr(KEY), sleep=sleep, **options), waits


def test_inputs_are_batched_within_the_inputs_and_tokens_limits(endpoint):
    app, url = endpoint
    embedder, _ = make(url, max_batch_tokens=40)
    texts = [f"document number {i} " * (1 + i % 5) for i in range(30)]
    result = asyncio.run(embedder.embed(texts))
    assert result.vectors == [embed(t) for t in texts], "in input order"
    assert max(app.counters.batches) <= 8 and sum(app.counters.batches) == 30
    assert result.requests == len(app.counters.batches) > 30 // 8
    assert batches(["x" * 300], 8, 10) == [[0]], "an input over the token budget goes alone"


def test_an_input_over_the_token_limit_is_cut_not_refused(endpoint):
    embedder, _ = make(endpoint[1], max_input_tokens=50)
    (vector,) = asyncio.run(embedder.embed(["word " * 1000])).vectors
    assert vector == embed(("word " * 1000)[:150])


def test_a_429_is_waited_out_as_retry_after_says(endpoint):
    app, url = endpoint
    app.throttle.refuse(2, retry_after_s=0.25)
    embedder, waits = make(url)
    assert len(asyncio.run(embedder.embed(["a", "b"])).vectors) == 2
    assert waits == [0.25, 0.25] and app.counters.embedded["rate_limited"] == 2


def test_a_429_asking_too_long_fails_the_run_for_a_later_retry(endpoint):
    app, url = endpoint
    app.throttle.refuse(1, retry_after_s=120)
    embedder, waits = make(url, max_wait_s=30)
    with pytest.raises(EndpointUnavailable, match="rate limited"):
        asyncio.run(embedder.embed(["a"]))
    assert waits == []


def test_5xx_is_retried_then_gives_up_as_a_transient_error(endpoint):
    app, url = endpoint
    app.faults.update(error_rate=1.0)
    embedder, waits = make(url, max_attempts=3)
    with pytest.raises(EndpointUnavailable, match="503"):
        asyncio.run(embedder.embed(["a"]))
    assert len(waits) == 2 and app.counters.faults["5xx"] == 3
    app.faults.update(error_rate=0.0)
    assert asyncio.run(embedder.embed(["a"])).vectors == [embed("a")]


def test_a_bad_key_is_a_configuration_error_and_the_key_is_never_logged(endpoint, rendered_logs):
    app, url = endpoint
    wrong = RemoteEmbedder(url, "m", SecretStr("sk-wrong-key-planted-1234"))
    with pytest.raises(ConfigurationError, match="API key"):
        asyncio.run(wrong.embed(["a"]))
    app.faults.update(error_rate=0.5)
    embedder, _ = make(url, max_attempts=10)
    asyncio.run(embedder.embed([f"t{i}" for i in range(20)]))
    text = rendered_logs()
    assert KEY not in text and "sk-wrong-key-planted-1234" not in text


def test_a_refused_request_is_not_retried(endpoint):
    embedder, waits = make(endpoint[1], batch_size=20)  # the stand-in takes 8 at most
    with pytest.raises(EndpointRefused) as refused:
        asyncio.run(embedder.embed([str(i) for i in range(9)]))
    assert refused.value.status == 400 and "at most 8" in refused.value.message and waits == []


def test_the_dimension_is_configured_or_learned_once(endpoint):
    app, url = endpoint
    embedder, _ = make(url)
    assert asyncio.run(embedder.dimension()) == 256 and app.counters.total() == 1
    sized, _ = make(url, dimensions=64)
    assert asyncio.run(sized.dimension()) == 64 and app.counters.total() == 1
    assert len(asyncio.run(sized.embed(["x"])).vectors[0]) == 64


def test_answers_are_validated_item_by_item():
    packed = base64.b64encode(struct.pack("<2f", 0.5, -1.0)).decode()
    assert parse_vectors({"data": [{"index": 1, "embedding": [1, 2]}, {"index": 0, "embedding": packed}]}, 2) == [
        [0.5, -1.0], [1.0, 2.0]]
    for bad in ({"data": [{"index": 0, "embedding": [1.0]}]},  # too few
                {"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]},  # repeated
                {"data": [{"index": 0, "embedding": [1.0]}, {"index": 1, "embedding": [1.0, 2.0]}]},  # dimensions
                {"data": [{"index": 0, "embedding": ["x"]}, {"index": 1, "embedding": [1.0]}]},
                {"data": [{"index": 0, "embedding": "not base64!"}, {"index": 1, "embedding": [1.0]}]},
                {"data": [{"index": 0, "embedding": []}, {"index": 1, "embedding": [1.0]}]}, [], None):
        with pytest.raises(EmbeddingResponseError):
            parse_vectors(bad, 2)


def test_retry_after_headers():
    now = lambda: 1_000_000.0  # noqa: E731
    assert retry_after_s({"Retry-After": "3"}, now) == 3.0
    assert retry_after_s({"retry-after-ms": "250", "Retry-After": "3"}, now) == 0.25
    assert retry_after_s({"Retry-After": "Mon, 12 Jan 1970 13:46:50 GMT"}, now) == 10.0
    assert retry_after_s({"x-ratelimit-reset-requests": "1m30s", "x-ratelimit-reset-tokens": "20ms"}, now) == 90.0
    assert retry_after_s({"Retry-After": "soon"}, now) is None and retry_after_s({}, now) is None


def test_network_errors_are_retried():
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) < 3:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json={"data": [{"index": 0, "embedding": [0.0, 1.0]}]})

    async def sleep(_):
        pass

    embedder = RemoteEmbedder("http://127.0.0.1:9/v1", "m", transport=httpx.MockTransport(handler), sleep=sleep)
    assert asyncio.run(embedder.embed(["a"])).vectors == [[0.0, 1.0]] and len(calls) == 3
