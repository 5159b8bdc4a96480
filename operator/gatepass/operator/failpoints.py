"""Named crash points for crash-safety tests (like etcd's gofail).

``GATEPASS_FAILPOINTS=after-secret-write`` makes the process SIGKILL itself
when it reaches that point, so a test can prove that a restart from exactly
there leaves one valid credential. Unset in production: one dict lookup.
"""

from __future__ import annotations

import os
import signal

_ARMED = frozenset(p for p in os.environ.get("GATEPASS_FAILPOINTS", "").split(",") if p)


def hit(name: str) -> None:
    if name in _ARMED:
        os.kill(os.getpid(), signal.SIGKILL)
