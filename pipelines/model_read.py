"""What every store's read of one model class is given (see
pipelines.store_io): each store's read transform subclasses ModelRead and
expands it its own way into (models, error records)."""

from __future__ import annotations

import apache_beam as beam

from models import base_models
from models import storage
from pipelines import subsets


class ModelRead(beam.PTransform):
    """A read of every model of model_class from the store at store_url (or
    of the subset given), in num_splits parts, for the run job_id (None: a
    read outside a run, which is never canceled)."""

    def __init__(self, model_class: type[base_models.BaseModel],
                 store_url: str, num_splits: int,
                 job_id: str | None = None,
                 subset: subsets.Subset | None = None) -> None:
        super().__init__()
        self._model_class = model_class
        self._store_url = storage.normalize_store_url(store_url)
        self._num_splits = num_splits
        self._job_id = job_id
        self._subset = subset
