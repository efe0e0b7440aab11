"""The counters every compiled job reports, the counters a job's own code
increments (increment_job_counter), and reading them back."""

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
# The namespace of the counters job code increments.
JOB_NAMESPACE = 'beam_jobs.job'
# Job counters by name, made once each: Beam makes an object per lookup.
_job_counters: dict[str, Metrics.DelegatingCounter] = {}


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


def increment_job_counter(name: str, delta: int = 1) -> None:
    """Adds delta to the job's counter name, from map, combine or reduce
    (a Beam counter, so it adds up over every worker, on Dataflow too).
    Outside a running pipeline it counts nothing."""
    if not isinstance(name, str) or not name:
        raise ValueError('a counter name is a non-empty string, got %r'
                         % (name,))
    if isinstance(delta, bool) or not isinstance(delta, int):
        raise ValueError('counter %r takes whole numbers, got %r'
                         % (name, delta))
    found = _job_counters.get(name)
    if found is None:
        found = _job_counters[name] = Metrics.counter(JOB_NAMESPACE, name)
    found.inc(delta)


def read_job_counters(result: PipelineResult) -> dict[str, int]:
    """The committed totals of the counters job code incremented, by
    name."""
    totals: dict[str, int] = {}
    query = result.metrics().query(
        MetricsFilter().with_namespace(JOB_NAMESPACE))
    for found in query['counters']:
        name = found.key.metric.name
        totals[name] = totals.get(name, 0) + (found.committed or 0)
    return dict(sorted(totals.items()))


# The namespace of a dry run's counts of the writes it kept from the store,
# each named KIND/ACTION.
DRY_RUN_NAMESPACE = 'beam_jobs.dry_run'


def count_dry_run_write(kind: str, action: str, number: int) -> None:
    """Counts writes a dry run kept from the store (see models.dry_run)."""
    Metrics.counter(DRY_RUN_NAMESPACE, '%s/%s' % (kind, action)).inc(number)


def read_dry_run_counts(result: PipelineResult
                        ) -> dict[str, dict[str, int]]:
    """A dry run's counts of the writes it kept from the store:
    {kind: {'created': n, 'written': n, 'deleted': n}}."""
    counts: dict[str, dict[str, int]] = {}
    query = result.metrics().query(
        MetricsFilter().with_namespace(DRY_RUN_NAMESPACE))
    for found in query['counters']:
        kind, _, action = found.key.metric.name.rpartition('/')
        by_action = counts.setdefault(
            kind, {'created': 0, 'written': 0, 'deleted': 0})
        by_action[action] = by_action.get(action, 0) + (found.committed or 0)
    return dict(sorted(counts.items()))
