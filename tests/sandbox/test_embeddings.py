"""The embeddings stand-in speaks OpenAI's /v1/embeddings with the bundled WordLlama model: 512
numbers per input by default (the platform's column), similar texts close, loaded with nothing
from outside (an empty home, every non-loopback connection refused)."""

from __future__ import annotations

import base64
import json
import math
import os
import struct
import subprocess
import sys
import textwrap

import httpx
import pytest

from sandbox.embeddings.app import embed, embeddings_app
from sandbox.http import ServedApp
from tests.support import ROOT

MODEL = "text-embedding-3-small"


@pytest.fixture
def client():
    with ServedApp(embeddings_app()) as served, httpx.Client(base_url=served.url, timeout=10) as client:
        yield client


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def vectors(client: httpx.Client, texts, **extra) -> list[list[float]]:
    response = client.post("/v1/embeddings", json={"input": texts, "model": MODEL, **extra})
    assert response.status_code == 200, response.text
    return [item["embedding"] for item in response.json()["data"]]


def test_response_has_openais_shape_with_unit_vectors(client):
    body = client.post("/v1/embeddings", json={"input": ["first text", "the second text"], "model": MODEL}).json()
    assert body["object"] == "list" and body["model"] == MODEL
    assert [(d["object"], d["index"]) for d in body["data"]] == [("embedding", 0), ("embedding", 1)]
    assert all(len(d["embedding"]) == 512 for d in body["data"])
    assert all(math.isclose(math.sqrt(sum(v * v for v in d["embedding"])), 1.0) for d in body["data"])
    assert body["usage"] == {"prompt_tokens": 5, "total_tokens": 5}


def test_a_single_string_gives_one_vector(client):
    assert len(vectors(client, "just one")) == 1


def test_vectors_are_deterministic(client):
    text = "Invoices are retried when the payment provider times out."
    assert vectors(client, text) == vectors(client, [text]) == [embed(text)]


def test_similar_texts_are_closer_than_unrelated_ones(client):
    billing, billing_too, search = vectors(
        client,
        [
            "Billing service: invoices, refunds and subscription payments.",
            "The billing service stores invoices and handles refunds for payments.",
            "Search shards rank query results by relevance with a tokenizer.",
        ],
    )
    assert cosine(billing, billing_too) > 0.5 > cosine(billing, search)


def test_base64_encoding_and_dimensions(client):
    response = client.post(
        "/v1/embeddings", json={"input": "packed floats", "model": MODEL, "encoding_format": "base64", "dimensions": 64}
    )
    packed = base64.b64decode(response.json()["data"][0]["embedding"])
    unpacked = struct.unpack("<64f", packed)
    expected = embed("packed floats", 64)
    assert all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-7) for a, b in zip(unpacked, expected, strict=True))


def test_the_platforms_512_are_the_models_256_then_zeros_so_cosines_are_the_models(client):
    texts = ["Billing sends invoices", "Invoices and refunds for customers", "Kubernetes drains a node"]
    wide = vectors(client, texts, dimensions=512)
    native = vectors(client, texts, dimensions=256)
    assert all(v[256:] == [0.0] * 256 for v in wide)
    for i in range(3):
        for j in range(3):
            assert math.isclose(cosine(wide[i], wide[j]), cosine(native[i], native[j]), abs_tol=1e-9)
    assert cosine(wide[0], wide[1]) > cosine(wide[0], wide[2]) + 0.2


def test_token_arrays_are_refused_this_stand_in_has_no_tokenizer(client):
    response = client.post("/v1/embeddings", json={"input": [[1, 2, 3]], "model": MODEL})
    assert response.status_code == 400 and response.json()["error"]["param"] == "input"


