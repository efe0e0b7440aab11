"""A job's optional ``combine(key, values)`` as a Beam ``CombineFn``.

A job may declare a static ``combine(key, values)`` that yields values of
the same type as the values its ``map`` yields (App Engine MapReduce's and
mrjob's combiner contract). The compiler then replaces GroupByKey with
``CombinePerKey(JobCombineFn(job))``: the runner lifts the combine before
the shuffle, so each bundle sends one short list of combined values per key
instead of every value, and ``reduce`` receives the combined values.

``CombineFn`` methods are not given the key, but ``combine`` needs it, so
the pairs are re-keyed to ``(encoded key, (key, value))`` just before the
combine (:class:`CombinePairs`), and the accumulator remembers the key. The
pairs are grouped by the key's deterministic encoding, as GroupByKey groups
them: the runner's combiner lifting keeps partial results in a dict, where
keys Python takes for equal (``True``, ``1`` and ``1.0``; ``0.0`` and
``-0.0``) would merge. So the output with a combiner is the output
without.

A key whose ``combine`` raises becomes an error record, as one whose
``reduce`` raises does: its accumulator keeps the record instead of values,
and what it gives for the key is a :class:`CombineError`, which the reduce
stage stores instead of calling ``reduce``.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, NamedTuple

import apache_beam as beam
from apache_beam import coders

from models import storage
from pipelines import errors
from pipelines import job_spec
from pipelines import mapper_context

# How many uncombined values an accumulator buffers before it calls the
# job's combine on them. Calling combine once per value would cost a
# generator per model; buffering bounds memory to keys x this many values.
COMBINE_BUFFER_SIZE = 256


# An accumulator is a list [key, values, limit, error]: the key being
# combined (CombineFn methods are not given it), its values so far, some of
# them combined, how many values to buffer before calling combine again, and
# None or the error record of a combine call that raised, after which the
# key's values are dropped as they come. A plain list, because the runner
# encodes accumulators for the shuffle.
_KEY, _VALUES, _LIMIT, _ERROR = 0, 1, 2, 3


class CombineError(NamedTuple):
    """The combined values of a key whose combine raised: the error record
    that the reduce stage stores for the key, instead of calling reduce."""

    record: storage.JobErrorRecord


class JobCombineFn(beam.CombineFn):
    """Combines one key's values with the job's static combine(key, values).

    The input elements are (key, value) pairs (see CombinePairs) and the
    output is (key, the list of values combine yields for all of them),
    what the job's reduce receives; or (key, CombineError), if combine
    raised on any of them.
    """

    def __init__(self, spec: job_spec.JobSpec) -> None:
        super().__init__()
        self._job_name = spec.job_name
        self._combine = spec.combine_fn
        self._active = (spec.job_name, dict(spec.params))

    def create_accumulator(self) -> list:
        return [None, [], COMBINE_BUFFER_SIZE, None]

    def add_input(self, accumulator: list,
                  element: tuple[Any, Any]) -> list:
        accumulator[_KEY] = element[0]
        values = accumulator[_VALUES]
        values.append(element[1])
        if len(values) >= accumulator[_LIMIT]:
            self._compact(accumulator)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[list]) -> list:
        merged = self.create_accumulator()
        for accumulator in accumulators:
            # An accumulator that has seen no value has no key (None);
            # where the key is None, every accumulator's is.
            if merged[_KEY] is None:
                merged[_KEY] = accumulator[_KEY]
            if accumulator[_ERROR] is not None:
                if merged[_ERROR] is None:
                    merged[_ERROR] = accumulator[_ERROR]
            elif accumulator[_VALUES]:
                merged[_VALUES].extend(accumulator[_VALUES])
        if merged[_ERROR] is not None:
            merged[_VALUES] = []
        elif len(merged[_VALUES]) > 1:
            self._compact(merged)
        return merged

    def compact(self, accumulator: list) -> list:
        # The runner calls this before it shuffles an accumulator.
        if len(accumulator[_VALUES]) > 1:
            self._compact(accumulator)
        return accumulator

    def extract_output(self, accumulator: list
                       ) -> tuple[Any, list[Any] | CombineError]:
        if accumulator[_ERROR] is not None:
            return accumulator[_KEY], CombineError(accumulator[_ERROR])
        return accumulator[_KEY], accumulator[_VALUES]

    def _compact(self, accumulator: list) -> None:
        if accumulator[_ERROR] is not None:
            accumulator[_VALUES] = []
            return
        token = mapper_context.activate(*self._active)
        try:
            results = self._combine(accumulator[_KEY], accumulator[_VALUES])
            accumulator[_VALUES] = [] if results is None else list(results)
        except Exception as e:  # Whatever combine raises: this key's error.
            accumulator[_VALUES] = []
            accumulator[_ERROR] = errors.record_of(
                'combine', self._job_name, repr(accumulator[_KEY]), e)
            return
        finally:
            mapper_context.deactivate(token)
        # A combine that does not shrink its input is not called again on
        # every new value: the buffer grows before the next call.
        accumulator[_LIMIT] = max(
            COMBINE_BUFFER_SIZE, 2 * len(accumulator[_VALUES]))


class CombinePairs(beam.PTransform):
    """(key, value) pairs -> (key, [combined values]) with the job's
    combine, lifted before the shuffle by the runner.

    With keyed_pairs, the input is already (encoded key, (key, value)) (as
    MapModels(keep_key=True) gives it), saving a step per pair.
    """

    def __init__(self, spec: job_spec.JobSpec,
                 keyed_pairs: bool = False) -> None:
        super().__init__()
        self._fn = JobCombineFn(spec)
        self._keyed_pairs = keyed_pairs

    def expand(self, pairs: beam.PCollection) -> beam.PCollection:
        if not self._keyed_pairs:
            pairs = pairs | 'EncodeKeys' >> beam.ParDo(_EncodeKeyFn())
        return (pairs
                | 'CombinePerKey' >> beam.CombinePerKey(self._fn)
                | 'DropEncodedKeys' >> beam.Values())


class _EncodeKeyFn(beam.DoFn):
    """(key, value) -> (the key's deterministic encoding, (key, value))."""

    def setup(self) -> None:
        self._encode = coders.FastPrimitivesCoder().as_deterministic_coder(
            'EncodeKeys').encode

    def process(self, pair: tuple[Any, Any]
                ) -> Iterator[tuple[bytes, tuple[Any, Any]]]:
        yield self._encode(pair[0]), pair
