"""Pipeline options for a job run, and the runner they select.

Locally the runner is Beam's in-process FnApiRunner, chosen explicitly:
in Beam 2.77 the DirectRunner first tries to download a Prism binary, which
fails offline and would silently change runners between machines.
"""

from __future__ import annotations

import difflib
import math
import os
import sys
from typing import Sequence

from apache_beam.options import pipeline_options as beam_options
from apache_beam.portability import python_urns
from apache_beam.runners.portability.fn_api_runner import fn_runner

from pipelines import dofn_specs
from pipelines import forked_workers
from pipelines import local_worker
from pipelines import state_sampler

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


class RunOptions(beam_options.PipelineOptions):
    """PipelineOptions that make each view (view_as) once.

    Beam makes a new view, which builds an argparse parser and parses the
    arguments again, every time it calls view_as: about 130 times while it
    builds and runs one job's pipeline, 30-45 ms of a run that takes 0.45 s
    (over 10,000 explorations in one process). A view keeps no values of
    its own (all views share one dict of them), so one made earlier sees
    every change made since, as a new one would.
    """

    def view_as(self, cls: type[beam_options.PipelineOptionsT]
                ) -> beam_options.PipelineOptionsT:
        # In __dict__ directly: PipelineOptions.__setattr__ only takes
        # option names.
        views = self.__dict__.setdefault('_views', {})
        view = views.get(cls)
        if view is None:
            view = views[cls] = super().view_as(cls)
        return view

    def __getstate__(self) -> dict:
        # A copy (Beam's Pipeline deep-copies its options) makes its own
        # views, over its own copy of the values.
        state = dict(super().__getstate__())
        state.pop('_views', None)
        return state


class PipelineOptionsError(ValueError):
    """The pipeline options given for a run cannot be used."""


def parse(args: Sequence[str]) -> RunOptions:
    """Beam PipelineOptions from command-line style args, checked.

    Unknown options are refused (Beam itself only logs and drops them), as
    is ``--direct_running_mode=multi_threading``, which lost elements at
    GroupByKey in tests on these machines.
    """
    args = list(args)
    options = RunOptions(args)
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


# A local run whose options do not say how to run uses worker processes,
# one per core (up to its shard count), when its estimated work is at least
# this many seconds of one core: about where workers become faster than one
# process. Measured on these machines (2 cores; 2026-11-29, alternating
# runs; one process's time / 2 workers', the median of 5-13 pairs): with
# workers forked from the launching process (pipelines.forked_workers),
# over 10,000 explorations 0.85-1.04 (0.38 s estimated), 15,000 1.06-1.15,
# 20,000 1.05-1.30; over 100,000 users 1.13 (0.40 s), 150,000 1.02,
# 200,000 1.07. Spawned workers import Beam first (0.6 s more with the gcp
# extra installed): over 40,000 explorations 0.77-0.87 (1.5 s estimated),
# 60,000 0.91-0.93, 80,000 1.04-1.06 (3.0 s), 100,000 1.11-1.16. A run of
# any length past the threshold has the same processes, and so the same
# memory. Figures: the README's *Running in parallel locally*.
PARALLEL_MIN_WORK_SECONDS = 3.0
FORKED_PARALLEL_MIN_WORK_SECONDS = 0.5
# And from this many models whatever their estimate, with forked workers:
# the two modes were at par from here for the smallest rows measured (100,000
# users, 0.40 s estimated: one process's time / 2 workers' 1.13, 1.07, 0.94
# and 1.06 by the medians of four sets of alternating runs, 0.83-0.89 by
# their best), and a job's memory, which steps once from one process to the
# runner and its workers, then stays the same from 100,000 models to any
# larger run of it.
FORKED_PARALLEL_MIN_MODELS = 100_000
# The estimate: what reading and mapping a model costs in one process, a
# fixed part plus a part per byte of its stored JSON (decoding, and most
# jobs' work on what was decoded, grow with it). Fitted to the benchmark's
# count jobs in one process (2026-11-29): about 4.0 us per user of 214
# bytes, 38 us per exploration of 3.7 KB. A job whose map does much more
# per model is underestimated: it can ask for workers itself with
# --direct_num_workers.
WORK_SECONDS_PER_MODEL = 1.9e-6
WORK_SECONDS_PER_STORED_BYTE = 9.7e-9

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


def model_work_seconds(mean_stored_bytes: float) -> float:
    """The estimated seconds of one core to read and map one model of this
    mean stored size."""
    return (WORK_SECONDS_PER_MODEL +
            WORK_SECONDS_PER_STORED_BYTE * mean_stored_bytes)


