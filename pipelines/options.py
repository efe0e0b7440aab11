"""Pipeline options for a job run, and the runner they select.

Locally the runner is Beam's in-process FnApiRunner, chosen explicitly:
Beam's DirectRunner first tries to download a Prism binary, which fails
offline and would silently change runners between machines. A local run
uses one process unless its options ask for Beam's worker processes
(--direct_running_mode=multi_processing --direct_num_workers=N).
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from typing import Sequence

from apache_beam.options import pipeline_options as beam_options
from apache_beam.runners.portability.fn_api_runner import fn_runner

from pipelines import subsets

LOCAL_RUNNER = 'FnApiRunner'
# Names a user may give for the local runner; all mean FnApiRunner.
_LOCAL_RUNNER_NAMES = frozenset(
    {'', 'directrunner', 'direct', 'fnapirunner', 'bundlebasedirectrunner',
     'switchingdirectrunner'})


# The package each --pickle_library choice imports when a pipeline is
# built.
_PICKLE_LIBRARY_PACKAGES = {'dill': 'dill', 'dill_unsafe': 'dill',
                            'cloudpickle': 'cloudpickle'}


class JobOptions(beam_options.PipelineOptions):
    """The framework's own pipeline options (Beam reads them from the same
    argument list as its own)."""

    @classmethod
    def _add_argparse_args(cls, parser) -> None:
        parser.add_argument(
            '--disable_combiner', action='store_true', default=False,
            help="Ignore the job's combine(key, values) and group every "
                 'value before reduce; the output must be the same.')
        parser.add_argument(
            '--limit', type=int, default=None,
            help='Map at most the first N models (by id) of each kind.')
        parser.add_argument(
            '--ids', default=None,
            help='Map only the models of these ids (comma-separated).')
        parser.add_argument(
            '--sample', type=float, default=None,
            help='Map a pseudo-random FRACTION of the models (0 to 1), the '
                 'same ones for the same --sample_seed.')
        parser.add_argument(
            '--sample_seed', type=int, default=0,
            help='The seed of --sample (default 0).')


class PipelineOptionsError(ValueError):
    """The pipeline options given for a run cannot be used."""


def parse(args: Sequence[str]) -> beam_options.PipelineOptions:
    """Beam PipelineOptions from command-line style args, checked.

    Unknown options are refused (Beam itself only logs and drops them), as
    is ``--direct_running_mode=multi_threading``, which lost elements at
    GroupByKey in tests on these machines.
    """
    options = beam_options.PipelineOptions(list(args))
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
    library = options.view_as(beam_options.SetupOptions).pickle_library
    package = _PICKLE_LIBRARY_PACKAGES.get(library)
    if package is not None and importlib.util.find_spec(package) is None:
        raise PipelineOptionsError(
            '--pickle_library=%s needs the %s package, which is not '
            'installed (the default, cloudpickle, needs nothing)'
            % (library, package))
    subset_of(options)  # Refuses a subset that makes no sense.
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


def subset_of(options: beam_options.PipelineOptions | None
              ) -> subsets.Subset | None:
    """The subset of models a run with these options maps, or None for
    all. Raises PipelineOptionsError for a limit under 1, a sample outside
    (0, 1] or no ids."""
    if options is None:
        return None
    job = options.view_as(JobOptions)
    if job.limit is None and job.ids is None and job.sample is None:
        return None
    if job.limit is not None and job.limit < 1:
        raise PipelineOptionsError('--limit must be 1 or more, got %d'
                                   % job.limit)
    if job.sample is not None and not 0 < job.sample <= 1:
        raise PipelineOptionsError('--sample must be a fraction above 0 '
                                   'and at most 1, got %s' % job.sample)
    ids = None
    if job.ids is not None:
        ids = tuple(sorted({i.strip() for i in job.ids.split(',')
                            if i.strip()}))
        if not ids:
            raise PipelineOptionsError('--ids names no id')
    return subsets.Subset(job.limit, ids, job.sample, job.sample_seed)


def disables_combiner(options: beam_options.PipelineOptions | None) -> bool:
    """Whether --disable_combiner was given."""
    return options is not None and options.view_as(
        JobOptions).disable_combiner


def uses_worker_processes(options: beam_options.PipelineOptions) -> bool:
    """Whether a local run with these options runs its bundles in Beam's
    worker processes (multi_processing), even if only one."""
    direct = options.view_as(beam_options.DirectOptions)
    return direct.direct_running_mode == 'multi_processing'


def local_workers(options: beam_options.PipelineOptions) -> int:
    """The worker processes a local run with these options uses; 1 for the
    in-process runner."""
    if not uses_worker_processes(options):
        return 1
    direct = options.view_as(beam_options.DirectOptions)
    # Beam's own default: 0 (unset) means a worker per core.
    return direct.direct_num_workers or os.cpu_count() or 1


def runs_in_one_bundle(options: beam_options.PipelineOptions) -> bool:
    """Whether every stage of a run with these options is one bundle in
    this process: the local runner in_memory with one worker, where
    redistributing a read's key ranges (a Reshuffle, a stage of its own)
    cannot spread them over anything."""
    direct = options.view_as(beam_options.DirectOptions)
    return (is_local(options) and not uses_worker_processes(options) and
            (direct.direct_num_workers or 1) == 1)


def local_runner() -> fn_runner.FnApiRunner:
    """The runner for local runs and tests. It reads
    --direct_running_mode and --direct_num_workers from the options."""
    return fn_runner.FnApiRunner()
