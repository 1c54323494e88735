"""The project summary through a chat completions endpoint (``SUMMARY_URL``)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from pydantic import SecretStr

from actors.adapters.kit import EndpointUnavailable
from actors.adapters.summary.chat import ChatSummarizer, SummarySettings


def test_the_chat_summary_sends_the_documents_and_keeps_a_bounded_answer():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(429, headers={"retry-after-ms": "10"})
        return httpx.Response(
            200, json={"choices": [{"message": {"role": "assistant", "content": "Relays alerts. " * 100}}]}
        )

    async def sleep(_):
        pass

    settings = SummarySettings(
        summary_url="http://127.0.0.1:9/v1", summary_api_key=SecretStr("sk-chat-key-1234"), summary_max_chars=120
    )
    chat = ChatSummarizer(settings, transport=httpx.MockTransport(handler), sleep=sleep)
    text = asyncio.run(chat.summarize("acme/alert-relay", [("README.md", "Forwards alerts.")]))
    assert len(text) <= 120 and text.startswith("Relays alerts.") and text.endswith(".")
    body = json.loads(seen[-1].content)
    assert seen[-1].url.path == "/v1/chat/completions" and body["model"] == "gpt-4o-mini"
    assert "Forwards alerts." in body["messages"][1]["content"]
    assert seen[-1].headers["authorization"] == "Bearer sk-chat-key-1234"

    empty = ChatSummarizer(
        settings,
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"choices": [{"message": {"content": " "}}]})),
        sleep=sleep,
    )
    with pytest.raises(EndpointUnavailable):
        asyncio.run(empty.summarize("x", [("a", "b")]))
