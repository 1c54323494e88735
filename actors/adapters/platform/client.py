"""The platform API client: ``PlatformClient`` is the transport (``base.py``) with each
resource's methods (``projects.py`` with users, ``repositories.py``, ``servers.py``, ``incidents.py``,
``metrics.py``, ``rag.py``), and
``PlatformSettings`` builds it from the environment."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from actors.adapters.kit import settings_from_env
from actors.adapters.platform.base import Listing, encode_body
from actors.adapters.platform.errors import (
    PlatformAPIError,
    PlatformError,
    PlatformResponseError,
    PlatformUnavailable,
    UnwritableRecord,
    concerns_every_write,
)
from actors.adapters.platform.incidents import IncidentsAPI
from actors.adapters.platform.metrics import MetricsAPI
from actors.adapters.platform.projects import ProjectsAPI
from actors.adapters.platform.rag import IngestNotConfigured, RagAPI, rag_signature
from actors.adapters.platform.repositories import RepositoriesAPI, RepositoryListing
from actors.adapters.platform.servers import ServersAPI


class PlatformClient(ProjectsAPI, RepositoriesAPI, ServersAPI, IncidentsAPI, MetricsAPI, RagAPI):
    """Async client of the platform API. Use one per process (built in the dependencies object)."""

    async def __aenter__(self) -> PlatformClient:
        return self


# --------------------------------------------------------------------------- configuration


class PlatformSettings(BaseSettings):
    """``API_BASE_URL`` and ``INTERNAL_API_KEY`` (required); timeout and attempts optional."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")
    #: a task using the platform is "not configured" while none of these is set (``TaskSpec.credentials``)
    CREDENTIALS: ClassVar[frozenset[str]] = frozenset({"API_BASE_URL", "INTERNAL_API_KEY"})

    api_base_url: str
    internal_api_key: SecretStr
    platform_timeout_s: float = 10.0
    platform_max_attempts: int = 4
    platform_connections: int = Field(default=32, ge=1, le=1000)
    rag_ingest_secret: SecretStr | None = Field(
        default=None,
        description=(
            "the platform's RAG_INGEST_SECRET: signs POST /api/rag/ingest (HMAC-SHA256); rag_summarizer needs it"
        ),
    )

    @classmethod
    def from_env(cls) -> PlatformSettings:
        return settings_from_env(cls, "platform API")

    def client(self) -> PlatformClient:
        return PlatformClient(
            self.api_base_url,
            self.internal_api_key,
            timeout=self.platform_timeout_s,
            max_attempts=self.platform_max_attempts,
            max_connections=self.platform_connections,
            rag_ingest_secret=self.rag_ingest_secret,
        )


__all__ = [
    "IngestNotConfigured",
    "Listing",
    "PlatformAPIError",
    "PlatformClient",
    "PlatformError",
    "PlatformResponseError",
    "PlatformSettings",
    "PlatformUnavailable",
    "RepositoryListing",
    "UnwritableRecord",
    "concerns_every_write",
    "encode_body",
    "rag_signature",
]