def parallel_min_work_seconds(forked: bool) -> float:
    """The estimated work from which a local run uses workers: forked ones
    (see pipelines.forked_workers) if forked, else spawned ones."""
    return (FORKED_PARALLEL_MIN_WORK_SECONDS if forked
            else PARALLEL_MIN_WORK_SECONDS)


def parallel_min_models(mean_stored_bytes: float,
                        forked: bool = False) -> int:
    """The fewest models of this mean stored size from which a local run
    uses workers: those whose estimated work reaches
    parallel_min_work_seconds(forked), and with forked workers no more than
    FORKED_PARALLEL_MIN_MODELS."""
    models = math.ceil(parallel_min_work_seconds(forked) /
                       model_work_seconds(mean_stored_bytes))
    return min(models, FORKED_PARALLEL_MIN_MODELS) if forked else models


def default_local_workers(work_seconds: float, shard_count: int,
                          cores: int, forked: bool = False,
                          models: int = 0) -> int:
    """How many worker processes a local run that does not say should use,
    given its estimated work and its number of models: 1 (the in-process
    runner) below parallel_min_work_seconds(forked) (and, with forked
    workers, below FORKED_PARALLEL_MIN_MODELS models), else one per core
    but no more than the shards, which are what the workers share."""
    if (work_seconds < parallel_min_work_seconds(forked) and
            not (forked and models >= FORKED_PARALLEL_MIN_MODELS)):
        return 1
    return max(1, min(cores, shard_count))


def with_local_workers(args: Sequence[str], workers: int) -> list[str]:
    """args, plus the options that run the pipeline in workers processes
    (multi_processing) when workers > 1."""
    if workers <= 1:
        return list(args)
    return [*args, '--direct_running_mode=multi_processing',
            '--direct_num_workers=%d' % workers]


def uses_worker_processes(options: beam_options.PipelineOptions) -> bool:
    """Whether a local run with these options runs its bundles in worker
    processes (multi_processing), even if only one."""
    direct = options.view_as(beam_options.DirectOptions)
    return direct.direct_running_mode == 'multi_processing'


def local_workers(options: beam_options.PipelineOptions) -> int:
    """The worker processes a local run with these options uses; 1 for the
    in-process runner."""
    if not uses_worker_processes(options):
        return 1
    direct = options.view_as(beam_options.DirectOptions)
    return direct.direct_num_workers or usable_cores()


def runs_in_one_bundle(options: beam_options.PipelineOptions) -> bool:
    """Whether every stage of a run with these options is one bundle in
    this process: the local runner in_memory with one worker, where
    redistributing a read's key ranges (a Reshuffle, a stage of its own)
    cannot spread them over anything."""
    direct = options.view_as(beam_options.DirectOptions)
    return (is_local(options) and
            direct.direct_running_mode != 'multi_processing' and
            (direct.direct_num_workers or 1) == 1)


# What FnApiRunner runs as a multi_processing worker.
_BEAM_WORKER_COMMAND = (
    '%s -m apache_beam.runners.worker.sdk_worker_main' % sys.executable)


class LocalRunner(fn_runner.FnApiRunner):
    """Beam's FnApiRunner, whose multi_processing workers run
    pipelines.local_worker: the same SDK harness, exiting as soon as it is
    done (see that module), in the standby workers given (see
    pipelines.forked_workers) or else in new processes. Its bundles, in
    this process and in the workers, use pipelines.state_sampler's shorter
    sampling period, and make their DoFns with pipelines.dofn_specs' specs
    remembered per DoFn class. It reads --direct_running_mode and
    --direct_num_workers from the options as FnApiRunner does."""

    def __init__(self, standby_workers:
                 forked_workers.StandbyWorkers | None = None) -> None:
        super().__init__()
        self._standby_workers = standby_workers

    def run_via_runner_api(self, pipeline_proto, options):
        # For the bundles run in this process (see pipelines.state_sampler
        # and pipelines.dofn_specs).
        state_sampler.install()
        dofn_specs.install()
        # FnApiRunner.run_pipeline has just put its worker command in the
        # pipeline's environments, from which the workers are started.
        for environment in pipeline_proto.components.environments.values():
            if (environment.urn == python_urns.SUBPROCESS_SDK and
                    environment.payload == _BEAM_WORKER_COMMAND.encode()):
                if self._standby_workers is None:
                    environment.payload = local_worker.COMMAND.encode()
                else:
                    environment.urn = forked_workers.URN
                    environment.payload = forked_workers.environment_payload(
                        self._standby_workers)
        return super().run_via_runner_api(pipeline_proto, options)


def local_runner(standby_workers: forked_workers.StandbyWorkers | None = None
                 ) -> fn_runner.FnApiRunner:
    """The runner for local runs and tests, whose workers (if it has any)
    are standby_workers when given. It reads --direct_running_mode and
    --direct_num_workers from the options."""
    return LocalRunner(standby_workers)
