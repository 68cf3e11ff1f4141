"""Named points where a test can make syncd die, to prove crash safety on the real path.

``SYNCD_FAILPOINTS=after-sink-create`` makes the process kill itself with SIGKILL right
after a draft or hold was created at the provider and before the store records it, the
moment the idempotency key exists for; ``after-migration`` right after the second schema
revision of a migration is applied, before the migration's transaction commits. Unset
(always, in production) a failpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

ENV = "SYNCD_FAILPOINTS"


def hit(name: str) -> None:
    armed = os.environ.get(ENV)
    if armed and name in {n.strip() for n in armed.split(",")}:
        os.kill(os.getpid(), signal.SIGKILL)
