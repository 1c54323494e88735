"""The platform client's methods for servers (``/api/servers/``).

- ``list_servers``: the platform filters on one ``status`` value a request (a repeated parameter
  keeps only the last), so several statuses are one request each; ``is_managed`` goes with each.
  A record that moved between two of those requests is kept once.
- ``create_server`` never creates twice: after an answer that was lost (a timeout, a 5xx, a broken
  connection: the create may have committed), it looks the handle up and returns the record it
  finds; it posts again only when there is none. A 400 for a handle that exists is answered the
  same way when the record found is the one we asked for (same ``labels.provider_id``).
- ``update_server`` sends only the fields set (``ServerUpdate.changes``), timestamps as naive UTC.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from urllib.parse import quote

from actors.adapters.platform.base import BaseClient, Listing
from actors.adapters.platform.errors import PlatformAPIError, PlatformResponseError, PlatformUnavailable
from contracts.platform import LABEL_PROVIDER_ID, Server, ServerCreate, ServerStatus, ServerUpdate
from process.logs import get_logger

log = get_logger(__name__)

SERVERS = "/api/servers/"


def server_path(handle: str) -> str:
    return f"/api/servers/{quote(handle, safe='')}"


class ServersAPI(BaseClient):
    async def list_servers(
        self, statuses: ServerStatus | Iterable[ServerStatus] | None = None, is_managed: bool | None = None
    ) -> Listing[Server]:
        """The servers, optionally those in ``statuses`` (one request per value) and managed or not."""
        params = {"is_managed": None if is_managed is None else str(is_managed).lower()}
        if statuses is None:
            return await self._list(SERVERS, Server, params)
        values = [statuses] if isinstance(statuses, ServerStatus) else list(dict.fromkeys(statuses))
        listing = await self._list(SERVERS, Server, params, each=("status", [s.value for s in values]))
        seen: set[str] = set()
        items = [s for s in listing.items if not (s.handle in seen or seen.add(s.handle))]
        return Listing(items, listing.skipped)

    async def get_server(self, handle: str) -> Server:
        return self._one(await self._request("GET", server_path(handle)), Server)

    async def find_server(self, handle: str) -> Server | None:
        """The server with that handle, or None when the platform has none (404)."""
        try:
            return await self.get_server(handle)
        except PlatformAPIError as exc:
            if exc.status == 404:
                return None
            raise

    async def create_server(self, server: ServerCreate) -> Server:
        """Create it once (see the module's notes); the record as the platform holds it."""
        body = server.model_dump(mode="json")
        last: Exception | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                response = await self._request("POST", SERVERS, body=body, attempts=1)
                return self._one(response, Server)
            except (PlatformUnavailable, PlatformResponseError) as exc:
                last = exc  # the answer was lost: the create may have committed
            except PlatformAPIError as exc:
                if exc.status != 400:
                    raise
                existing = await self.find_server(server.handle)
                if existing is not None and _same(existing, server):
                    log.info("platform_api.create_found_existing", handle=server.handle, attempt=attempt)
                    return existing
                raise
            existing = await self.find_server(server.handle)
            if existing is not None:
                log.info(
                    "platform_api.create_answer_lost",
                    handle=server.handle,
                    attempt=attempt,
                    note="the record was found; not created again",
                )
                return existing
            if attempt < self.max_attempts:
                await asyncio.sleep(self.backoff(attempt))
        assert last is not None
        raise last

    async def update_server(self, handle: str, changes: ServerUpdate) -> Server:
        response = await self._request("PATCH", server_path(handle), body=changes.changes())
        return self._one(response, Server)


def _same(found: Server, wanted: ServerCreate) -> bool:
    """Whether the record found under the handle is the one asked for (the same provider id)."""
    want = wanted.labels.get(LABEL_PROVIDER_ID)
    return want is not None and found.provider_id == str(want)
