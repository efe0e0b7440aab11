"""Beam's state sampler with a shorter sampling period, for the bundles of
local runs.

Beam's SDK harness gives each bundle processor a StateSampler: a thread
that wakes to record which step the bundle is in, every 2 ms at first and
1.2x longer each time, up to 200 ms (apache/beam#5466). The end of every
bundle stops it and joins that thread, so the bundle waits out the rest of
the thread's current sleep. Over 10,000 and 100,000 explorations in one
process that wait was 13-105 ms per run, and 7-21 ms with a 20 ms period.
Beam has no option for the period: install() makes the harness of this
process (the launching process, or a local worker) create the sampler
below. The per-step times it records keep their meaning; they are sampled
more often.
"""

from __future__ import annotations

from typing import Any

from apache_beam.runners.worker import statesampler

# The longest sleep of the sampling thread, hence of the wait at the end of
# each bundle.
SAMPLING_PERIOD_MS = 20

_BEAMS_STATE_SAMPLER = statesampler.StateSampler


class PromptStateSampler(_BEAMS_STATE_SAMPLER):
    """Beam's StateSampler, sampling at most every SAMPLING_PERIOD_MS."""

    def __init__(self, prefix: str, counter_factory: Any,
                 sampling_period_ms: int = SAMPLING_PERIOD_MS) -> None:
        super().__init__(prefix, counter_factory,
                         min(sampling_period_ms, SAMPLING_PERIOD_MS))


def install() -> None:
    """Makes the SDK harness in this process create PromptStateSamplers for
    the bundle processors it makes from now on."""
    statesampler.StateSampler = PromptStateSampler
