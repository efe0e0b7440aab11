#!/usr/bin/env python3
"""beam-jobs command line: run registered one-off jobs and read their runs.

    python run_pipeline.py list
    python run_pipeline.py run InteractionAuditOneOffJob [--shard_count N]
        [--param key=value ...] [any Beam pipeline option]
    python run_pipeline.py jobs | status JOB_ID | output JOB_ID | errors JOB_ID
    python run_pipeline.py cancel JOB_ID [--user NAME]
    python run_pipeline.py seed-demo [--explorations N] [--users N]

The store is --store PATH or datastore://PROJECT[/NAMESPACE] (before the
command), else $BEAM_JOBS_STORE, else .data/beam_jobs.sqlite3. With
--runner DataflowRunner, `run` submits the job to Dataflow (or, with
--dry_run=True, only builds it and prints a summary).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import logging
import os
import signal
import sys
import time
from typing import Any, Callable, Iterator, Sequence, TextIO

from rich import console as rich_console
from rich import progress as progress_bar

from beam_jobs import demo_data
from beam_jobs import interruptions
from beam_jobs import job_contract
from beam_jobs import job_runs
from beam_jobs import jobs
from beam_jobs import jobs_registry
from beam_jobs import launcher
from beam_jobs import periodic
from beam_jobs import run_worker
from beam_jobs import runners
from beam_jobs import user_errors
from models import storage
from pipelines import dataflow
from pipelines import options as pipeline_options

# 0: completed, no model or key failed; 1: failed, or refused; 2: a usage
# mistake (argparse's); 3: completed, but some models or keys failed.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_COMPLETED_WITH_ERRORS = 0, 1, 2, 3
# How often `run` prints the progress of the run it waits for, when its
# output is not a terminal; and how often its bar on a terminal moves.
PROGRESS_SECONDS = 10.0
BAR_SECONDS = 0.5
# How often `status --watch` reads the run it follows.
WATCH_SECONDS = 1.0
# Errors shown by status, run and output; `errors JOB_ID` shows them all.
ERRORS_SHOWN = 10


class CommandError(Exception):
    """A command cannot do what was asked; the message says why."""


def parse_param(text: str) -> tuple[str, Any]:
    """'key=value' -> (key, value). The value is read as JSON when it is
    valid JSON (numbers, true, null, "quoted", [lists]), else kept as the
    string given; it is data, never evaluated as code."""
    key, sep, raw = text.partition('=')
    if not sep or not key:
        raise argparse.ArgumentTypeError(
            'expected key=value, got %r' % text)
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    except RecursionError:
        raise argparse.ArgumentTypeError(
            'the value of %s is nested too deeply' % key) from None
    return key, value


def _format_msec(msec: float | None) -> str:
    if msec is None:
        return '-'
    return datetime.datetime.fromtimestamp(
        msec / 1000, datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S UTC')


def _duration(run: job_runs.JobRun) -> str:
    if run.time_started_msec is None:
        return '-'
    end = run.time_finished_msec or job_runs.now_msec()
    return '%.1fs' % ((end - run.time_started_msec) / 1000)


def _print_status(run: job_runs.JobRun, out: TextIO) -> None:
    rows = [
        ('job id', run.job_id), ('job', run.job_type), ('state', run.state),
        ('runner', run.runner or '-'),
        ('shard count', run.shard_count if run.shard_count else '-'),
        ('params', json.dumps(run.params or {}, sort_keys=True)),
        ('pipeline options', ' '.join(run.pipeline_args or []) or '-'),
        ('created', _format_msec(run.time_created_msec)),
        ('queued', _format_msec(run.time_queued_msec)),
        ('started', _format_msec(run.time_started_msec)),
        ('finished', _format_msec(run.time_finished_msec)),
        ('duration', _duration(run)),
        ('models read', _models_read(run)),
        ('values emitted', _count(run.values_emitted)),
        ('output lines', _count(run.output_lines)),
        ('errors', _error_summary(run)),
    ]
    counters = (run.details or {}).get(launcher.JOB_COUNTERS)
    if counters:
        rows.append(('counters', _counters_text(counters)))
    if _is_local_dry_run(run):
        rows.append(('dry run', 'yes: no model was written; would have '
                     'written %s (run_pipeline.py writes %s)' % (
                         _dry_run_counts_text(run), run.job_id)))
    if run.external_job_id:
        rows.append(('dataflow job id', run.external_job_id))
    if run.details:
        rows.append(('details', json.dumps(run.details, sort_keys=True)))
    if run.canceled_by:
        rows.append(('canceled by', run.canceled_by))
    for label, value in rows:
        out.write('%-17s %s\n' % (label + ':', value))
    if run.error:
        out.write('error:\n')
        for line in run.error.splitlines():
            out.write('  %s\n' % line)
    _print_errors(run, out, ERRORS_SHOWN)


def _in_progress(run: job_runs.JobRun) -> bool:
    """Whether the run is started and its store keeps its progress."""
    return (run.state == job_runs.STATUS_CODE_STARTED and
            run.models_read is not None)


def _models_read(run: job_runs.JobRun, total: int | None = None) -> str:
    """The run's models read; for a run in progress, those read so far, out
    of total (by default, the models its job reads now)."""
    if not _in_progress(run):
        return _count(run.models_read)
    if total is None:
        total = _models_to_read(run.job_type)
    if total and run.models_read >= total:
        # The read is done; the run is in its reduce stage.
        return '%s of %s (100%%): all read; stage: reduce' % (
            _count(run.models_read), _count(total))
    text = '%s so far' % _count(run.models_read)
    if total:
        text += ' of %s (%d%%)' % (
            _count(total), 100 * run.models_read // total)
    return text


# Counting a kind stops here: on Cloud Datastore a count is a scan of keys.
COUNT_AT_MOST = 100_000


def _models_it_will_read(job_class: type, pipeline_args: Sequence[str]
                         ) -> str:
    """'ExplorationModel: 200 models, ...': how many models of each kind a
    run will read, with its subset (--limit, --ids, --sample)."""
    subset = pipeline_options.subset_of(pipeline_options.parse(
        pipeline_args))
    store = storage.get_store()
    parts = []
    for model_class in job_contract.model_classes_of(job_class):
        count = store.count(model_class.kind(), limit=COUNT_AT_MOST + 1)
        text = (_counted(count, 'model') if count <= COUNT_AT_MOST
                else 'more than %s models' % _count(COUNT_AT_MOST))
        if subset is not None:
            if subset.ids is not None:
                text = 'at most %s of %s' % (
                    _counted(len(subset.ids[:subset.limit]), 'id'), text)
            elif subset.limit is not None:
                text = '%s (--limit) of %s' % (
                    _count(min(count, subset.limit)), text)
            if subset.sample is not None:
                text += ', about %s%% sampled' % ('%g' % (
                    subset.sample * 100))
        parts.append('%s: %s' % (model_class.kind(), text))
    return '; '.join(parts)


def _registered_class(job_type: str) -> type | None:
    """The registered job class of that name, whose hooks the lifecycle
    calls, or None."""
    try:
        return jobs_registry.get_job_class_by_name(job_type)
    except jobs_registry.UnknownJobError:
        return None


def _models_to_read(job_type: str) -> int | None:
    """How many models a run of the job reads, or None for a job that is
    not registered here."""
    job_class = _registered_class(job_type)
    if job_class is None:
        return None
    store = storage.get_store()
    return sum(store.count(model_class.kind()) for model_class in
               job_contract.model_classes_of(job_class))


@contextlib.contextmanager
def _progress_shown(job_id: str, stream: TextIO) -> Iterator[None]:
    """While open, shows the run's progress on stream: on a terminal, a
    live bar (models read of the total, stage, rate, time left; rich's);
    else a line every PROGRESS_SECONDS, as mrjob prints its steps'
    progress. Progress must never fail a run: a moment whose record cannot
    be read is skipped."""
    if not stream.isatty():
        with _progress_printer(job_id, stream):
            yield
        return
    with progress_bar.Progress(
            progress_bar.TextColumn('{task.description}'),
            progress_bar.BarColumn(), progress_bar.MofNCompleteColumn(),
            progress_bar.TextColumn('{task.fields[stage]}'),
            progress_bar.TimeRemainingColumn(),
            console=rich_console.Console(file=stream), transient=True) as bar:
        task = bar.add_task(job_id, total=None, stage='queued')

        def update(run: job_runs.JobRun, total: int) -> None:
            read = run.models_read or 0
            bar.update(task, total=total or None, completed=read, stage=(
                'read and map' if not total or read < total
                else 'reduce and write output'))

        with periodic.Periodic(BAR_SECONDS, _while_in_progress(job_id, update),
                               'progress-%s' % job_id):
            yield


def _progress_printer(job_id: str, stream: TextIO) -> periodic.Periodic:
    """While open, prints the run's progress on stream every
    PROGRESS_SECONDS (as mrjob prints its steps' progress), so that a long
    `run` is never silent. A line that cannot be made is skipped: progress
    must never fail a run."""
    def print_progress(run: job_runs.JobRun, total: int) -> None:
        stream.write('%s: %s, models read: %s\n' % (
            job_id, _duration(run), _models_read(run, total)))
        stream.flush()

    return periodic.Periodic(PROGRESS_SECONDS,
                             _while_in_progress(job_id, print_progress),
                             'progress-%s' % job_id)


def _while_in_progress(job_id: str,
                       show: Callable[[job_runs.JobRun, int], None]
                       ) -> Callable[[], None]:
    """A callable that reads the run and, while it is in progress, calls
    show(run, total), total being the models its job reads (0 where that is
    unknown), counted once: a count is a scan. A moment whose record cannot
    be read or shown is skipped: progress must never fail a run."""
    total: int | None = None

    def poll() -> None:
        nonlocal total
        try:
            run = job_runs.get(job_id)
            if not _in_progress(run):
                return
            if total is None:
                total = _models_to_read(run.job_type) or 0
            show(run, total)
        except Exception:  # A busy store: the next moment will do.
            return

    return poll


def _error_summary(run: job_runs.JobRun) -> str:
    count = storage.get_store().count_errors(run.job_id)
    limit = ('no limit' if run.max_errors is None
             else 'max_errors=%d' % run.max_errors)
    return '%s (%s)' % (_count(count), limit)


def _print_errors(run: job_runs.JobRun, out: TextIO, limit: int | None,
                  with_traceback: bool = False) -> None:
    """Lists the models and keys the run could not process."""
    store = storage.get_store()
    total = store.count_errors(run.job_id)
    if not total:
        return
    out.write('%s models or keys were not processed:\n' % _count(total))
    for error in store.read_errors(run.job_id, limit):
        out.write('  %s %s %s: %s: %s\n' % (
            error.stage, error.kind, error.entity, error.error_type,
            error.message))
        if with_traceback:
            for line in error.traceback.splitlines():
                out.write('      %s\n' % line)
    if limit is not None and total > limit:
        out.write('  ... and %s more: run_pipeline.py errors %s\n' % (
            _count(total - limit), run.job_id))

def _count(value: int | None) -> str:
    return '-' if value is None else '{:,}'.format(value)


def _counted(value: int | None, noun: str) -> str:
    """'1 error', '2 errors', '- errors' when the count is unknown."""
    return '%s %s%s' % (_count(value), noun, '' if value == 1 else 's')


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    for job_class in jobs_registry.get_all_one_off_job_classes():
        kinds = ', '.join(c.kind() for c in
                          job_contract.model_classes_of(job_class))
        doc = (job_class.__doc__ or '').strip().splitlines()
        out.write('%-38s %-24s %s\n' % (
            job_class.__name__, kinds, doc[0] if doc else ''))
        if job_contract.declared_params(job_class):
            out.write('%-38s takes %s\n' % (
                '', job_contract.describe_params(job_class)))
    return EXIT_OK


def cmd_run(args: argparse.Namespace, out: TextIO) -> int:
    if args.help:
        out.write(args.run_parser.format_help())
        if args.job:
            job_class = jobs_registry.get_job_class_by_name(args.job)
            out.write('\n%s takes %s\n' % (
                job_class.__name__, job_contract.describe_params(job_class)))
        return EXIT_OK
    if not args.job:
        raise CommandError('run needs a job name (see `list`)')
    job_class = jobs_registry.get_job_class_by_name(args.job)
    params = dict(args.param or [])
    # Refused early, before a run is made: bad parameters or options.
    job_contract.checked_declared_params(job_class, params)
    pipeline_options.parse(args.pipeline_args)
    job_id = job_class.create_new(pipeline_args=args.pipeline_args,
                                  max_errors=args.max_errors)
    sys.stderr.write('%s: running %s on %s; it will read %s\n' % (
        job_id, job_class.__name__, storage.default_store_url(),
        _models_it_will_read(job_class, args.pipeline_args)))
    if args.detach:
        return _detach(job_class, job_id, params, args.shard_count, out)
    try:
        with _progress_shown(job_id, sys.stderr):
            if args.shard_count is None:
                job_class.enqueue(job_id,
                                  additional_job_params=params or None)
            else:
                # An explicit --shard_count overrides what the job's own
                # enqueue override would choose.
                jobs.BaseMapReduceOneOffJobManager.enqueue.__func__(
                    job_class, job_id, params or None, args.shard_count)
    except user_errors.USER_ERRORS:
        # Refused before it started: the run the command made goes too.
        job_runs.discard_new(job_id)
        raise
    run = job_runs.get(job_id)
    runner = runners.runner_of(run)
    if runner is not None and not runner.runs_here:
        return _report_remote_run(run, out)
    if run.state == job_runs.STATUS_CODE_COMPLETED:
        for line in storage.get_store().read_output(job_id):
            out.write(line + '\n')
    sys.stderr.write('%s: %s in %s; %s read, %s, %s\n' % (
        job_id, run.state, _duration(run),
        _counted(run.models_read, 'model'),
        _counted(run.output_lines, 'output line'),
        _counted(run.error_count or 0, 'error')))
    counters = (run.details or {}).get(launcher.JOB_COUNTERS)
    if counters:
        sys.stderr.write('%s: counters: %s\n' % (
            job_id, _counters_text(counters)))
    _print_errors(run, sys.stderr, ERRORS_SHOWN)
    if run.state != job_runs.STATUS_CODE_COMPLETED:
        sys.stderr.write('%s\n' % (run.error or ''))
        return EXIT_FAILED
    if run.error_count:
        return EXIT_COMPLETED_WITH_ERRORS
    return EXIT_OK


def _is_local_dry_run(run: job_runs.JobRun) -> bool:
    """Whether the run is a local dry run (a Dataflow dry run's details
    hold the summary of the job it built instead)."""
    return (run.details or {}).get(launcher.DRY_RUN) is True


def _dry_run_counts_text(run: job_runs.JobRun) -> str:
    """'ExplorationModel: 3 created, 12 written, 0 deleted' for each kind,
    or 'nothing'."""
    counts = (run.details or {}).get(launcher.DRY_RUN_WRITES) or {}
    return '; '.join(
        '%s: %s' % (kind, ', '.join(
            '%s %s' % (_count(by_action.get(action, 0)), action)
            for action in ('created', 'written', 'deleted')))
        for kind, by_action in sorted(counts.items())) or 'nothing'


def _counters_text(counters: dict[str, int]) -> str:
    """'migrated=1,024, skipped=3'."""
    return ', '.join('%s=%s' % (name, _count(value))
                     for name, value in sorted(counters.items()))


def _report_remote_run(run: job_runs.JobRun, out: TextIO) -> int:
    """What `run` says of a run on a remote runner (Dataflow): the dry-run
    summary, or where the submitted job can be followed."""
    if run.canceled_by == runners.DRY_RUN_USER:
        out.write(dataflow.format_summary(run.details['dry_run']) + '\n')
        sys.stderr.write('%s: dry run, nothing submitted\n' % run.job_id)
        return EXIT_OK
    if run.state == job_runs.STATUS_CODE_STARTED:
        out.write('%s: submitted as Dataflow job %s\n' % (
            run.job_id, run.external_job_id))
        sys.stderr.write(
            'follow it with: run_pipeline.py status %s (or gcloud dataflow '
            'jobs describe %s)\n' % (run.job_id, run.external_job_id))
        return EXIT_OK
    sys.stderr.write('%s: %s\n%s\n' % (run.job_id, run.state,
                                         run.error or ''))
    return EXIT_FAILED


def cmd_jobs(args: argparse.Namespace, out: TextIO) -> int:
    runs = job_runs.list_recent(limit=args.limit, job_type=args.job)
    row = '%-48s %-20s %-24s %9s %12s %10s %8s\n'
    out.write(row % ('JOB ID', 'STATE', 'QUEUED', 'DURATION', 'MODELS READ',
                     'OUTPUT', 'ERRORS'))
    for run in runs:
        out.write(row % (
            run.job_id, run.state + (' (dry run)' if _is_local_dry_run(run)
                                     else ''),
            _format_msec(run.time_queued_msec),
            _duration(run), _count(run.models_read),
            _count(run.output_lines), _count(run.error_count)))
    return EXIT_OK


def _detach(job_class: type, job_id: str, params: dict[str, Any],
            shard_count: int | None, out: TextIO) -> int:
    """Queues the run and starts the process that runs it
    (beam_jobs.run_worker); prints its id and returns at once."""
    run_worker.queue(job_class, job_id, params, shard_count)
    if job_runs.get(job_id).state == job_runs.STATUS_CODE_QUEUED:
        run_worker.start(job_class, job_id)
    out.write(job_id + '\n')
    sys.stderr.write('%s: queued; follow it with: run_pipeline.py status '
                     '--watch %s\n' % (job_id, job_id))
    return EXIT_OK


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    if args.watch:
        with _progress_shown(args.job_id, sys.stderr):
            while not job_runs.get(args.job_id).is_finished:
                time.sleep(WATCH_SECONDS)
    run = job_runs.get(args.job_id)
    if not run.is_finished:
        try:
            run = launcher.refresh(run, _registered_class(run.job_type))
        except Exception as e:  # No network or credentials: say so.
            sys.stderr.write('warning: cannot refresh from %s: %s: %s\n'
                             % (run.runner, type(e).__name__, e))
    _print_status(run, out)
    return EXIT_FAILED if run.state == job_runs.STATUS_CODE_FAILED else EXIT_OK


def cmd_output(args: argparse.Namespace, out: TextIO) -> int:
    run = job_runs.get(args.job_id)
    if run.state != job_runs.STATUS_CODE_COMPLETED:
        raise CommandError(
            'job %s is %s; output is available once it has completed%s' % (
                run.job_id, run.state,
                ' (error: %s)' % run.error.splitlines()[0]
                if run.error else ''))
    for line in storage.get_store().read_output(run.job_id):
        out.write(line + '\n')
    # On standard error, so that standard output stays the output alone.
    _print_errors(run, sys.stderr, ERRORS_SHOWN)
    return EXIT_OK


def cmd_errors(args: argparse.Namespace, out: TextIO) -> int:
    run = job_runs.get(args.job_id)
    _print_errors(run, out, args.limit, with_traceback=args.traceback)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    import uvicorn  # The command line's other commands need no server.
    from web import server
    token = server.new_token()
    if args.host not in ('127.0.0.1', 'localhost', '::1'):
        sys.stderr.write(
            'warning: serving on %s, not only this machine: anyone who can '
            'reach it and has the token can start and cancel jobs\n'
            % args.host)
    host = '[%s]' % args.host if ':' in args.host else args.host
    out.write('beam-jobs admin page for %s: http://%s:%d/?token=%s\n' % (
        storage.default_store_url(), host, args.port, token))
    out.flush()
    uvicorn.run(server.create_app(token), host=args.host, port=args.port,
                log_level='warning')
    return EXIT_OK


def cmd_writes(args: argparse.Namespace, out: TextIO) -> int:
    run = job_runs.get(args.job_id)
    if not _is_local_dry_run(run):
        raise CommandError('job %s is not a local dry run (run a job with '
                           '--dry_run=True to see what it would write)'
                           % run.job_id)
    out.write('would have written %s\n' % _dry_run_counts_text(run))
    for write in storage.get_store().read_dry_run_writes(run.job_id):
        out.write('%s %s %s\n' % (write.action, write.kind, write.entity))
        for name, (old, new) in sorted(json.loads(write.changes).items()):
            out.write('    %s: %s -> %s\n' % (
                name, json.dumps(old), json.dumps(new)))
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace, out: TextIO) -> int:
    run = job_runs.get(args.job_id)
    if run.state not in (job_runs.STATUS_CODE_QUEUED,
                         job_runs.STATUS_CODE_STARTED):
        raise CommandError(
            'job %s is %s; only queued or started jobs can be canceled'
            % (run.job_id, run.state))
    launcher.cancel(run.job_id, args.user, _registered_class(run.job_type))
    out.write('%s: canceled by %s\n' % (run.job_id, args.user))
    return EXIT_OK


def cmd_seed_demo(args: argparse.Namespace, out: TextIO) -> int:
    demo_data.seed(args.explorations, args.users, seed=args.seed)
    out.write('seeded %d explorations and %d users into %s\n' % (
        args.explorations, args.users, storage.default_store_url()))
    return EXIT_OK


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError('must be 0 or more')
    return value


# Commands that need no store, or make the one they are given.
_COMMANDS_WITHOUT_A_STORE = frozenset({'list', 'seed-demo'})


def _check_store_exists(args: argparse.Namespace) -> None:
    """Refuses a command on a store that does not exist, unless it makes
    one (seed-demo, --create): a mistyped path must not become an empty
    store."""
    if (args.command in _COMMANDS_WITHOUT_A_STORE or args.create or
            getattr(args, 'help', False)):
        return
    url = storage.default_store_url()
    if not storage.store_exists(url):
        raise CommandError(
            'no store at %s (seed-demo fills a new one; --create makes an '
            'empty one)' % url)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='run_pipeline.py',
        description='Run one-off MapReduce jobs as Apache Beam pipelines.')
    parser.add_argument(
        '--store', help='the store: a SQLite file path or '
        'datastore://PROJECT[/NAMESPACE] (default: '
        '$%s, else %s)' % (storage.STORE_ENV_VAR, storage.DEFAULT_STORE_PATH))
    parser.add_argument(
        '--create', action='store_true',
        help='make the store if it does not exist (seed-demo always does)')
    commands = parser.add_subparsers(dest='command', metavar='COMMAND')
    commands.required = True

    def add(name: str, handler: Callable, help_text: str,
            **kwargs: Any) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text,
                                  **kwargs)
        sub.set_defaults(handler=handler)
        return sub

    add('list', cmd_list, 'list the registered one-off jobs')
    run = add('run', cmd_run,
              'run a registered job to completion and print its output; '
              'other --options are passed to Beam as pipeline options. '
              '--dry_run=True runs it locally writing no model (see '
              '`writes JOB_ID`); with --runner DataflowRunner it keeps '
              "Beam's meaning: build the Dataflow job, submit nothing",
              add_help=False)
    run.add_argument('job', nargs='?',
                     help='the job class name, as `list` shows it')
    run.add_argument('-h', '--help', action='store_true',
                     help='show this help, and the parameters JOB takes')
    run.set_defaults(run_parser=run)
    run.add_argument('--shard_count', type=int,
                     help='key ranges per model kind (overrides the job)')
    run.add_argument('--param', type=parse_param, action='append',
                     metavar='KEY=VALUE',
                     help='a job parameter for get_mapper_param (repeatable)')
    run.add_argument('--detach', action='store_true',
                     help='queue the run, start the process that runs it, '
                     'and return its id at once (status --watch JOB_ID '
                     'follows it)')
    run.add_argument('--max_errors', type=_non_negative,
                     help='fail the run if more than this many models or '
                     'keys fail (default: the job\'s max_errors, else no '
                     'limit: the run completes and reports its errors)')
    jobs_cmd = add('jobs', cmd_jobs, 'list recent job runs, newest first')
    jobs_cmd.add_argument('--limit', type=_non_negative, default=20)
    jobs_cmd.add_argument('--job', help='only runs of this job class')
    status = add('status', cmd_status, 'show everything about one run')
    status.add_argument('job_id')
    status.add_argument('--watch', action='store_true',
                        help='follow the run (whoever started it) until it '
                        'ends, then show it')
    output = add('output', cmd_output, 'print the output of a completed run')
    output.add_argument('job_id')
    errors_cmd = add('errors', cmd_errors,
                     'list the models and keys a run could not process')
    errors_cmd.add_argument('job_id')
    errors_cmd.add_argument('--limit', type=_non_negative)
    errors_cmd.add_argument('--traceback', action='store_true',
                            help='with the end of each traceback')
    writes = add('writes', cmd_writes,
                 'list the writes a local dry run kept from the store, with '
                 'what each would have changed (a sample per kind)')
    writes.add_argument('job_id')
    cancel = add('cancel', cmd_cancel, 'cancel a queued or started run')
    cancel.add_argument('job_id')
    cancel.add_argument('--user', default='cli', help='who is canceling')
    serve = add('serve', cmd_serve,
                'serve the admin page on this store (127.0.0.1 unless '
                '--host says otherwise); prints the URL to open')
    serve.add_argument('--host', default='127.0.0.1')
    serve.add_argument('--port', type=int, default=8080)
    seed = add('seed-demo', cmd_seed_demo,
               'fill the store with generated example explorations and users')
    seed.add_argument('--explorations', type=_non_negative, default=200)
    seed.add_argument('--users', type=_non_negative, default=500)
    seed.add_argument('--seed', type=int, default=0,
                      help='random seed: the same seed gives the same data')
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO = sys.stdout) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if args.command == 'run':
        args.pipeline_args = extra
    elif extra:
        parser.error('unrecognized arguments: %s' % ' '.join(extra))
    logging.basicConfig(level=logging.WARNING)
    try:
        if args.store is not None:
            storage.set_default_store(args.store)
        _check_store_exists(args)
        status = args.handler(args, out)
        out.flush()  # A closed pipe is found here, not at exit.
        return status
    except (CommandError, *user_errors.USER_ERRORS) as e:
        sys.stderr.write('error: %s\n' % e)
        return EXIT_FAILED
    except BrokenPipeError:
        # The reader of the output went away (`run ... | head`): nothing
        # more to say, and nothing Python should try to flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except interruptions.Terminated:
        sys.stderr.write('terminated\n')
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        sys.stderr.write('interrupted\n')
        return 130


if __name__ == '__main__':
    sys.exit(main())
