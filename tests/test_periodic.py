"""The periodic daemon thread behind the heartbeat and the progress lines."""

from __future__ import annotations

import threading

from beam_jobs import periodic


def test_calls_its_action_while_open_and_stops_when_closed():
    called = threading.Event()
    calls = []

    def action():
        calls.append(threading.current_thread().name)
        called.set()

    with periodic.Periodic(0.001, action, 'test-periodic'):
        # A generous bound: it only fails a test that would otherwise hang.
        assert called.wait(60)
    # Closing waited for the thread to end: no call can come after it.
    assert 'test-periodic' not in [t.name for t in threading.enumerate()]
    assert set(calls) == {'test-periodic'}
