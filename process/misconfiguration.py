"""Configuration problems, explained: each process checks its settings at start and, when
something is wrong, prints ONE message listing every missing or invalid variable, what it
should look like and who needs it, then exits non-zero (no traceback).

Messages never quote a value: a mistyped variable may well hold a secret.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings

from process.errors import ConfigurationError
from process.settings import Settings

#: exit status of a process that refused its configuration (sysexits' EX_CONFIG)
EXIT_CONFIG = 78

S = TypeVar("S", bound=BaseSettings)


class SettingError(ConfigurationError):
    """A setting that parsed but cannot be used (a key file that does not exist, two
    variables that exclude each other). ``variable`` names what to change."""

    def __init__(self, variable: str, message: str):
        self.variable = variable
        self.message = message
        super().__init__(f"{variable}: {message}")


@dataclass(frozen=True)
class Problem:
    variable: str
    message: str
    #: who needs the variable: "every process", "the ticker", "task github_sync", ...
    needed_by: str
    #: what a good value looks like (the variable's description)
    hint: str = ""

    def line(self) -> str:
        text = f"  {self.variable}: {self.message} (needed by {self.needed_by})"
        return text + (f"\n      expected: {self.hint}" if self.hint else "")


def env_name(settings_class: type[BaseSettings], field_name: str) -> str:
    """The environment variable a settings field is read from."""
    field = settings_class.model_fields[field_name]
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias.upper()
    if alias is not None and hasattr(alias, "choices"):  # AliasChoices: the first is the documented one
        first = alias.choices[0]
        if isinstance(first, str):
            return first.upper()
    prefix = settings_class.model_config.get("env_prefix", "") or ""
    return f"{prefix}{field_name}".upper()


def load_settings(
    settings_class: type[S], needed_by: str, hints: Mapping[str, str] | None = None, **values
) -> tuple[S | None, list[Problem]]:
    """Instantiate ``settings_class`` from the environment: (settings, problems).

    With problems, the settings returned (if any) have each invalid field at its default, so
    that the checks that follow still run and one message lists everything; None when a
    required field is missing. Either way, problems mean the configuration is refused."""
    try:
        return settings_class(**values), []
    except ValidationError as exc:
        problems = problems_of(exc, settings_class, needed_by, hints)
        fields = settings_class.model_fields
        invalid = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        defaults = {}
        for name in invalid:
            name = name if name in fields else name.lower()
            if name not in fields or fields[name].is_required():
                return None, problems
            defaults[name] = fields[name].get_default(call_default_factory=True)
        try:
            return settings_class(**values, **defaults), problems
        except ValidationError:
            return None, problems


def problems_of(
    exc: ValidationError, settings_class: type[BaseSettings], needed_by: str, hints: Mapping[str, str] | None = None
) -> list[Problem]:
    problems = []
    by_env = {env_name(settings_class, name): name for name in settings_class.model_fields}
    # include_input=False: pydantic would otherwise quote the value, which may be a secret
    for error in exc.errors(include_input=False, include_url=False):
        loc = str(error["loc"][0]) if error["loc"] else "?"
        field_name = by_env.get(loc.upper(), loc)
        variable = env_name(settings_class, field_name) if field_name in settings_class.model_fields else loc.upper()
        message = "is not set" if error["type"] == "missing" else f"is invalid: {error['msg']}"
        field = settings_class.model_fields.get(field_name)
        hint = (field.description if field else None) or (hints or {}).get(variable, "")
        problems.append(Problem(variable, message, needed_by, hint))
    return problems


def render(problems: Iterable[Problem], process: str) -> str:
    problems = list(problems)
    # one entry per variable: the same one missing for two tasks is said once, naming both
    merged: dict[tuple[str, str], Problem] = {}
    for p in problems:
        key = (p.variable, p.message)
        if key in merged:
            old = merged[key]
            merged[key] = Problem(p.variable, p.message, f"{old.needed_by}, {p.needed_by}", old.hint or p.hint)
        else:
            merged[key] = p
    lines = [f"{process}: configuration refused ({len(merged)} problem{'s' if len(merged) != 1 else ''}):"]
    lines += [p.line() for p in merged.values()]
    lines.append("Every variable, its default and meaning: .env.example (or `scheduler config example`).")
    return "\n".join(lines)


def refuse(problems: list[Problem], process: str) -> int:
    """Print the one message and return the exit status for ``sys.exit``."""
    print(render(problems, process), file=sys.stderr, flush=True)
    return EXIT_CONFIG


#: what a schedule looks like (SCHEDULE_<TASK>)
SCHEDULE_HINT = "an interval (30s, 5m, 1h), a cron expression in UTC (*/5 * * * *), startup or off"


def schedule_variable(task: str) -> str:
    return f"SCHEDULE_{task.upper()}"


def process_settings(process: str):
    """The shared settings every process reads, with REDIS_URL required: (settings | None, problems)."""
    settings, problems = load_settings(Settings, f"the {process}")
    if settings is not None and not settings.redis_url:
        problems.append(
            Problem("REDIS_URL", "is not set", f"the {process}", Settings.model_fields["redis_url"].description or "")
        )
    return settings, problems
