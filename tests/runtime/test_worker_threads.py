"""A worker has enough actor threads for the SSH concurrency it is configured with: each health
batch in flight holds one thread while its checks run on the event loop."""

from __future__ import annotations

from actors.__main__ import worker_threads
from actors.adapters.ssh.settings import SshSettings
from actors.tasks.deps import Dependencies
from actors.tasks.health_checker.settings import HealthCheckerSettings
from contracts import TaskName
from process.settings import Settings


def deps_with(concurrency: int, batch: int) -> Dependencies:
    return Dependencies(
        Settings(redis_url="redis://127.0.0.1:1/0"),
        None,
        settings=(SshSettings(health_ssh_concurrency=concurrency), HealthCheckerSettings(health_batch_size=batch)),
    )


def threads(settings, configured: int, deps: Dependencies, served=(TaskName.HEALTH_CHECKER,)) -> int:
    return worker_threads(settings.model_copy(update={"worker_threads": configured}), deps, list(served))


def test_threads_are_raised_to_one_per_batch_of_the_concurrency_and_two_spare(settings):
    assert threads(settings, 8, deps_with(1000, 100)) == 12
    assert threads(settings, 8, deps_with(1000, 30)) == 36


def test_a_larger_configured_thread_count_is_kept(settings):
    assert threads(settings, 8, deps_with(100, 100)) == 8
    assert threads(settings, 40, deps_with(1000, 100)) == 40


def test_a_worker_not_serving_the_health_checks_keeps_its_count(settings):
    assert threads(settings, 8, deps_with(1000, 30), served=(TaskName.GITHUB_SYNC, TaskName.SERVER_SYNC)) == 8
