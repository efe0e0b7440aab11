"""Beam I/O over the embedded SQLite store (and any store that reads by id
ranges): reading models by key range, split at the source, and writing a
run's output lines."""

from __future__ import annotations

from typing import Any, Iterator, NamedTuple, Sequence

import apache_beam as beam

from models import base_models
from models import storage
from pipelines import batched_write
from pipelines import errors
from pipelines import metrics
from pipelines import model_batches
from pipelines import model_read
from pipelines import options as pipeline_options
from pipelines import run_control
from pipelines import subsets

OUTPUT_BATCH_SIZE = 500
# A batch of models handed from the read to the map stage ends at this many
# models or this much stored JSON, whichever comes first. Small, because
# the models of a batch are alive together: a batch that outlives Python's
# young garbage collections makes the full collections that follow walk
# it, which slows a run severalfold.
MODEL_BATCH_SIZE = 64
MODEL_BATCH_BYTES = 16_384


class KeyRange(NamedTuple):
    """The ids start <= id < end of one kind; None bounds are open.

    An empty range (start == end, both set) reads nothing: it stands for a
    split of a kind that has fewer models than splits.
    """

    kind: str
    start: str | None
    end: str | None


def subset_key_ranges(store: Any, kind: str,
                      subset: subsets.Subset) -> list[KeyRange] | None:
    """The key ranges that hold a subset of the kind, or None to read it
    all: one range per id for --ids (the first --limit of them), or for
    --limit one range that ends at the first model past it."""
    if subset.ids is not None:
        ids = subset.ids[:subset.limit] if subset.limit else subset.ids
        # The smallest text after an id ends the range of that id alone.
        return [KeyRange(kind, model_id, model_id + '\0')
                for model_id in ids]
    if subset.limit is not None:
        return [KeyRange(kind, None, store.id_at(kind, subset.limit))]
    return None


def split_key_ranges(
        store: storage.ModelStore, kind: str,
        num_splits: int) -> list[KeyRange]:
    """Exactly num_splits ranges that together cover the kind, of about
    equal size."""
    points = store.split_points(kind, num_splits)
    bounds = [None, *points, None]
    ranges = [KeyRange(kind, lo, hi) for lo, hi in zip(bounds, bounds[1:])]
    while len(ranges) < num_splits:
        ranges.append(KeyRange(kind, '', ''))
    return ranges


class _SplitKindFn(beam.DoFn):
    """kind -> its key ranges, computed where the pipeline runs."""

    def __init__(self, store_url: str, num_splits: int,
                 subset: subsets.Subset | None = None) -> None:
        self._store_url = store_url
        self._num_splits = num_splits
        self._subset = subset
        self._ranges = metrics.counter(metrics.KEY_RANGES)

    def process(self, kind: str) -> Iterator[KeyRange]:
        store = storage.get_store(self._store_url)
        ranges = None
        if self._subset is not None:
            ranges = subset_key_ranges(store, kind, self._subset)
        if ranges is None:
            ranges = split_key_ranges(store, kind, self._num_splits)
        self._ranges.inc(len(ranges))
        yield from ranges


class _ReadKeyRangeFn(beam.DoFn):
    """A key range -> the models in it, streamed page by page.

    Models leave in small ModelBatches (see MODEL_BATCH_SIZE; a Beam batched
    DoFn, see pipelines.model_batches): the map stage takes each in one
    call, any other consumer sees one model per element. A batch is
    emptied once it has been handed on, so a batched consumer must not
    keep the list it is given past its call (the models themselves it
    may keep).

    A row that is not a valid model goes to the 'errors' output as a
    JobErrorRecord and the range goes on. (Beam's with_exception_handling
    works per input element, and the input here is a whole key range: one
    bad row would drop the range. Decoding in a separate step would cost a
    DoFn call per model.)
    """

    ERRORS = 'errors'

    def __init__(self, model_class: type[base_models.BaseModel],
                 store_url: str, job_id: str | None,
                 subset: subsets.Subset | None = None) -> None:
        self._model_class = model_class
        # A --sample or --ids subset leaves out models by id, before they
        # are decoded.
        self._keeps = (subset.keeps if subset is not None and
                       subset.filters_ids() else None)
        self._store_url = store_url
        self._watch = run_control.watch_of(store_url, job_id)
        self._read = metrics.counter(metrics.MODELS_READ)

    def infer_output_type(self, input_type: Any) -> Any:
        return self._model_class

    def get_output_batch_type(self, input_element_type: Any) -> Any:
        return model_batches.ModelBatch

    @beam.DoFn.yields_batches
    def process(self, key_range: KeyRange) -> Iterator[Any]:
        if key_range.start == key_range.end and key_range.start is not None:
            return
        store = storage.get_store(self._store_url)
        kind = key_range.kind
        from_stored = self._model_class.from_stored
        watch = self._watch
        batch = model_batches.ModelBatch()
        stored_bytes = 0
        read = 0
        try:
            keeps = self._keeps
            for model_id, payload in store.scan(
                    kind, key_range.start, key_range.end):
                if keeps is not None and not keeps(model_id):
                    continue
                read += 1
                try:
                    batch.append(from_stored(model_id, payload))
                except Exception as e:  # Any bad row: report, go on.
                    # Checked here too, so a range of bad rows that makes
                    # no batch stays cancellable.
                    if watch is not None:
                        watch.check(models_read=1)
                    # Outputs of a batched DoFn are batches, errors too.
                    yield beam.pvalue.TaggedOutput(self.ERRORS, [
                        errors.record_of('read', kind, model_id, e)])
                    continue
                stored_bytes += len(payload)
                if (len(batch) == MODEL_BATCH_SIZE or
                        stored_bytes >= MODEL_BATCH_BYTES):
                    yield from self._hand_on(batch, stored_bytes)
                    batch, stored_bytes = model_batches.ModelBatch(), 0
            if batch:
                yield from self._hand_on(batch, stored_bytes)
            if watch is not None:
                watch.flush()
        finally:
            # Once per range, not per model: this loop runs for every model.
            self._read.inc(read)

    def _hand_on(self, batch: model_batches.ModelBatch,
                 stored_bytes: int) -> Iterator[Any]:
        """Yields a full batch, or a range's last, unless the run was
        canceled; then empties it."""
        if self._watch is not None:
            self._watch.check(models_read=len(batch))
        batch.stored_bytes = stored_bytes
        yield batch
        # Handed on: Beam has run the stage's steps on it, but holds it
        # until the next yield. Freed now, its models are still in the
        # CPU's caches; freed after the next batch is read, they are not.
        batch.clear()


