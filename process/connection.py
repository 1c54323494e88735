"""The one way a process gets its Redis clients: the broker, the ticker, the locks and the CLI
call ``redis_from_url`` (blocking, for threads); code on an event loop calls
``async_redis_from_url``. TLS (``rediss://``) is configured in one place for both.

Heroku Redis (and other hosted Redis) serve TLS with a self-signed certificate, which a client
verifying certificates refuses. ``REDIS_SSL_CERT_REQS=none`` accepts it (the traffic is still
encrypted); ``REDIS_SSL_CA_CERTS`` / ``REDIS_SSL_CA_DATA`` trust a given CA and keep verifying.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis

from process.settings import Settings


class RedisNotConfigured(RuntimeError):
    pass


class RedisCertificateRefused(RuntimeError):
    """The server's TLS certificate did not verify: a configuration problem, not an outage."""


#: what the operator can do about a refused certificate (the message never quotes the URL)
CERTIFICATE_HINT = (
    "the Redis server's TLS certificate was refused ({detail}). A self-signed certificate (as "
    "Heroku Redis uses) needs REDIS_SSL_CERT_REQS=none, or REDIS_SSL_CA_CERTS=<CA bundle path> / "
    "REDIS_SSL_CA_DATA=<PEM> naming the CA that signed it"
)


def tls_options(settings: Settings) -> dict[str, object]:
    """redis-py's keyword arguments for a ``rediss://`` connection, from the settings."""
    reqs = settings.redis_ssl_cert_reqs
    options: dict[str, object] = {
        "ssl_cert_reqs": reqs,
        # A hostname is only worth checking when the certificate itself is verified.
        "ssl_check_hostname": reqs == "required",
    }
    if settings.redis_ssl_ca_certs is not None:
        options["ssl_ca_certs"] = str(settings.redis_ssl_ca_certs)
    if settings.redis_ssl_ca_data is not None:
        # a PEM pasted into a one-line config var carries its newlines as `\n`
        options["ssl_ca_data"] = settings.redis_ssl_ca_data.replace("\\n", "\n")
    return options


def _options(url: str | None, settings: Settings) -> dict[str, object]:
    if not url:
        raise RedisNotConfigured(
            "REDIS_URL is not set. Point it at a Redis server (redis://host:6379/0 or rediss://… for TLS), "
            "or run `scheduler demo` for an embedded one."
        )
    extra: dict[str, object] = {}
    if urlsplit(url).scheme == "rediss":
        extra = tls_options(settings)
    # Timeouts keep a dead server from hanging a loop forever; the callers retry.
    return {
        "socket_timeout": 5,
        "socket_connect_timeout": 2,
        "health_check_interval": 10,
        "decode_responses": False,
        **extra,
    }


def redis_from_url(url: str | None, settings: Settings) -> redis.Redis:
    """A client for ``url``; for ``rediss://`` the TLS options come from ``settings``, the ones its
    process read at start. Options in the URL's query (``?ssl_cert_reqs=none``) win, as in redis-py."""
    return redis.Redis.from_url(url, **_options(url, settings))


#: connections of one event loop's asyncio client: hundreds of concurrent checks share them
ASYNC_POOL_SIZE = 32
#: how long a command waits for a free connection before it fails (a transient error)
ASYNC_POOL_WAIT_S = 10.0


def async_redis_from_url(url: str | None, settings: Settings) -> aioredis.Redis:
    """The same, for code on an event loop: a blocking call there would stall every coroutine of
    the process (every SSH check of a worker). The client belongs to the loop it is first used
    on (see ``actors.adapters.kit.PerLoop``). Its pool is bounded and waits for a free connection:
    redis-py's default pool raises "Too many connections" past 100, which a worker with hundreds
    of checks in flight would reach."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=ASYNC_POOL_SIZE, timeout=ASYNC_POOL_WAIT_S, **_options(url, settings)
    )
    return aioredis.Redis(connection_pool=pool)


def is_certificate_error(exc: BaseException) -> bool:
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text


def check_redis(client: redis.Redis) -> None:
    """Ping once at start-up. A refused certificate is raised as ``RedisCertificateRefused`` (it
    will not heal by retrying); an unreachable server is left to the callers' retry loops."""
    try:
        client.ping()
    except redis.ConnectionError as exc:
        if is_certificate_error(exc):
            raise RedisCertificateRefused(CERTIFICATE_HINT.format(detail=_reason(exc))) from None


def wait_for_redis(client: redis.Redis, stop: threading.Event, log, interval_s: float = 0.5) -> bool:
    """Ping until Redis answers (it may be down, restarting or still loading its data: redis-py's
    ``BusyLoadingError`` is a ``ConnectionError``), saying so once; True once it answers, False if
    ``stop`` is set first. A refused certificate is raised as ``RedisCertificateRefused`` at once."""
    said = False
    while not stop.is_set():
        try:
            client.ping()
            if said:
                log.info("redis reachable")
            return True
        except redis.ConnectionError as exc:
            if is_certificate_error(exc):
                raise RedisCertificateRefused(CERTIFICATE_HINT.format(detail=_reason(exc))) from None
            if not said:
                log.warning("redis unavailable at start; waiting for it", error=str(exc)[:200])
                said = True
        stop.wait(interval_s)
    return False


def _reason(exc: BaseException) -> str:
    """The SSL library's reason, e.g. ``self-signed certificate``, without host or URL."""
    text = str(exc)
    marker = "certificate verify failed:"
    if marker in text:
        return text.split(marker, 1)[1].split("(")[0].strip(" .)") or "certificate verify failed"
    return "certificate verify failed"
