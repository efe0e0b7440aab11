"""Running a compiled job on Google Cloud Dataflow: the options the launcher
adds and checks, the Dataflow job name, the mapping of Dataflow job states
onto run states, the summary of a dry run, and the two thin calls to the
Dataflow service (get a job's state, cancel a job).

Everything here but :func:`fetch_pipeline_state` and
:func:`request_cancel` is pure and works offline; those two need the
network and credentials, and go through the public Dataflow client.
"""

from __future__ import annotations

import os
import re
import tarfile
from typing import Any, Sequence

from apache_beam.options import pipeline_options as beam_options
from apache_beam.portability.api import beam_runner_api_pb2
from apache_beam.runners.runner import PipelineState

from models import datastore_store
from models import storage

RUNNER = 'DataflowRunner'
_RUNNER_NAMES = frozenset({'dataflowrunner', 'dataflow'})
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETUP_FILE = os.path.join(PROJECT_ROOT, 'setup.py')
# Dataflow job names: a lowercase letter, then lowercase letters, digits and
# hyphens, not ending with a hyphen.
JOB_NAME_PATTERN = re.compile(r'^[a-z]([-a-z0-9]*[a-z0-9])?$')
MAX_JOB_NAME_LENGTH = 128
# Options the launcher sets itself; a user giving them would fight it.
LAUNCHER_OPTIONS = ('setup_file',)

# Dataflow job states (Beam's PipelineState names) -> run states. A state
# missing here (UNRECOGNIZED: one newer than this SDK) leaves the run as it
# is.
_RUN_STATE_FOR = {
    PipelineState.UNKNOWN: 'queued',
    PipelineState.STOPPED: 'queued',  # Created, not yet started.
    PipelineState.PENDING: 'queued',
    'QUEUED': 'queued',  # Dataflow's JOB_STATE_QUEUED (FlexRS).
    PipelineState.STARTING: 'queued',
    PipelineState.RUNNING: 'started',
    PipelineState.RESOURCE_CLEANING_UP: 'started',
    PipelineState.PAUSING: 'started',
    PipelineState.PAUSED: 'started',
    PipelineState.DRAINING: 'started',
    PipelineState.CANCELLING: 'started',
    PipelineState.DONE: 'completed',
    PipelineState.FAILED: 'failed',
    PipelineState.CANCELLED: 'canceled',
    PipelineState.DRAINED: 'canceled',
    # Replaced by another job: this one will never finish its work.
    PipelineState.UPDATED: 'failed',
}


class DataflowSetupError(ValueError):
    """A run cannot go to Dataflow as asked; the message says what to
    change."""


def is_dataflow(runner_name: str) -> bool:
    """Whether runner_name names Beam's DataflowRunner."""
    return (runner_name or '').lower() in _RUNNER_NAMES


