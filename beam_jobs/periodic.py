"""A daemon thread that calls a function every few seconds while a run
goes on: the launcher's heartbeat, the command line's progress lines."""

from __future__ import annotations

import threading
from typing import Any, Callable


class Periodic:
    """While open (a ``with`` block), calls action every `seconds` from a
    daemon thread named name; closing stops the calls, after waiting for
    one in progress. action must catch its own errors: one that raises ends
    the calls."""

    def __init__(self, seconds: float, action: Callable[[], None],
                 name: str) -> None:
        self._seconds = seconds
        self._action = action
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name,
                                        daemon=True)

    def __enter__(self) -> 'Periodic':
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._seconds):
            self._action()
