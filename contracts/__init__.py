"""Pydantic models and names for everything that crosses a process boundary.

No I/O, and nothing of ours is imported here: other services may vendor this package.
"""

from __future__ import annotations

from pydantic import BaseModel

from .names import (
    DEFAULT_SCHEDULES,
    PROVISIONER_STREAM,
    RUNS_STREAM,
    TICKS_STREAM,
    Keys,
    TaskName,
    queue_name,
)
from .provisioner import ProvisionerMessage
from .ticks import RunOutcome, RunRecord, Tick, TickReason

#: Every message model, by the name its JSON Schema is exported under.
MESSAGES: dict[str, type[BaseModel]] = {
    "tick": Tick,
    "run_record": RunRecord,
    "provisioner_message": ProvisionerMessage,
}


def json_schemas() -> dict[str, dict]:
    """One JSON Schema per message, keyed by file stem."""
    return {name: model.model_json_schema() for name, model in MESSAGES.items()}


__all__ = [
    "DEFAULT_SCHEDULES",
    "MESSAGES",
    "PROVISIONER_STREAM",
    "RUNS_STREAM",
    "TICKS_STREAM",
    "Keys",
    "ProvisionerMessage",
    "RunOutcome",
    "RunRecord",
    "TaskName",
    "Tick",
    "TickReason",
    "json_schemas",
    "queue_name",
]
