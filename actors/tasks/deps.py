"""``Dependencies``: everything a task reaches the outside world through, built once per worker
process (as arq passes ``ctx``) and handed to every task run (``run.deps``) and part.

Each adapter is made on first use, from the environment unless the builder was given one: a
task whose adapter is not configured fails its own runs with a ``ConfigurationError`` that
says what to set, and the other tasks run on. A task's own settings come from ``settings(cls)``,
one instance per class and process. Tests and the demo pass sandbox-backed parts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import redis
import redis.asyncio as aioredis
from pydantic_settings import BaseSettings

from actors.adapters.github.client import GitHubClient, GitHubSettings
from actors.adapters.kit import PerLoop
from actors.adapters.platform.client import PlatformClient, PlatformSettings
from actors.adapters.ssh.probe import SshProbe
from actors.adapters.ssh.settings import SshSettings
from actors.adapters.summary.chat import ChatSummarizer, SummarySettings
from actors.adapters.time4vps.client import Time4VpsClient, time4vps_client
from process.connection import async_redis_from_url
from process.logs import get_logger

log = get_logger(__name__)
T = TypeVar("T")
S = TypeVar("S", bound=BaseSettings)


class Dependencies:
    def __init__(
        self,
        redis_url: str,
        client: redis.Redis,
        *,
        platform: PlatformClient | None = None,
        github: GitHubClient | None = None,
        probe: SshProbe | None = None,
        time4vps: Time4VpsClient | None = None,
        settings: tuple[BaseSettings, ...] = (),
    ):
        #: the blocking client, for code on a worker thread (middleware, sync task bodies)
        self.redis = client
        self._aredis = PerLoop(lambda: async_redis_from_url(redis_url))
        given = {"platform": platform, "github": github, "probe": probe, "time4vps": time4vps}
        self._made: dict[object, object] = {k: v for k, v in given.items() if v is not None}
        self._made.update({type(s): s for s in settings})
        self._lock = threading.RLock()  # one part may be made of another (the probe of its settings)

    def _once(self, key: object, make: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._made:
                self._made[key] = make()
            return self._made[key]  # type: ignore[return-value]

    @property
    def aredis(self) -> aioredis.Redis:
        """The asyncio client of the running event loop: async code never blocks its loop on Redis."""
        return self._aredis.get()

    def settings(self, cls: type[S]) -> S:
        """A task's settings, read from the environment once per process."""
        return self._once(cls, cls)

    @property
    def platform(self) -> PlatformClient:
        return self._once("platform", lambda: PlatformSettings.from_env().client())

    @property
    def github(self) -> GitHubClient:
        def make() -> GitHubClient:
            client = GitHubClient(GitHubSettings.from_env())
            log.info("github.client", org=client.org, auth=client.auth.kind, api=client.base_url)
            return client

        return self._once("github", make)

    @property
    def time4vps(self) -> Time4VpsClient:
        """The Time4VPS client (``TIME4VPS_*``); a run makes its own ``session()`` of it."""
        return self._once("time4vps", time4vps_client)

    @property
    def probe(self) -> SshProbe:
        """The SSH prober: its key and known_hosts are read once per process."""
        return self._once("probe", lambda: SshProbe(self.settings(SshSettings).probe_config()))

    @property
    def summarizer(self) -> ChatSummarizer | None:
        """``SUMMARY_URL``'s chat model; None where summaries are not configured."""

        def make():
            settings = self.settings(SummarySettings)
            return ChatSummarizer(settings) if settings.summary_url else None

        return self._once("summarizer", make)

    async def aclose(self) -> None:
        """Close the running loop's connection pools."""
        await self._aredis.aclose(lambda client: client.aclose())
        for name in ("platform", "github", "summarizer", "time4vps"):
            close = getattr(self._made.get(name), "aclose", None)
            if close is not None:
                await close()
