"""What the GitHub adapter remembers in Redis between runs (shared by every worker).

- one value per listing page (``Keys.github_page``): the page's ``ETag``, its ``next`` link and its
  parsed items, written together as one JSON string, so the ETag we send back always belongs to
  the items we reuse on a 304. Writes need no fence: a stale run can only store an older page
  with its own older ETag, which GitHub then answers with a 200, never with wrong items.
- the rate-limit budget last seen and how long to wait after a rate limit (``Keys.github_rate``).
No secret is ever stored here (installation tokens stay in process memory).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from contracts import Keys
from process.logs import get_logger

log = get_logger(__name__)

#: page records are kept this long after they were last used
PAGE_TTL_S = 14 * 24 * 3600


@dataclass(frozen=True)
class PageRecord:
    etag: str
    next_url: str | None
    items: list[dict]  # the kept fields of each valid item
    skipped: int  # malformed items on the page
    count: int  # items on the page, valid or not
    #: ids of items read without all their fields: present, not synced
    unreadable: list[int] = field(default_factory=list)


class ListingState:
    """The Redis side of one organisation's listing."""

    def __init__(self, client: aioredis.Redis, org: str):
        self.client, self.org = client, org

    async def page(self, url: str) -> PageRecord | None:
        raw = await self.client.get(Keys.github_page(self.org, url))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return PageRecord(
                str(data["etag"]),
                data["next"],
                list(data["items"]),
                int(data["skipped"]),
                int(data["count"]),
                [int(i) for i in data.get("unreadable", [])],
            )
        except (ValueError, KeyError, TypeError):
            log.warning("github.page_record_unreadable", url=url)
            return None

    async def save_page(self, url: str, record: PageRecord) -> None:
        value = json.dumps(
            {
                "etag": record.etag,
                "next": record.next_url,
                "items": record.items,
                "skipped": record.skipped,
                "count": record.count,
                "unreadable": record.unreadable,
            },
            separators=(",", ":"),
        )
        await self.client.set(Keys.github_page(self.org, url), value, ex=PAGE_TTL_S)

    async def touch_page(self, url: str) -> None:
        await self.client.expire(Keys.github_page(self.org, url), PAGE_TTL_S)

    async def budget(self) -> dict[str, float]:
        """``remaining`` and ``reset`` as last seen, ``blocked_until``: whichever are known."""
        return {k.decode(): float(v) for k, v in (await self.client.hgetall(Keys.github_rate(self.org))).items()}

    async def save_budget(self, **values: float | None) -> None:
        known = {k: str(v) for k, v in values.items() if v is not None}
        if known:
            await self.client.hset(Keys.github_rate(self.org), mapping=known)
