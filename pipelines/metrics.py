"""The counters every compiled job reports, and reading them back."""

from __future__ import annotations

from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineResult

NAMESPACE = 'beam_jobs'
KEY_RANGES = 'key_ranges'
MODELS_READ = 'models_read'
VALUES_EMITTED = 'values_emitted'
KEYS_REDUCED = 'keys_reduced'
OUTPUT_LINES = 'output_lines'
ERRORS = 'errors'

ALL_COUNTERS = (KEY_RANGES, MODELS_READ, VALUES_EMITTED, KEYS_REDUCED,
                OUTPUT_LINES, ERRORS)


def counter(name: str) -> Metrics.DelegatingCounter:
    """A counter in the framework's namespace."""
    return Metrics.counter(NAMESPACE, name)


def read_counters(result: PipelineResult) -> dict[str, int]:
    """The committed totals of the framework's counters, 0 where unset."""
    totals = {name: 0 for name in ALL_COUNTERS}
    query = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))
    for found in query['counters']:
        name = found.key.metric.name
        if name in totals:
            totals[name] += found.committed or 0
    return totals
