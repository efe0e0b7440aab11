"""Waiting, in a test, for another process to reach a point."""

from __future__ import annotations

import time
from typing import Callable


def wait_until(condition: Callable[[], bool], what: str,
               seconds: float = 60.0) -> None:
    """Polls condition every 50 ms until it is true; fails the test, naming
    what it waited for, if that takes more than seconds."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, 'timed out waiting for ' + what
        time.sleep(0.05)
