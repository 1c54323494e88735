"""What a task needs of the platform API: routes, and the fields it reads or writes there.

A task declares these on its ``TaskSpec`` (``platform_needs``), so that a worker can hold them
against the platform's own ``/openapi.json`` once at start and say in one message what is
missing, instead of failing request by request (``actors.adapters.platform.compat``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PlatformNeed:
    """``method path`` exactly as the platform declares it (``/api/servers/``,
    ``/api/servers/{handle}``), and the fields the task relies on in its request body or its
    answer (either will do: ``labels`` is written on one route and read on another)."""

    method: str
    path: str
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.method.upper()} {self.path}"


__all__ = ["PlatformNeed"]
