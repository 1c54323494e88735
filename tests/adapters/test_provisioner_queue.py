"""``provisioner:queue``: the message refused on our side whenever the platform could misread it,
and trimming that never drops an entry a consumer group has not read and acknowledged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from actors.adapters.provisioner.publisher import ProvisionerPublisher
from contracts import PROVISIONER_STREAM, Keys, ProvisionerMessage
from tests.support import run_async

GROUP = "infrastructure-workers"


@pytest.mark.parametrize(
    "fields",
    [
        {"server_handle": ""},
        {"server_handle": "../vps-1"},
        {"server_handle": "vps 1"},
        {"server_handle": 12},
        {"server_handle": "vps-1", "timestamp": "2026-01-01T00:00:00"},  # naive
        {"server_handle": "vps-1", "version": "2"},
        {"server_handle": "vps-1", "request_id": ""},
        {"server_handle": "vps-1", "correlation_id": ""},
        {"server_handle": "vps-1", "callback_stream": ""},
        {"server_handle": "vps-1", "priority": "high"},  # a field the platform does not know
        {"server_handle": "vps-1", "is_recovery": "perhaps"},
    ],
)
def test_a_message_the_platform_could_misread_is_refused(fields):
    with pytest.raises(ValidationError):
        ProvisionerMessage.model_validate_json(json.dumps(fields))


def test_a_message_keeps_its_time_in_utc_and_round_trips():
    moscow = timezone(timedelta(hours=3))
    message = ProvisionerMessage(server_handle="vps-1", timestamp=datetime(2026, 1, 1, 3, tzinfo=moscow))
    assert message.timestamp == datetime(2026, 1, 1, tzinfo=UTC) and message.timestamp.tzinfo is UTC
    wire = json.loads(message.model_dump_json())
    assert wire["timestamp"] == "2026-01-01T00:00:00Z" and wire["version"] == "1"
    assert ProvisionerMessage.model_validate(wire) == message
    assert ProvisionerMessage(server_handle="vps-1").timestamp.tzinfo is UTC


def publish_many(client, handles, *, maxlen: int) -> list[str | None]:
    async def body(aclient):
        publisher = ProvisionerPublisher(aclient, maxlen=maxlen)
        return [await publisher.publish(ProvisionerMessage(server_handle=h), 60) for h in handles]

    return run_async(client, body)


def handles(start: int, count: int) -> list[str]:
    return [f"vps-{i}" for i in range(start, start + count)]


def stream_handles(client) -> list[str]:
    return [
        ProvisionerMessage.model_validate_json(f[b"data"]).server_handle for _, f in client.xrange(PROVISIONER_STREAM)
    ]


def read(client, group: str, count: int, *, ack: bool = True) -> list[str]:
    got = []
    for _, entries in client.xreadgroup(group, "infra-1", {PROVISIONER_STREAM: ">"}, count=count) or []:
        for entry_id, fields in entries:
            got.append(ProvisionerMessage.model_validate_json(fields[b"data"]).server_handle)
            if ack:
                client.xack(PROVISIONER_STREAM, group, entry_id)
    return got


def test_a_message_built_around_validation_is_not_published(client):
    bad = ProvisionerMessage.model_construct(server_handle="", version="1")

    async def body(aclient):
        return await ProvisionerPublisher(aclient).publish(bad, 60)

    with pytest.raises(ValidationError):
        run_async(client, body)
    assert client.exists(PROVISIONER_STREAM, Keys.provisioner_cooldown("")) == 0


def test_without_a_consumer_group_nothing_is_trimmed(client):
    publish_many(client, handles(0, 12), maxlen=5)
    assert stream_handles(client) == handles(0, 12)


def test_a_group_that_has_read_nothing_keeps_everything(client):
    client.xgroup_create(PROVISIONER_STREAM, GROUP, id="0", mkstream=True)
    publish_many(client, handles(0, 12), maxlen=5)
    assert stream_handles(client) == handles(0, 12)
    assert read(client, GROUP, 100) == handles(0, 12)  # the consumer, once back, gets every one


def test_entries_read_and_acknowledged_are_trimmed_unread_ones_never(client):
    client.xgroup_create(PROVISIONER_STREAM, GROUP, id="0", mkstream=True)
    publish_many(client, handles(0, 8), maxlen=5)
    assert read(client, GROUP, 6) == handles(0, 6)
    publish_many(client, handles(8, 1), maxlen=5)  # over the limit: trimmed below what is unread
    assert stream_handles(client) == handles(5, 4)  # the last delivered entry, then the unread ones
    assert read(client, GROUP, 100) == handles(6, 3)


def test_a_delivered_but_unacknowledged_entry_is_kept(client):
    client.xgroup_create(PROVISIONER_STREAM, GROUP, id="0", mkstream=True)
    publish_many(client, handles(0, 6), maxlen=5)
    assert read(client, GROUP, 2) == handles(0, 2)
    assert read(client, GROUP, 3, ack=False) == handles(2, 3)  # a consumer that died holding them
    publish_many(client, handles(6, 2), maxlen=5)
    assert stream_handles(client) == handles(2, 6)
    claimed = client.xautoclaim(PROVISIONER_STREAM, GROUP, "infra-2", 0, "0-0")[1]
    assert [ProvisionerMessage.model_validate_json(f[b"data"]).server_handle for _, f in claimed] == handles(2, 3)


def test_the_slowest_of_several_groups_decides(client):
    client.xgroup_create(PROVISIONER_STREAM, GROUP, id="0", mkstream=True)
    client.xgroup_create(PROVISIONER_STREAM, "audit", id="0")
    publish_many(client, handles(0, 8), maxlen=5)
    read(client, GROUP, 8)
    read(client, "audit", 3)
    publish_many(client, handles(8, 1), maxlen=5)
    assert stream_handles(client) == handles(2, 7)
    assert read(client, "audit", 100) == handles(3, 6)


def test_entries_older_than_a_group_are_not_kept_for_it(client):
    publish_many(client, handles(0, 6), maxlen=5)
    client.xgroup_create(PROVISIONER_STREAM, GROUP, id="$")  # joined later: it will never read those
    publish_many(client, handles(6, 1), maxlen=5)
    assert stream_handles(client) == handles(5, 2)
    assert read(client, GROUP, 100) == handles(6, 1)
