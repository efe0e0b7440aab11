"""Compiles a one-off job into one Beam pipeline, which reads as the job's
sentence:

    Read<Kind> (one per model class) -> Flatten -> Map
    -> GroupByKey (or Combine) -> Reduce -> WriteOutput

Combine (the job's combine, lifted before the shuffle) takes the place of
GroupByKey when the job declares one and --disable_combiner is not given.
The models that could not be read, the models whose map failed and the keys
whose combine or reduce failed are flattened into one error sink,
WriteErrors. All steps sit under a composite labelled with the job's name,
so the runner's step names (and the Dataflow console) say which job they
belong to.

The compiler takes the job as data (a JobSpec): it knows nothing of job
classes, registries or runs.
"""

from __future__ import annotations

import shutil
from typing import Any

import apache_beam as beam

from pipelines import combiners
from pipelines import errors
from pipelines import job_spec
from pipelines import options as pipeline_options
from pipelines import stages
from pipelines import store_io

# The job as data, as the compiler takes it.
JobSpec = job_spec.JobSpec


class CompiledJob(beam.PTransform):
    """The whole job as one composite transform over a pipeline's start."""

    def __init__(self, spec: JobSpec) -> None:
        super().__init__()
        self._spec = spec

    def expand(self, pbegin: beam.pvalue.PBegin) -> Any:
        spec = self._spec
        io = store_io.io_for(spec.store_url)
        subset = pipeline_options.subset_of(pbegin.pipeline.options)
        models, error_sources = [], []
        for model_class in spec.model_classes:
            read, read_errors = pbegin | 'Read%s' % model_class.kind() >> (
                io.read_models(model_class, spec.shard_count, spec.job_id,
                               subset))
            models.append(read)
            error_sources.append(read_errors)
        if len(models) > 1:
            models = [tuple(models) | 'FlattenModels' >> beam.Flatten()]
        combine = uses_combiner(spec, pbegin.pipeline.options)
        pairs, map_errors = models[0] | 'Map' >> stages.MapModels(
            spec, keep_key=combine)
        if combine:
            groups = pairs | 'Combine' >> combiners.CombinePairs(
                spec, keyed_pairs=True)
        else:
            groups = pairs | 'GroupByKey' >> beam.GroupByKey()
        rows, reduce_errors = groups | 'Reduce' >> stages.ReduceGroups(spec)
        written = rows | 'WriteOutput' >> io.write_output(spec.job_id)
        error_sources += [map_errors, reduce_errors]
        _ = (tuple(error_sources)
             | 'FlattenErrors' >> beam.Flatten()
             | 'WriteErrors' >> errors.WriteJobErrors(
                 spec.store_url, spec.job_id, spec.max_errors))
        return written


def uses_combiner(spec: JobSpec, options: Any) -> bool:
    """Whether the job's pipeline combines before the shuffle: it declares
    combine(key, values) and --disable_combiner was not given."""
    return (spec.combine_fn is not None and
            not pipeline_options.disables_combiner(options))


def compile_job(pipeline: beam.Pipeline, spec: JobSpec) -> beam.Pipeline:
    """Adds the job's steps to pipeline and returns the pipeline."""
    _ = pipeline | spec.job_name >> CompiledJob(spec)
    return pipeline


def compiled_pipeline(spec: JobSpec, runner: Any,
                      options: Any) -> beam.Pipeline:
    """A new pipeline for runner with the job's steps added.

    A Beam pipeline makes a local temp folder when it is made, and only
    run() removes it: if compiling fails, the folder is removed here."""
    pipeline = beam.Pipeline(runner=runner, options=options)
    try:
        return compile_job(pipeline, spec)
    except BaseException:
        shutil.rmtree(pipeline.local_tempdir, ignore_errors=True)
        raise
