"""Waiting for a test subprocess that stops itself (``CHAINPROOF_STOP_AT=<step>``)."""

from __future__ import annotations

import os
import subprocess
import time


def wait_stopped(proc: subprocess.Popen[str], step: str, *, timeout: float = 300) -> None:
    """Wait until ``proc`` stopped itself after ``step`` (not exited, not still going)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid, status = os.waitpid(proc.pid, os.WNOHANG | os.WUNTRACED)
        if pid == 0:
            time.sleep(0.005)
            continue
        if os.WIFSTOPPED(status):
            return
        proc.returncode = os.waitstatus_to_exitcode(status)
        raise AssertionError(f"exited {proc.returncode} before {step}: {proc.communicate()}")
    proc.kill()
    raise AssertionError(f"never reached {step}")
