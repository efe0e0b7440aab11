"""Interruptions of a local run: Ctrl-C, and SIGTERM, which a run takes as
Ctrl-C, found behind the errors Beam wraps them in."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator


class Terminated(KeyboardInterrupt):
    """The process running a run was sent SIGTERM: an interruption, as
    Ctrl-C is."""


def interruption_in(error: BaseException) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM behind error, or None. A step of a pipeline
    run in this process re-raises one as a RuntimeError whose message
    starts with its class's name ("KeyboardInterrupt [while running
    ...]")."""
    seen = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return seen
        if isinstance(seen, RuntimeError):
            # The class's name, qualified by its module or not.
            raised = str(seen).partition(' [while running ')[0]
            for kind in (Terminated, KeyboardInterrupt):
                if raised.split('.')[-1] == kind.__name__:
                    return kind()
        seen = seen.__cause__ or seen.__context__
    return None


@contextlib.contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While open, SIGTERM interrupts this process as Ctrl-C does (raising
    Terminated), so that a run stopped by a service manager or `kill` is
    recorded as interrupted, not left started. Only in the main thread,
    where Python delivers signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
