"""The one place that picks a store's Beam I/O, by the scheme of its URL.

Each store's I/O (pipelines.sqlite_io, pipelines.datastore_io) gives the
compiler two transforms: read_models(model_class, num_splits, job_id,
subset),
which reads every model of a class as (models, error records), and
write_output(job_id), which stores a run's (sort_key, index, line) rows.
"""

from __future__ import annotations

from typing import Protocol

import apache_beam as beam

from models import datastore_store
from models import storage
from pipelines import sqlite_io
from pipelines import subsets


class StoreIO(Protocol):
    """What the compiler needs of a store's Beam I/O."""

    def read_models(self, model_class: type, num_splits: int,
                    job_id: str | None,
                    subset: subsets.Subset | None = None
                    ) -> beam.PTransform:
        """A transform from the pipeline's start to (models, errors), of
        every model of the class or of the subset given."""

    def write_output(self, job_id: str) -> beam.PTransform:
        """A transform that stores a run's output rows."""


def io_for(store_url: str) -> StoreIO:
    """The Beam I/O of the store at store_url."""
    if storage.scheme_of(store_url) == datastore_store.SCHEME:
        # Imported only for a Datastore store: its module needs Beam's gcp
        # extra, which a local install does not have.
        from pipelines import datastore_io
        return datastore_io.DatastoreIO(store_url)
    return sqlite_io.SqliteIO(store_url)
