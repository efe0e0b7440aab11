"""A DoFn base for sinks that write a run's rows into its store in batches."""

from __future__ import annotations

from typing import Any, Sequence

import apache_beam as beam

from models import storage


class BatchedStoreWriteFn(beam.DoFn):
    """Buffers elements and hands them to write() batch_size at a time (one
    store transaction each), and what is left at the end of each bundle, so
    a bundle's rows are stored before the bundle is committed."""

    def __init__(self, store_url: str, batch_size: int) -> None:
        self._store_url = store_url
        self._batch_size = batch_size
        self._batch: list[Any] = []

    def start_bundle(self) -> None:
        self._batch = []

    def process(self, element: Any) -> None:
        self._batch.append(element)
        if len(self._batch) >= self._batch_size:
            self._flush()

    def finish_bundle(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self.write(storage.get_store(self._store_url), batch)

    def write(self, store: storage.ModelStore, batch: Sequence[Any]) -> None:
        """Stores one batch."""
        raise NotImplementedError
