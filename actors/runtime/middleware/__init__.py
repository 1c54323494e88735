"""Dramatiq middleware: each cross-cutting concern of a tick's run, in its own module.

Order on the broker (before-hooks run top-down, after-hooks bottom-up):
RunRecording → TickAdmission → TaskLocking → TimeLimit → ShutdownNotifications → Retries.
So Retries has decided whether a failed message will be retried, and no interrupt can hit
the thread any more, before TaskLocking releases the lock and RunRecording writes the record.
"""

from actors.runtime.middleware.admission import AdmissionUnavailable, TickAdmission
from actors.runtime.middleware.locking import TaskLocking
from actors.runtime.middleware.recording import RunRecording

__all__ = ["AdmissionUnavailable", "RunRecording", "TaskLocking", "TickAdmission"]
