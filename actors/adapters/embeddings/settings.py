"""``EMBEDDINGS_*``: which embedder a process uses. With ``EMBEDDINGS_URL`` set, the
OpenAI-compatible endpoint there; without it, the local WordLlama model (no key, no network)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from actors.adapters.embeddings.interface import Embedder
from actors.adapters.embeddings.local import LocalEmbedder
from actors.adapters.embeddings.remote import RemoteEmbedder


class EmbeddingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    embeddings_url: str | None = Field(default=None, description=(
        "an OpenAI-compatible API's base URL ending in /v1 (POST …/embeddings); unset: the local "
        "WordLlama model bundled in its wheel (no download, no key)"))
    embeddings_api_key: SecretStr | None = Field(default=None, description="the embeddings API's key (Bearer)")
    embeddings_model: str = Field(default="text-embedding-3-small", min_length=1,
                                  description="the model asked of EMBEDDINGS_URL")
    embeddings_dimensions: int | None = Field(default=None, ge=1, le=16_384, description=(
        "vector length asked of EMBEDDINGS_URL (`dimensions`); unset: the model's own, learned once per process"))
    embeddings_batch_size: int = Field(default=256, ge=1, le=2048,
                                       description="inputs per embeddings request (OpenAI allows 2048)")
    embeddings_max_batch_tokens: int = Field(default=100_000, ge=1,
                                             description="estimated tokens per embeddings request")
    embeddings_max_input_tokens: int = Field(default=8191, ge=1,
                                             description="tokens of one input; longer inputs are cut")
    embeddings_timeout_s: float = Field(default=30.0, gt=0, description="timeout of one embeddings request, in seconds")
    embeddings_max_attempts: int = Field(default=4, ge=1,
                                         description="attempts of an embeddings request on 5xx and network errors")
    embeddings_max_wait_s: float = Field(default=60.0, ge=0, description=(
        "longest 429 wait (Retry-After) sat out inside a run, in seconds; longer ones fail the run, retried later"))

    def embedder(self) -> Embedder:
        if not self.embeddings_url:
            return LocalEmbedder()
        return RemoteEmbedder(self.embeddings_url, self.embeddings_model, self.embeddings_api_key,
                              dimensions=self.embeddings_dimensions, batch_size=self.embeddings_batch_size,
                              max_batch_tokens=self.embeddings_max_batch_tokens,
                              max_input_tokens=self.embeddings_max_input_tokens, timeout_s=self.embeddings_timeout_s,
                              max_attempts=self.embeddings_max_attempts, max_wait_s=self.embeddings_max_wait_s)
