"""Named steps where a test can stop a process, to kill it exactly there.

Shared by a run's start and end (:mod:`app.collection`) and a dead run's recovery
(:mod:`app.recovery`); a module of its own so that neither imports the other for it.
"""

from __future__ import annotations

import os
import signal

#: Test hook: ``CHAINPROOF_STOP_AT=<step>`` makes the process stop itself (SIGSTOP) right
#: after that step of a run's start, end or recovery, so a test can kill it exactly there.
STOP_AT = "CHAINPROOF_STOP_AT"


def stop_point(step: str) -> None:
    """A named step of start-up, run end or recovery (see :data:`STOP_AT`)."""
    if os.environ.get(STOP_AT) == step and hasattr(signal, "SIGSTOP"):
        os.kill(os.getpid(), signal.SIGSTOP)
