"""The run counters every task shares: one name per meaning, whichever task counts it.

A task counts into its run (``run.count(name, n)``), and the counters are kept in its
``RunRecord``. Where a task counts one of these meanings it uses this name, and ``scheduler
status``, ``/metrics`` (``scheduler_last_run_items{task, counter}``) and the alerts read them by
it. Counters beyond these are the task's own (its README section lists them).

- ``skipped_items``: items read from an outside system or the platform that could not be read or
  validated: left out of this run, each logged;
- ``rejected``: items read well whose record the platform would refuse (a value no record may
  hold): nothing written for them, each logged;
- ``records_failed``: writes of one record that failed: the run is ``partial`` and the record is
  tried again next run (``actors.tasks.records``);
- ``creates``, ``updates``: records created, records updated;
- ``missing``: records that became missing this run (``actors.tasks.absence``); ``restored``:
  records back from missing;
- ``incomplete``: a listing or a read was cut short: absence is not counted this run;
- ``provider_unavailable``: the outside system was out or refused our credentials: nothing was
  written and the run failed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

SKIPPED_ITEMS = "skipped_items"
REJECTED = "rejected"
#: more than 0 makes a finished run ``partial``
RECORDS_FAILED = "records_failed"
CREATES = "creates"
UPDATES = "updates"
MISSING = "missing"
RESTORED = "restored"
INCOMPLETE = "incomplete"
PROVIDER_UNAVAILABLE = "provider_unavailable"

#: the shared counters, in the order status shows them
SHARED_COUNTERS = (
    SKIPPED_ITEMS,
    REJECTED,
    RECORDS_FAILED,
    CREATES,
    UPDATES,
    MISSING,
    RESTORED,
    INCOMPLETE,
    PROVIDER_UNAVAILABLE,
)


def in_order(counters: Mapping[str, int]) -> Iterable[tuple[str, int]]:
    """A run's counters as status shows them: the shared ones first (in ``SHARED_COUNTERS``'s
    order), then the task's own by name."""
    shared = [(name, counters[name]) for name in SHARED_COUNTERS if name in counters]
    return shared + sorted((n, v) for n, v in counters.items() if n not in SHARED_COUNTERS)
