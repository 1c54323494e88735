"""The platform API the scheduler consumes (paths under ``/api/``), one module per resource:
``projects``, ``servers``, ``incidents``, ``metrics``, ``rag``; ``common`` holds what they share.

Read models ignore fields they do not know, so the platform can grow without breaking us; write
models forbid unknown fields, so a typo is an error here and never a silent no-op. An update
carries only the fields that were set (see ``Patch.changes``).
"""

from .common import *  # noqa: F403
from .incidents import *  # noqa: F403
from .metrics import *  # noqa: F403
from .needs import *  # noqa: F403
from .projects import *  # noqa: F403
from .rag import *  # noqa: F403
from .servers import *  # noqa: F403
