"""Dramatiq middleware: each cross-cutting concern of a tick's run, in its own module.

Order on the broker (before-hooks run top-down, after-hooks bottom-up):
RunRecording → TickAdmission → TaskLocking → TimeLimit → ShutdownNotifications → Retries.
So Retries has decided whether a failed message will be retried, and no interrupt can hit
the thread any more, before TaskLocking releases the lock and RunRecording writes the record.
"""

from .admission import AdmissionUnavailable, TickAdmission
from .locking import TaskLocking
from .recording import RunRecording

__all__ = ["AdmissionUnavailable", "RunRecording", "TaskLocking", "TickAdmission"]