@pytest.mark.parametrize(
    "payload",
    [
        {"model": MODEL},
        {"input": "", "model": MODEL},
        {"input": [], "model": MODEL},
        {"input": ["ok", 3], "model": MODEL},
        {"input": "no model"},
        {"input": "x", "model": MODEL, "encoding_format": "hex"},
        {"input": "x", "model": MODEL, "dimensions": 0},
        {"input": ["x"] * 2049, "model": MODEL},
    ],
)
def test_bad_input_is_a_400_in_openais_error_shape(client, payload):
    response = client.post("/v1/embeddings", json=payload)
    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "invalid_request_error"
    assert error["message"]


def test_unparseable_json_is_a_400(client):
    response = client.post("/v1/embeddings", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and "error" in response.json()


def test_api_key_is_enforced_when_configured():
    with ServedApp(embeddings_app(api_key="sk-sandbox")) as served:
        payload = {"input": "x", "model": MODEL}
        assert httpx.post(f"{served.url}/v1/embeddings", json=payload).status_code == 401
        wrong = httpx.post(f"{served.url}/v1/embeddings", json=payload, headers={"Authorization": "Bearer sk-other"})
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
        assert "sk-other" not in wrong.text
        ok = httpx.post(f"{served.url}/v1/embeddings", json=payload, headers={"Authorization": "Bearer sk-sandbox"})
        assert ok.status_code == 200


def test_counters_and_faults(client):
    vectors(client, ["one two", "three"])
    counters = client.get("/_sandbox/counters").json()
    assert counters["requests"] == {"POST /v1/embeddings": 1}
    assert counters["embedded"] == {"inputs": 2, "tokens": 3}
    client.post("/_sandbox/faults", json={"error_rate": 1.0})
    assert client.post("/v1/embeddings", json={"input": "x", "model": MODEL}).status_code == 503
    client.post("/_sandbox/faults", json={"error_rate": 0.0, "malformed_rate": 1.0})
    with pytest.raises(json.JSONDecodeError):
        json.loads(client.post("/v1/embeddings", json={"input": "x", "model": MODEL}).content)
    assert client.get("/_sandbox/counters").json()["faults"] == {"5xx": 1, "malformed": 1}, "one of each, no more"


NO_NETWORK = textwrap.dedent("""
    import socket
    _real_connect = socket.socket.connect
    def _loopback_only(self, address, *rest):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (host.startswith("127.") or host in ("::1", "localhost")):
            raise OSError(f"network refused by the test: {address!r}")
        return _real_connect(self, address, *rest)
    socket.socket.connect = _loopback_only
    def _no_lookup(host, *args, **kwargs):
        raise socket.gaierror(f"name lookups refused by the test: {host!r}")
    socket.getaddrinfo = _no_lookup
""")
PROBE = textwrap.dedent("""
    import json, os
    from sandbox.embeddings.wordllama import MODEL_NAME, embed_texts
    m = embed_texts(["Sends Telegram alerts when a server is down",
                     "notifies the on-call chat when monitoring fires",
                     "issues invoices and refunds card payments"], 512)
    print(json.dumps({"model": MODEL_NAME, "shape": list(m.shape), "norm": float((m[0] @ m[0]) ** 0.5),
                      "close": float(m[0] @ m[1]), "far": float(m[0] @ m[2]),
                      "home": sorted(os.listdir(os.environ["HOME"]))}))
""")


def test_the_bundled_model_loads_and_embeds_with_an_empty_home_and_no_network(tmp_path):
    home, guard = tmp_path / "home", tmp_path / "guard"
    home.mkdir()
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NO_NETWORK)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "PYTHONPATH": f"{guard}:{ROOT}",
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(home / "hf"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "NO_PROXY": "*",
    }
    sanity = subprocess.run(
        [sys.executable, "-c", "import urllib.request; urllib.request.urlopen('http://example.com')"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert sanity.returncode != 0 and "refused by the test" in sanity.stderr, "the guard itself works"
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert (found["model"], found["shape"]) == ("wordllama/l2_supercat-256", [3, 512])
    assert abs(found["norm"] - 1) < 1e-5
    assert found["close"] > found["far"] + 0.1, "a real model: related texts are closer"
    assert found["home"] == [], "nothing downloaded or cached into the home directory"
