"""``POST {SUMMARY_URL}/chat/completions``: a project's summary written by a chat model.

The documents go in one user message, cut to ``SUMMARY_MAX_INPUT_CHARS``; the answer's first
choice is validated (a non-empty string) and cut at a sentence to ``SUMMARY_MAX_CHARS``.
Retries, 429 waits and the key's handling are ``kit.post_json``'s.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from actors.adapters.kit import EndpointUnavailable, PerLoop, post_json

INSTRUCTIONS = (
    "You summarise a software project for an engineer who has never seen it: in at most three "
    "sentences, say what it does, for whom, and how it is run. Plain text, no lists, no Markdown."
)


class SummarySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    summary_url: str | None = Field(
        default=None,
        description=(
            "an OpenAI-compatible API's base URL ending in /v1 (POST …/chat/completions) for project summaries; "
            "unset: no summaries (rag_summarizer sends the documents only)"
        ),
    )
    summary_api_key: SecretStr | None = Field(default=None, description="the summary API's key (Bearer)")
    summary_model: str = Field(default="gpt-4o-mini", min_length=1, description="the chat model asked of SUMMARY_URL")
    summary_max_input_chars: int = Field(
        default=24_000, ge=1000, description="characters of documentation sent per summary"
    )
    summary_max_chars: int = Field(default=800, ge=100, description="longest summary kept, in characters")
    summary_timeout_s: float = Field(default=60.0, gt=0, description="timeout of one summary request, in seconds")


class ChatSummarizer:
    def __init__(
        self,
        settings: SummarySettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ):
        self.url = (settings.summary_url or "").rstrip("/") + "/chat/completions"
        self.model, self.settings, self.sleep = settings.summary_model, settings, sleep
        timeout = httpx.Timeout(settings.summary_timeout_s, connect=5.0)
        self._pools = PerLoop(
            lambda: httpx.AsyncClient(timeout=timeout, transport=transport), is_closed=lambda pool: pool.is_closed
        )

    async def aclose(self) -> None:
        await self._pools.aclose(lambda pool: pool.aclose())

    async def summarize(self, title: str, documents: Sequence[tuple[str, str]]) -> str:
        text = "\n\n".join(f"--- {path}\n{body}" for path, body in documents)[: self.settings.summary_max_input_chars]
        body = {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": INSTRUCTIONS},
                {"role": "user", "content": f"Project: {title}\n\n{text}"},
            ],
        }
        key = self.settings.summary_api_key
        headers = {"Authorization": f"Bearer {key.get_secret_value()}"} if key else {}
        data = await post_json(
            self._pools.get(), self.url, body, headers=headers, attempts=4, max_wait_s=60, sleep=self.sleep
        )
        try:
            content = data["choices"][0]["message"]["content"]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            content = None
        if not isinstance(content, str) or not content.strip():
            raise EndpointUnavailable(f"{self.url} answered without a summary")
        return _bounded(" ".join(content.split()), self.settings.summary_max_chars)


def _bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > limit // 3 else cut.rsplit(" ", 1)[0] + "…"
