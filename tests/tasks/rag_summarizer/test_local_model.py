"""The local embedder is a real model that needs nothing from outside: loaded with an empty home
directory and every non-loopback connection refused, it embeds, and similar texts come out close.
Also the summaries: extractive (local, deterministic) and through a chat completions endpoint."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap

import httpx
import pytest
from pydantic import SecretStr

from actors.adapters.embeddings.extractive import ExtractiveSummarizer, sentences
from actors.adapters.embeddings.local import DIMENSION, MODEL_NAME, LocalEmbedder
from actors.adapters.kit import EndpointUnavailable
from actors.adapters.summary.chat import ChatSummarizer, SummarySettings

from tests.support import ROOT

NO_NETWORK = textwrap.dedent('''
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
''')
PROBE = textwrap.dedent('''
    import asyncio, json, math, os
    from actors.adapters.embeddings.local import LocalEmbedder
    embedder = LocalEmbedder()
    vectors = asyncio.run(embedder.embed(["Sends Telegram alerts when a server is down",
                                          "notifies the on-call chat when monitoring fires",
                                          "issues invoices and refunds card payments"])).vectors
    cos = lambda a, b: sum(x * y for x, y in zip(a, b))
    print(json.dumps({"model": embedder.model, "dimension": len(vectors[0]),
                      "norm": math.sqrt(sum(x * x for x in vectors[0])),
                      "close": cos(vectors[0], vectors[1]), "far": cos(vectors[0], vectors[2]),
                      "home": sorted(os.listdir(os.environ["HOME"]))}))
''')


def test_the_bundled_model_loads_and_embeds_with_an_empty_home_and_no_network(tmp_path):
    home, guard = tmp_path / "home", tmp_path / "guard"
    home.mkdir()
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NO_NETWORK)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "PYTHONPATH": f"{guard}:{ROOT}", "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(home / "hf"), "XDG_CACHE_HOME": str(home / "cache"), "NO_PROXY": "*"}
    sanity = subprocess.run([sys.executable, "-c", "import urllib.request; urllib.request.urlopen('http://example.com')"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert sanity.returncode != 0 and "refused by the test" in sanity.stderr, "the guard itself works"
    result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert (found["model"], found["dimension"]) == (MODEL_NAME, DIMENSION) == ("wordllama/l2_supercat-256", 256)
    assert abs(found["norm"] - 1) < 1e-5
    assert found["close"] > found["far"] + 0.1, "a real model: related texts are closer"
    assert found["home"] == [], "nothing downloaded or cached into the home directory"


def test_local_vectors_are_deterministic_and_independent_of_the_batch():
    embedder = LocalEmbedder()
    alone = asyncio.run(embedder.embed(["a short text"])).vectors[0]
    batch = asyncio.run(embedder.embed(["a much longer text with many more words in it", "a short text"])).vectors
    assert max(abs(a - b) for a, b in zip(alone, batch[1])) < 1e-6
    assert asyncio.run(embedder.embed([])).vectors == [] and asyncio.run(embedder.embed([""])).vectors[0] == [0.0] * 256


def test_the_extractive_summary_is_the_most_central_prose_bounded_and_deterministic():
    docs = [("README.md", "# alert-relay\n\nForwards monitoring alerts to Telegram. It groups repeated alerts "
                          "so the on-call engineer is not flooded. It reads Alertmanager webhooks.\n\n"
                          "```bash\nmake run\n```\n\n| a | b |\n|---|---|\n\nSee [the docs](docs/x.md) for more."),
            ("docs/setup.md", "# Setup\n\nCreate a Telegram bot and put its token in the environment.")]
    summarizer = ExtractiveSummarizer(LocalEmbedder(), max_sentences=2, max_chars=200)
    first = asyncio.run(summarizer.summarize("acme/alert-relay", docs))
    assert first == asyncio.run(summarizer.summarize("acme/alert-relay", docs))
    assert len(first) <= 200 and "make run" not in first and "|" not in first and first.count(". ") <= 1
    assert summarizer.model == "extractive/wordllama/l2_supercat-256"
    assert "See the docs for more." in sentences(docs[0][1]), "link targets dropped, their words kept"
    assert asyncio.run(summarizer.summarize("acme/x", [("a.md", "# Only\n\n```\ncode\n```")])).startswith("acme/x:")


def test_the_chat_summary_sends_the_documents_and_keeps_a_bounded_answer():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(429, headers={"retry-after-ms": "10"})
        return httpx.Response(200, json={"choices": [{"message": {"role": "assistant",
                                                                  "content": "Relays alerts. " * 100}}]})

    async def sleep(_):
        pass

    settings = SummarySettings(summary_url="http://127.0.0.1:9/v1", summary_api_key=SecretStr("sk-chat-key-1234"),
                               summary_max_chars=120)
    chat = ChatSummarizer(settings, transport=httpx.MockTransport(handler), sleep=sleep)
    text = asyncio.run(chat.summarize("acme/alert-relay", [("README.md", "Forwards alerts.")]))
    assert len(text) <= 120 and text.startswith("Relays alerts.") and text.endswith(".")
    body = json.loads(seen[-1].content)
    assert seen[-1].url.path == "/v1/chat/completions" and body["model"] == "gpt-4o-mini"
    assert "Forwards alerts." in body["messages"][1]["content"]
    assert seen[-1].headers["authorization"] == "Bearer sk-chat-key-1234"

    empty = ChatSummarizer(settings, transport=httpx.MockTransport(
        lambda r: httpx.Response(200, json={"choices": [{"message": {"content": " "}}]})), sleep=sleep)
    with pytest.raises(EndpointUnavailable):
        asyncio.run(empty.summarize("x", [("a", "b")]))
