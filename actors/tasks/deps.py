"""``Dependencies``: everything a task reaches the outside world through, built once per worker
process (as arq passes ``ctx``) and handed to every task run (``run.deps``) and part.

One way for every adapter: ``ADAPTERS`` names its settings class and how it is built from them;
it is made on first use (``adapter(name)``), from the settings the environment gives unless the
builder was handed one ready-made (tests, benchmarks, the demo pass sandbox-backed parts). A task
whose adapter is not configured fails its own runs with a ``ConfigurationError`` that says what to
set, and the other tasks run on. A task's own settings come from ``settings(cls)``, one instance
per class and process; the process's shared ``Settings`` are given by its entry point.

A run sees the process's dependencies bound to its correlation id (``for_run``): the platform
client it gets sends that id with every request, so nothing reads it back from the log context.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import redis
import redis.asyncio as aioredis
from pydantic_settings import BaseSettings

from actors.adapters.github.client import GitHubClient
from actors.adapters.github.settings import GitHubSettings
from actors.adapters.kit import PerLoop, settings_from_env
from actors.adapters.platform.client import PlatformClient, PlatformSettings
from actors.adapters.provisioner.publisher import ProvisionerPublisher
from actors.adapters.ssh.probe import SshProbe
from actors.adapters.ssh.settings import SshSettings
from actors.adapters.summary.chat import ChatSummarizer, SummarySettings
from actors.adapters.time4vps.client import Time4VpsClient
from actors.adapters.time4vps.settings import Time4VpsSettings
from process.connection import async_redis_from_url
from process.logs import get_logger, register_secrets
from process.settings import Settings

log = get_logger(__name__)
T = TypeVar("T")
S = TypeVar("S", bound=BaseSettings)


def _summarizer(settings: SummarySettings) -> ChatSummarizer | None:
    return ChatSummarizer(settings) if settings.summary_url else None


#: name -> (its settings class, what builds it from them): the one way an adapter is made
ADAPTERS: Mapping[str, tuple[type[BaseSettings], Callable[[Any], object]]] = {
    "platform": (PlatformSettings, PlatformSettings.client),
    "github": (GitHubSettings, GitHubClient),
    "time4vps": (Time4VpsSettings, Time4VpsClient),
    "probe": (SshSettings, lambda settings: SshProbe(settings.probe_config())),
    "summarizer": (SummarySettings, _summarizer),
}


class Dependencies:
    def __init__(
        self,
        process_settings: Settings,
        client: redis.Redis | None,
        *,
        platform: PlatformClient | None = None,
        github: GitHubClient | None = None,
        probe: SshProbe | None = None,
        time4vps: Time4VpsClient | None = None,
        settings: tuple[BaseSettings, ...] = (),
    ):
        #: the process's shared settings, as its entry point read them
        self.process_settings = process_settings
        #: the blocking client, for code on a worker thread (middleware, sync task bodies)
        self.redis = client
        #: the run these dependencies are bound to (``for_run``); None for the process's own
        self.correlation_id: str | None = None
        self._aredis = PerLoop(lambda: async_redis_from_url(process_settings.redis_url, process_settings))
        self._publishers = PerLoop(lambda: ProvisionerPublisher(self.aredis))
        given = {"platform": platform, "github": github, "probe": probe, "time4vps": time4vps}
        self._made: dict[object, object] = {k: v for k, v in given.items() if v is not None}
        self._made.update({type(s): s for s in settings})
        self._lock = threading.RLock()  # one part may be made of another (the probe of its settings)

    def for_run(self, correlation_id: str) -> Dependencies:
        """The same dependencies (every adapter shared, none built again) for one run or part,
        whose platform requests carry ``correlation_id``."""
        bound = copy.copy(self)
        bound.correlation_id = correlation_id
        return bound

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
        """Settings read from the environment once per process (``ConfigurationError`` naming the
        variables to check); their secrets are scrubbed from the log from then on."""

        def read() -> S:
            found = settings_from_env(cls, cls.__name__.removesuffix("Settings") or cls.__name__)
            register_secrets(getattr(found, name) for name, f in cls.model_fields.items() if _is_secret(f))
            return found

        return self._once(cls, read)

    def adapter(self, name: str) -> Any:
        """The adapter ``name`` of ``ADAPTERS``, built from its settings once per process."""

        def make() -> object:
            settings_class, build = ADAPTERS[name]
            made = build(self.settings(settings_class))
            log.info("adapter built", adapter=name, client=repr(made))
            return made

        return self._once(name, make)

    @property
    def platform(self) -> PlatformClient:
        client: PlatformClient = self.adapter("platform")
        return client if self.correlation_id is None else client.for_run(self.correlation_id)

    @property
    def github(self) -> GitHubClient:
        return self.adapter("github")

    @property
    def time4vps(self) -> Time4VpsClient:
        """The Time4VPS client (``TIME4VPS_*``); a run makes its own ``session()`` of it."""
        return self.adapter("time4vps")

    @property
    def probe(self) -> SshProbe:
        """The SSH prober: its key and known_hosts are read once per process."""
        return self.adapter("probe")

    @property
    def summarizer(self) -> ChatSummarizer | None:
        """``SUMMARY_URL``'s chat model; None where summaries are not configured."""
        return self.adapter("summarizer")

    @property
    def provisioner(self) -> ProvisionerPublisher:
        """The one publisher onto ``provisioner:queue``, on the running event loop's Redis client."""
        return self._publishers.get()

    async def aclose(self) -> None:
        """Close the running loop's connection pools."""
        self._publishers.pop()
        await self._aredis.aclose(lambda client: client.aclose())
        for name in ADAPTERS:
            close = getattr(self._made.get(name), "aclose", None)
            if close is not None:
                await close()


def _is_secret(field) -> bool:
    return "SecretStr" in str(field.annotation)
