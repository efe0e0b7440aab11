"""Pipeline options for a job run, and the runner they select.

Locally the runner is Beam's in-process FnApiRunner, chosen explicitly:
in Beam 2.77 the DirectRunner first tries to download a Prism binary, which
fails offline and would silently change runners between machines.
"""

from __future__ import annotations

import difflib
import os
from typing import Sequence

from apache_beam.options import pipeline_options as beam_options
from apache_beam.runners.portability.fn_api_runner import fn_runner

LOCAL_RUNNER = 'FnApiRunner'
# Names a user may give for the local runner; all mean FnApiRunner.
_LOCAL_RUNNER_NAMES = frozenset(
    {'', 'directrunner', 'direct', 'fnapirunner', 'bundlebasedirectrunner',
     'switchingdirectrunner'})


class JobOptions(beam_options.PipelineOptions):
    """The framework's own pipeline options (Beam reads them from the same
    argument list as its own)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            '--disable_combiner', action='store_true', default=False,
            help="Ignore the job's combine(key, values) and group every "
                 'value before reduce; the output must be the same.')


class PipelineOptionsError(ValueError):
    """The pipeline options given for a run cannot be used."""


def parse(args: Sequence[str]) -> beam_options.PipelineOptions:
    """Beam PipelineOptions from command-line style args, checked.

    Unknown options are refused (Beam itself only logs and drops them), as
    is ``--direct_running_mode=multi_threading``, which lost elements at
    GroupByKey in tests on these machines.
    """
    args = list(args)
    options = beam_options.PipelineOptions(args)
    known = beam_options.PipelineOptions([]).get_all_options()
    given = options.get_all_options(retain_unknown_options=True)
    unknown = sorted(set(given) - set(known))
    if unknown:
        suggestions = difflib.get_close_matches(unknown[0], list(known), n=1)
        raise PipelineOptionsError(
            'unknown pipeline option --%s%s' % (
                unknown[0],
                ('; did you mean --%s?' % suggestions[0]) if suggestions
                else ''))
    direct = options.view_as(beam_options.DirectOptions)
    if direct.direct_running_mode == 'multi_threading':
        raise PipelineOptionsError(
            '--direct_running_mode=multi_threading is not supported: it lost '
            'elements at GroupByKey in tests; use multi_processing (with '
            '--direct_num_workers=N) or the default in_memory')
    return options


def runner_name(options: beam_options.PipelineOptions) -> str:
    """FnApiRunner for every local runner name, else the name given."""
    name = options.view_as(beam_options.StandardOptions).runner or ''
    if not isinstance(name, str):
        name = type(name).__name__
    return LOCAL_RUNNER if name.lower() in _LOCAL_RUNNER_NAMES else name


def is_local(options: beam_options.PipelineOptions) -> bool:
    """Whether the run executes in this process (and its local workers)."""
    return runner_name(options) == LOCAL_RUNNER


# Local runs of at least this many models use worker processes, one per
# core (up to the run's shard count), unless the run's options say how to
# run. Starting the workers costs about 2 s on these machines (each imports
# Beam), which a second core wins back from about 200,000 models on; at
# this threshold the cost is about a second either way, and above it a run's
# memory (the runner plus its workers) no longer changes with its size.
# Figures: the README's *Running in parallel locally*.
PARALLEL_MIN_MODELS = 100_000

_PARALLELISM_FLAGS = ('--direct_running_mode', '--direct_num_workers')


def sets_local_parallelism(args: Sequence[str]) -> bool:
    """Whether args choose the local running mode or number of workers
    themselves."""
    return any(arg.split('=', 1)[0] in _PARALLELISM_FLAGS for arg in args)


def usable_cores() -> int:
    """The cores this process may run on (not the host's count, in a
    container limited to fewer)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # Not on Linux.
        return os.cpu_count() or 1


def default_local_workers(models_to_read: int, shard_count: int,
                          cores: int) -> int:
    """How many worker processes a local run that does not say should use:
    1 (the in-process runner) below PARALLEL_MIN_MODELS, else one per core
    but no more than the shards, which are what the workers share."""
    if models_to_read < PARALLEL_MIN_MODELS:
        return 1
    return max(1, min(cores, shard_count))


def with_local_workers(args: Sequence[str], workers: int) -> list[str]:
    """args, plus the options that run the pipeline in workers processes
    (multi_processing) when workers > 1."""
    if workers <= 1:
        return list(args)
    return [*args, '--direct_running_mode=multi_processing',
            '--direct_num_workers=%d' % workers]


def local_workers(options: beam_options.PipelineOptions) -> int:
    """The worker processes a local run with these options uses; 1 for the
    in-process runner."""
    direct = options.view_as(beam_options.DirectOptions)
    if direct.direct_running_mode != 'multi_processing':
        return 1
    return direct.direct_num_workers or usable_cores()


def local_runner() -> fn_runner.FnApiRunner:
    """The runner for local runs and tests. It reads
    --direct_running_mode and --direct_num_workers from the options."""
    return fn_runner.FnApiRunner()
