"""Beam I/O over a Cloud Datastore store: Beam's own Datastore connector
(``apache_beam.io.gcp.datastore.v1new``), with the conversions between
entities and the job's models.

Reading a kind is ``ReadFromDatastore`` of one ``Query`` per kind with
``num_splits = shard_count`` (the connector splits the query on
``__scatter__`` keys and reshuffles only the split queries), followed at once
by the conversion of each entity into a model: an ``Entity`` has no coder,
so it should never reach a shuffle. Writing a run's output is
``WriteToDatastore`` of the entities the store itself would write.
"""

from __future__ import annotations

import warnings
from typing import Any, Iterator

import apache_beam as beam
from apache_beam.io.gcp.datastore.v1new import datastoreio
from apache_beam.io.gcp.datastore.v1new import types

from models import base_models
from models import datastore_store
from models import storage
from pipelines import errors
from pipelines import metrics
from pipelines import model_read
from pipelines import run_control
from pipelines import subsets

# Beam's Query hands its filters to google-cloud-datastore positionally,
# which warns once per read; the warning is about Beam's code, and would
# otherwise land in every run's console output.
warnings.filterwarnings(
    'ignore', message='Detected filter using positional arguments',
    category=UserWarning)


def kind_query(kind: str, store_url: str) -> types.Query:
    """The query of every entity of kind in the store's namespace."""
    project, namespace = datastore_store.parse_url(store_url)
    return types.Query(kind=kind, project=project, namespace=namespace)


class _EntityToModelFn(beam.DoFn):
    """A Datastore entity -> the job's model, in the read's own stage."""

    def __init__(self, model_class: type[base_models.BaseModel]) -> None:
        self._model_class = model_class
        self._kind = model_class.kind()
        self._read = metrics.counter(metrics.MODELS_READ)

    def process(self, entity: types.Entity
                ) -> Iterator[base_models.BaseModel]:
        self._read.inc()
        model_id = entity.key.path_elements[-1]
        if not isinstance(model_id, str):
            raise base_models.ModelDataError(
                self._kind, repr(model_id),
                'Datastore key has a numeric id; models need key names')
        yield self._model_class.from_stored(
            model_id,
            datastore_store.decode_properties(
                self._kind, entity.properties, self._model_class))


def _entity_error(bad: tuple[types.Entity, errors.ErrorInfo]
                  ) -> storage.JobErrorRecord:
    """An entity that could not become a model."""
    entity, info = bad
    return storage.JobErrorRecord(
        'read', entity.key.path_elements[-2],
        str(entity.key.path_elements[-1]), *errors.describe(info))


class ReadDatastoreModels(model_read.ModelRead):
    """Reads every model of one class from a Datastore store, the query
    split num_splits ways. Gives (models, errors), as the SQLite read does:
    entities that are not valid models become error records."""

    def expand(self, pbegin: beam.pvalue.PBegin
               ) -> tuple[beam.PCollection, beam.PCollection]:
        subset = self._subset
        query = kind_query(self._model_class.kind(), self._store_url)
        if subset is not None and subset.limit is not None and (
                subset.ids is None):
            # The connector reads a query with a limit whole, unsplit.
            query.limit = subset.limit
        entities = pbegin | 'ReadFromDatastore' >> (
            datastoreio.ReadFromDatastore(query, num_splits=self._num_splits))
        if subset is not None and subset.filters_ids():
            # Leaves out the models the subset does not keep, by key name,
            # before they are decoded (the kind is still read whole).
            entities = entities | 'KeepSubset' >> beam.Filter(
                lambda entity, keeps: keeps(entity.key.path_elements[-1]),
                subset.keeps)
        if self._job_id is not None:
            entities = entities | 'CheckCanceled' >> (
                run_control.CheckCanceled(self._store_url, self._job_id))
        models, bad = entities | 'ToModels' >> beam.ParDo(
            _EntityToModelFn(self._model_class)).with_exception_handling()
        return models, bad | 'DescribeErrors' >> beam.Map(_entity_error)


class _RowsToEntitiesFn(beam.DoFn):
    """(sort_key, index, line) -> the entities holding that output line."""

    def __init__(self, store_url: str, job_id: str) -> None:
        self._project, self._namespace = datastore_store.parse_url(store_url)
        self._job_id = job_id
        self._written = metrics.counter(metrics.OUTPUT_LINES)

    def process(self, row: tuple[str, int, str]) -> Iterator[types.Entity]:
        sort_key, idx, line = row
        for name, values in datastore_store.output_properties(
                self._job_id, sort_key, idx, line):
            entity = types.Entity(
                types.Key([datastore_store.OUTPUT_KIND, name],
                          project=self._project, namespace=self._namespace),
                exclude_from_indexes=datastore_store.OUTPUT_UNINDEXED)
            entity.set_properties(values)
            yield entity
        self._written.inc()


class WriteDatastoreOutput(beam.PTransform):
    """Stores a run's output rows as Datastore entities with keys derived
    from the rows, so a retried bundle overwrites instead of duplicating."""

    def __init__(self, store_url: str, job_id: str) -> None:
        super().__init__()
        self._store_url = storage.normalize_store_url(store_url)
        self._job_id = job_id

    def expand(self, rows: beam.PCollection) -> Any:
        project, _ = datastore_store.parse_url(self._store_url)
        return (
            rows
            | 'CheckRunning' >> run_control.CheckCanceled(
                self._store_url, self._job_id)
            | 'ToEntities' >> beam.ParDo(
                _RowsToEntitiesFn(self._store_url, self._job_id))
            # Ramp-up throttling starts at 500 / hint_num_workers writes a
            # second per worker, which would make writing a few thousand
            # output lines take minutes; output entities are a fresh, small
            # key range written once per run, which the 500/50/5 rule does
            # not need protecting.
            | 'WriteToDatastore' >> datastoreio.WriteToDatastore(
                project, throttle_rampup=False))


class DatastoreIO:
    """The Beam reads and writes of a Cloud Datastore store (see
    pipelines.store_io)."""

    def __init__(self, store_url: str) -> None:
        self._store_url = storage.normalize_store_url(store_url)

    def read_models(self, model_class: type[base_models.BaseModel],
                    num_splits: int, job_id: str | None,
                    subset: subsets.Subset | None = None
                    ) -> ReadDatastoreModels:
        """Every model of model_class, as (models, errors)."""
        return ReadDatastoreModels(
            model_class, self._store_url, num_splits, job_id, subset)

    def write_output(self, job_id: str) -> WriteDatastoreOutput:
        """The sink of a run's output rows."""
        return WriteDatastoreOutput(self._store_url, job_id)
