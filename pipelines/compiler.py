"""Compiles a one-off job class and a run into one Beam pipeline:

    Read<Kind> (one per model class) -> Flatten -> Map -> GroupByKey
    -> Reduce -> WriteOutput

with Combine (the job's combine, lifted before the shuffle) in place of
GroupByKey when the job declares one and --disable_combiner is not given,
and with the models that could not be read, the models whose map failed and
the keys whose reduce failed going to Write<Kind>ReadErrors, WriteMapErrors
and WriteReduceErrors. All steps sit under a composite labelled with the
job's name, so the runner's step names (and the Dataflow console) say which
job they belong to.
"""

from __future__ import annotations

import dataclasses
import shutil
from typing import Any, Mapping

import apache_beam as beam

from beam_jobs import job_contract
from pipelines import combiners
from pipelines import dofn_specs
from pipelines import errors
from pipelines import model_io
from pipelines import options as pipeline_options
from pipelines import stages


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """Everything the pipeline of one run needs; picklable."""

    job_class: type
    job_id: str
    store_url: str
    shard_count: int
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    max_errors: int | None = None

    @property
    def job_name(self) -> str:
        return self.job_class.__name__


class CompiledJob(beam.PTransform):
    """The whole job as one composite transform over a pipeline's start."""

    def __init__(self, spec: JobSpec) -> None:
        super().__init__()
        self._spec = spec

    def expand(self, pbegin: beam.pvalue.PBegin) -> Any:
        spec = self._spec
        reads = []
        for model_class in job_contract.model_classes_of(spec.job_class):
            models, read_errors = (
                pbegin | 'Read%s' % model_class.kind() >> model_io.read_models(
                    model_class, spec.store_url, spec.shard_count,
                    spec.job_id))
            reads.append(models)
            _ = read_errors | 'Write%sReadErrors' % model_class.kind() >> (
                self._write_errors())
        models = (reads[0] if len(reads) == 1
                  else tuple(reads) | 'FlattenModels' >> beam.Flatten())
        combine = use_combiner(spec.job_class, pbegin.pipeline.options)
        pairs, map_errors = models | 'Map' >> stages.MapModels(
            spec.job_class, spec.params, spec.store_url, keep_key=combine,
            job_id=spec.job_id)
        _ = map_errors | 'WriteMapErrors' >> self._write_errors()
        if combine:
            groups = pairs | 'Combine' >> combiners.CombinePairs(
                spec.job_class, spec.params, keyed_pairs=True)
        else:
            groups = pairs | 'GroupByKey' >> beam.GroupByKey()
        rows, reduce_errors = groups | 'Reduce' >> stages.ReduceGroups(
            spec.job_class, spec.params, spec.store_url, spec.job_id)
        _ = reduce_errors | 'WriteReduceErrors' >> self._write_errors()
        return rows | 'WriteOutput' >> model_io.write_output(
            spec.store_url, spec.job_id)

    def _write_errors(self) -> errors.WriteJobErrors:
        return errors.WriteJobErrors(
            self._spec.store_url, self._spec.job_id, self._spec.max_errors)


def use_combiner(job_class: type, options: Any) -> bool:
    """Whether the job's pipeline combines before the shuffle: it declares
    combine(key, values) and --disable_combiner was not given."""
    disabled = options is not None and options.view_as(
        pipeline_options.JobOptions).disable_combiner
    return combiners.has_combiner(job_class) and not disabled


def compile_job(pipeline: beam.Pipeline, spec: JobSpec) -> beam.Pipeline:
    """Adds the job's steps to pipeline and returns the pipeline."""
    _ = pipeline | spec.job_name >> CompiledJob(spec)
    return pipeline


def compiled_pipeline(spec: JobSpec, runner: Any,
                      options: Any) -> beam.Pipeline:
    """A new pipeline for runner with the job's steps added.

    A Beam pipeline makes a local temp folder when it is made, and only
    run() removes it: if compiling fails, the folder is removed here."""
    # Building the pipeline looks up every DoFn's specs several times.
    dofn_specs.install()
    pipeline = beam.Pipeline(runner=runner, options=options)
    try:
        return compile_job(pipeline, spec)
    except BaseException:
        shutil.rmtree(pipeline.local_tempdir, ignore_errors=True)
        raise