def job_name(job_type: str, job_id: str) -> str:
    """The Dataflow job name of a run: its job class and run id in the
    lowercase, hyphenated form Dataflow accepts, e.g.
    ``interaction-audit-one-off-job-1764300000000-4821``."""
    suffix = job_id[len(job_type):] if job_id.startswith(job_type) else (
        '-' + job_id)
    kebab = re.sub(r'(?<=[a-z0-9])(?=[A-Z])', '-', job_type) + suffix
    name = re.sub(r'[^a-z0-9]+', '-', kebab.lower()).strip('-')
    if not name or not name[0].isalpha():
        name = 'job-' + name
    # Keep the end, where the run id makes the name unique.
    if len(name) > MAX_JOB_NAME_LENGTH:
        name = name[:MAX_JOB_NAME_LENGTH // 2] + name[-(
            MAX_JOB_NAME_LENGTH // 2 - 1):]
        name = re.sub(r'-+', '-', name).strip('-')
    return name


def _given(args: Sequence[str], option: str) -> bool:
    flag = '--' + option
    return any(a == flag or a.startswith(flag + '=') for a in args)


def dataflow_args(job_type: str, job_id: str, pipeline_args: Sequence[str],
                  store_url: str, setup_file: str = SETUP_FILE) -> list[str]:
    """The pipeline args of a Dataflow run: the user's, checked, plus
    ``--setup_file`` (the project's own packages, shipped to the workers),
    and ``--job_name`` and ``--no_save_main_session`` unless the user chose
    otherwise.

    Raises DataflowSetupError, naming the job, for anything Dataflow would
    refuse later or that could not work on its workers.
    """
    args = list(pipeline_args)
    options = beam_options.PipelineOptions(args)
    cloud = options.view_as(beam_options.GoogleCloudOptions)

    def refuse(message: str) -> DataflowSetupError:
        return DataflowSetupError('%s on Dataflow: %s' % (job_type, message))

    if storage.scheme_of(store_url) != datastore_store.SCHEME:
        raise refuse(
            'the store must be Cloud Datastore (--store datastore://PROJECT'
            '[/NAMESPACE]); Dataflow workers cannot reach %s' % store_url)
    if not cloud.project:
        raise refuse('--project is required (the Google Cloud project that '
                     'runs the Dataflow job)')
    if not cloud.region:
        raise refuse('--region is required (the Dataflow regional endpoint, '
                     'e.g. --region=us-central1)')
    locations = [loc for loc in (cloud.temp_location, cloud.staging_location)
                 if loc]
    if not any(loc.startswith('gs://') for loc in locations):
        raise refuse('--temp_location=gs://BUCKET/PATH is required (Beam '
                     'would otherwise look for a default bucket over the '
                     'network)')
    for option in LAUNCHER_OPTIONS:
        if _given(args, option):
            raise refuse('--%s is set by the launcher (to %s); do not give '
                         'it' % (option, setup_file))
    if not os.path.isfile(setup_file):
        raise refuse('the project\'s setup.py (%s) is missing; the workers '
                     'get the project\'s packages from it' % setup_file)
    args.append('--setup_file=%s' % setup_file)
    if not _given(args, 'job_name'):
        args.append('--job_name=%s' % job_name(job_type, job_id))
    if not (_given(args, 'save_main_session') or
            _given(args, 'no_save_main_session')):
        # Beam would pickle the launching process's __main__ for Dataflow
        # (its default with cloudpickle); jobs live in the shipped packages,
        # so the main session is not needed.
        args.append('--no_save_main_session')
    return args


def run_state_for(pipeline_state: str) -> str | None:
    """The run state for a Dataflow job state (``JOB_STATE_DONE`` or Beam's
    ``DONE``), or None if the state is not one this SDK knows."""
    name = str(pipeline_state or '').upper()
    if name.startswith('JOB_STATE_'):
        name = name[len('JOB_STATE_'):]
    return _RUN_STATE_FOR.get(name)


# The dry-run summary.
def _display_data(transform: Any) -> dict[str, Any]:
    found = {}
    for item in transform.display_data:
        payload = beam_runner_api_pb2.LabelledPayload.FromString(item.payload)
        kind = payload.WhichOneof('value')
        found[payload.key] = getattr(payload, kind) if kind else None
    return found


def _staged_package(path: str) -> dict[str, Any]:
    """What an sdist staged as workflow.tar.gz holds: its name and the
    top-level packages in it."""
    info: dict[str, Any] = {'file': os.path.basename(path)}
    try:
        with tarfile.open(path) as tar:
            names = tar.getnames()
    except (OSError, tarfile.TarError) as e:
        info['error'] = str(e)
        return info
    packages = sorted({
        parts[1] for parts in (n.split('/') for n in names)
        if len(parts) == 3 and parts[2] == '__init__.py'})
    info['packages'] = packages
    info['modules'] = sorted(
        parts[1] for parts in (n.split('/') for n in names)
        if len(parts) == 2 and parts[1].endswith('.py') and
        parts[1] != 'setup.py')
    return info


def summarize(job: Any, job_label: str, reads: Sequence[dict[str, Any]],
              shard_count: int) -> dict[str, Any]:
    """A JSON-like summary of the Dataflow job Beam built (``result.job`` of
    a dry run): its name, the job's steps, each read's split count, the
    staged files and the options.

    job_label is the job's composite label; reads are the kinds and
    namespaces of the job's Datastore reads, in order.
    """
    proto = job.proto_pipeline
    transforms = proto.components.transforms
    by_name = {t.unique_name: t for t in transforms.values()}
    steps = []
    composite = by_name.get(job_label)
    if composite is not None:
        steps = [transforms[s].unique_name for s in composite.subtransforms]
    splits = {}
    for name, transform in by_name.items():
        if name.endswith('/ReadFromDatastore/SplitQuery'):
            read_label = name[:-len('/ReadFromDatastore/SplitQuery')]
            splits[read_label] = _display_data(transform).get('num_splits')
    staged = []
    for environment in proto.components.environments.values():
        for dependency in environment.dependencies:
            role = beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(
                dependency.role_payload)
            entry: dict[str, Any] = {'staged_name': role.staged_name}
            if dependency.type_urn == 'beam:artifact:type:file:v1':
                path = beam_runner_api_pb2.ArtifactFilePayload.FromString(
                    dependency.type_payload).path
                if role.staged_name == 'workflow.tar.gz':
                    entry.update(_staged_package(path))
            staged.append(entry)
    options = job.options.get_all_options(drop_default=True)
    options.pop('beam_plugins', None)  # Long and always the same.
    return {
        'job_name': job.proto.name,
        'project': options.get('project'),
        'region': options.get('region'),
        'steps': steps,
        'reads': [dict(read, num_splits=splits.get(read['step']))
                  for read in reads],
        'shard_count': shard_count,
        'staged': staged,
        'options': {k: v for k, v in sorted(options.items())},
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The dry-run summary as a few lines of text."""
    lines = ['Dataflow job %s (dry run: built, not submitted)'
             % summary['job_name'],
             '  project: %s   region: %s' % (summary['project'],
                                              summary['region']),
             '  steps:']
    lines += ['    %s' % step for step in summary['steps']]
    lines.append('  reads (shard_count %d):' % summary['shard_count'])
    for read in summary['reads']:
        lines.append('    %s: ReadFromDatastore kind=%s namespace=%s '
                     'num_splits=%s' % (read['step'], read['kind'],
                                        read['namespace'] or '(default)',
                                        read['num_splits']))
    lines.append('  staged files:')
    for entry in summary['staged']:
        detail = ''
        if 'packages' in entry:
            detail = ' = %s (packages: %s; modules: %s)' % (
                entry['file'], ', '.join(entry['packages']),
                ', '.join(entry['modules']))
        lines.append('    %s%s' % (entry['staged_name'], detail))
    lines.append('  options:')
    for key, value in summary['options'].items():
        lines.append('    --%s=%s' % (key, value))
    return '\n'.join(lines)


# The Dataflow service, through its public client (google-cloud-dataflow-
# client, which the gcp extra installs). These need network access and
# credentials.
def _client(pipeline_args: Sequence[str]) -> Any:
    from google.cloud import dataflow_v1beta3
    return dataflow_v1beta3.JobsV1Beta3Client()


def _job_request(pipeline_args: Sequence[str], dataflow_job_id: str,
                 **more: Any) -> dict[str, Any]:
    """A request about a job in the run's project and region."""
    cloud = beam_options.PipelineOptions(list(pipeline_args)).view_as(
        beam_options.GoogleCloudOptions)
    return {'project_id': cloud.project, 'location': cloud.region,
            'job_id': dataflow_job_id, **more}


def fetch_pipeline_state(pipeline_args: Sequence[str],
                         dataflow_job_id: str) -> str:
    """The current state of a Dataflow job ('RUNNING', 'DONE', ...: Beam's
    PipelineState names), asked of the Dataflow service in the run's
    project and region."""
    job = _client(pipeline_args).get_job(
        request=_job_request(pipeline_args, dataflow_job_id))
    state = getattr(job.current_state, 'name', str(job.current_state))
    return state[len('JOB_STATE_'):] if state.startswith(
        'JOB_STATE_') else state


def request_cancel(pipeline_args: Sequence[str],
                   dataflow_job_id: str) -> None:
    """Asks the Dataflow service to cancel a job."""
    _client(pipeline_args).update_job(request=_job_request(
        pipeline_args, dataflow_job_id,
        job={'requested_state': 'JOB_STATE_CANCELLED'}))
