"""What each task needs from the environment, checked at worker start-up.

Beside the composition root (``actors/__main__.py``), it knows no task by name: each task's spec
(``actors.runtime.spec.TaskSpec``) says which settings it reads and which credentials it needs,
and each settings class carries its own checks. ``check_tasks`` returns one ``Problem`` per
missing or unusable variable, naming the task that needs it; the worker refuses to start on any (one message,
no traceback), and ``scheduler config check`` prints the same list.

``DESCRIPTIONS`` says what a variable means for the settings fields that carry no
``Field(description=...)`` of their own (those modules are being reworked elsewhere; the
descriptions can move onto the fields later). ``scheduler config`` merges both, and a test
keeps every variable described.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import replace

import redis
from pydantic_settings import BaseSettings

from actors.adapters.platform.client import PlatformSettings
from actors.adapters.platform.compat import PlatformUnreachable, fetch_openapi, missing
from actors.runtime.spec import TaskSpec
from actors.tasks import TASKS
from contracts import Keys, TaskName
from process.logs import get_logger
from process.misconfiguration import Problem, load_settings

log = get_logger(__name__)

DESCRIPTIONS: dict[str, str] = {
    # platform API (every task writes through it)
    "API_BASE_URL": "the platform API's base URL, e.g. https://platform.example.com",
    "INTERNAL_API_KEY": "the platform API's internal key, sent as X-Internal-Key",
    "PLATFORM_TIMEOUT_S": "timeout of one platform API request, in seconds",
    "PLATFORM_MAX_ATTEMPTS": "attempts of a platform API request on 5xx and network errors",
    "PLATFORM_CONNECTIONS": "connections to the platform API each worker process keeps open (requests past them wait)",
    # GitHub
    "GITHUB_API_URL": "GitHub's API: https://api.github.com, GitHub Enterprise's, or the sandbox",
    "GITHUB_ORG": "the GitHub organisation whose repositories become Project records",
    "GITHUB_TOKEN": "a GitHub token (sent as Bearer), unless the GitHub App is configured",
    "GITHUB_APP_ID": "GitHub App auth (takes precedence over a token): the app's id",
    "GITHUB_APP_INSTALLATION_ID": "the app's installation id; without it, looked up on GITHUB_ORG",
    "GITHUB_APP_PRIVATE_KEY": "the app's PEM private key itself (`\\n` escapes accepted)",
    "GITHUB_APP_PRIVATE_KEY_PATH": "path of the app's PEM private key, instead of GITHUB_APP_PRIVATE_KEY",
    "GITHUB_MISSING_AFTER": "complete listings without a repository before it is reported missing",
    "GITHUB_ARCHIVE_AFTER": "how long a repository stays missing before its project is archived: 24h, 90m, or seconds",
    "PLATFORM_OWNER_TELEGRAM_ID": "telegram id of the platform user who owns the projects github_sync creates",
    "GITHUB_PER_PAGE": "page size of the repository listing (1-100)",
    "GITHUB_RATE_LIMIT_RESERVE": "rate-limit points left for other users of the credential",
    "GITHUB_MAX_WAIT_S": "longest rate-limit wait sat out inside a run, in seconds",
    "GITHUB_TIMEOUT_S": "timeout of one GitHub request, in seconds",
    "GITHUB_MAX_ATTEMPTS": "attempts of a GitHub request on 5xx and network errors",
    # health checker
    "SSH_PRIVATE_KEY_PATH": "path of the SSH private key the health checker logs in with (or SSH_PRIVATE_KEY)",
    "SSH_PRIVATE_KEY_PASSPHRASE": "the SSH key's passphrase, if it has one",
    "SSH_KNOWN_HOSTS": "path of the OpenSSH known_hosts holding the servers' host keys (read again when it changes)",
    "HEALTH_CONNECT_TIMEOUT_S": "SSH TCP connect + handshake + login timeout, in seconds",
    "HEALTH_COMMAND_TIMEOUT_S": "timeout of the health commands on a server, in seconds",
    "HEALTH_SSH_CONCURRENCY": "SSH connections at once per worker process",
    "HEALTH_DISK_MOUNTS": "mount points checked besides /, comma-separated (e.g. /var/lib/docker,/data)",
    "HEALTH_DISK_DEGRADED_PCT": "disk use (%) from which a server is degraded",
    "HEALTH_DISK_UNHEALTHY_PCT": "disk use (%) from which a server is unhealthy (resource_exhausted)",
    "HEALTH_RAM_DEGRADED_PCT": "RAM use (%, MemTotal - MemAvailable) from which a server is degraded",
    "HEALTH_RAM_UNHEALTHY_PCT": "RAM use (%) from which a server is unhealthy (resource_exhausted)",
    "HEALTH_HISTORY_RETENTION_H": "hours of metrics history kept on the platform (older entries are pruned)",
    "HEALTH_FAILURES_BEFORE_UNHEALTHY": "consecutive unhealthy checks before a server is reported unhealthy",
    "HEALTH_BATCH_SIZE": "servers per fan-out message",
    "HEALTH_RECOVERY_COOLDOWN_S": "at most one recovery request per server within this many seconds",
}


def check_settings(settings_class: type[BaseSettings], needed_by: str) -> list[Problem]:
    """The problems of one settings class: parsing, then its own ``configuration_problems``
    (``actors.runtime.spec``), each problem with what a good value looks like."""
    settings, problems = load_settings(settings_class, needed_by, DESCRIPTIONS)
    own = getattr(settings_class, "configuration_problems", None)
    if own is not None:
        problems += own(settings, needed_by)
    return [p if p.hint else replace(p, hint=DESCRIPTIONS.get(p.variable, "")) for p in problems]


def absent_credentials(task: TaskName, env: Mapping[str, str] | None = None) -> list[str]:
    """What to set for ``task``, one entry per credential group of its spec none of whose variables
    is set (``"GITHUB_APP_ID or GITHUB_TOKEN"``): the task was never configured here, as opposed to
    configured wrongly, which refuses the start. [] when every group has a variable set."""
    env = os.environ if env is None else env
    given = {name.upper() for name, value in env.items() if value}
    return [" or ".join(sorted(group)) for group in TASKS[task].credentials if not group & given]


def check_task(task: TaskName) -> list[Problem]:
    """Every problem with what ``task`` needs (its spec's settings classes); [] when it is configured."""
    needed_by = f"task {task.value}"
    return [p for cls in TASKS[task].settings_classes for p in check_settings(cls, needed_by)]


def check_tasks(tasks: Iterable[TaskName]) -> list[Problem]:
    return [p for task in tasks for p in check_task(task)]


def publish_configuration(client: redis.Redis, missing: Mapping[TaskName, list[str]]) -> None:
    """Tell the tickers and ``scheduler status`` which tasks this worker can run: a task with
    missing credentials gets no ticks until a worker that has them says so."""
    owner, now = f"{socket.gethostname()}:{os.getpid()}", round(time.time(), 3)
    client.hset(
        Keys.CONFIGURATION,
        mapping={
            task.value: json.dumps({"configured": not variables, "missing": variables, "worker": owner, "at": now})
            for task, variables in missing.items()
        },
    )
    for task, variables in missing.items():
        if variables:
            log.warning("task not configured: its ticks are not emitted", task=task.value, set=variables)


def check_platform(specs: Iterable[TaskSpec]) -> list[Problem]:
    """What the platform at ``API_BASE_URL`` lacks of the routes and fields these tasks use
    (their ``platform_needs``), read from its ``/openapi.json`` once. A platform that does not
    answer is not a configuration problem (it may be down for a minute): that is logged, and the
    tasks' own retries deal with it."""
    specs = [spec for spec in specs if spec.platform_needs]
    settings, problems = load_settings(PlatformSettings, "the platform check", DESCRIPTIONS)
    if not specs or settings is None or problems:
        return []
    try:
        document = fetch_openapi(settings.api_base_url, settings.platform_timeout_s)
    except PlatformUnreachable as exc:
        log.warning("platform compatibility not checked: its /openapi.json could not be read", error=str(exc))
        return []
    hint = "the platform API of vladmesh/codegen_orchestrator (services/api, 4d764651 or a compatible one)"
    return [
        Problem("API_BASE_URL", f"the platform there lacks {gap}", f"task {spec.task.value}", hint)
        for spec in specs
        for gap in missing(document, spec.platform_needs)
    ]