class ReadModels(model_read.ModelRead):
    """Reads every model of one class from a store, in num_splits parts.

    Returns (models, errors): errors are JobErrorRecords for rows that are
    not valid models of the class (corrupt JSON, unknown or missing
    properties, wrong types); the rest of the kind is still read, and the
    rows are left as they are.

    Only the split descriptors are reshuffled, so that the runner can spread
    the ranges over workers without moving every model through a shuffle;
    a run that is one bundle in one process skips that step.
    """

    def expand(self, pbegin: beam.pvalue.PBegin
               ) -> tuple[beam.PCollection, beam.PCollection]:
        ranges = (
            pbegin
            | 'Kind' >> beam.Create([self._model_class.kind()])
            | 'SplitKeyRanges' >> beam.ParDo(
                _SplitKindFn(self._store_url, self._num_splits,
                             self._subset)))
        if not pipeline_options.runs_in_one_bundle(pbegin.pipeline.options):
            # In one bundle the Reshuffle would only add a stage.
            ranges = ranges | 'ReshuffleRanges' >> beam.Reshuffle()
        read = (
            ranges
            | 'ReadKeyRange' >> beam.ParDo(_ReadKeyRangeFn(
                self._model_class, self._store_url, self._job_id,
                self._subset)
            ).with_outputs(_ReadKeyRangeFn.ERRORS, main='models'))
        return read.models, read[_ReadKeyRangeFn.ERRORS]


class _WriteOutputFn(batched_write.BatchedStoreWriteFn):
    """Writes (sort_key, index, line) rows in batches, one transaction each."""

    def __init__(self, store_url: str, job_id: str) -> None:
        super().__init__(store_url, OUTPUT_BATCH_SIZE)
        self._job_id = job_id
        self._watch = run_control.watch_of(store_url, job_id)
        self._written = metrics.counter(metrics.OUTPUT_LINES)

    def write(self, store: storage.ModelStore,
              batch: Sequence[tuple[str, int, str]]) -> None:
        if self._watch is not None:
            self._watch.check()
        store.write_output(self._job_id, batch)
        self._written.inc(len(batch))


class WriteJobOutput(beam.PTransform):
    """Stores a run's output rows; writing a row twice keeps one copy, so a
    retried bundle does not duplicate output."""

    def __init__(self, store_url: str, job_id: str) -> None:
        super().__init__()
        self._store_url = storage.normalize_store_url(store_url)
        self._job_id = job_id

    def expand(self, rows: beam.PCollection) -> Any:
        return rows | 'WriteBatches' >> beam.ParDo(
            _WriteOutputFn(self._store_url, self._job_id))


class SqliteIO:
    """The Beam reads and writes of a SQLite store (see pipelines.store_io).
    """

    def __init__(self, store_url: str) -> None:
        self._store_url = storage.normalize_store_url(store_url)

    def read_models(self, model_class: type[base_models.BaseModel],
                    num_splits: int, job_id: str | None,
                    subset: subsets.Subset | None = None) -> ReadModels:
        """Every model of model_class (or of the subset), as (models,
        errors)."""
        return ReadModels(model_class, self._store_url, num_splits, job_id,
                          subset)

    def write_output(self, job_id: str) -> WriteJobOutput:
        """The sink of a run's output rows."""
        return WriteJobOutput(self._store_url, job_id)
