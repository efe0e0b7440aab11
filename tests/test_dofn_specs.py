"""pipelines.dofn_specs: Beam's DoFn state and timer specs, remembered per
DoFn class and set of methods, are the specs Beam finds."""

from __future__ import annotations

import apache_beam as beam
import pytest
from apache_beam.coders import VarIntCoder
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that
from apache_beam.testing.util import equal_to
from apache_beam.transforms import core
from apache_beam.transforms import userstate

from pipelines import dofn_specs
from pipelines import options as pipeline_options

_COUNT = userstate.ReadModifyWriteStateSpec('count', VarIntCoder())
_FLUSH = userstate.TimerSpec('flush', userstate.TimeDomain.WATERMARK)


class _PlainFn(beam.DoFn):
    def process(self, element):
        yield element


class _CountPerKeyFn(beam.DoFn):
    """Numbers each key's values 1, 2, ... with user state."""

    def process(self, element, count=beam.DoFn.StateParam(_COUNT)):
        key, _ = element
        seen = (count.read() or 0) + 1
        count.write(seen)
        yield key, seen


class _TimerFn(beam.DoFn):
    def process(self, element, flush=beam.DoFn.TimerParam(_FLUSH)):
        yield element

    @userstate.on_timer(_FLUSH)
    def on_flush(self):
        return []


class _DuplicateStateFn(beam.DoFn):
    def process(self, element, a=beam.DoFn.StateParam(_COUNT),
                b=beam.DoFn.StateParam(_COUNT)):
        yield element


@pytest.fixture(autouse=True)
def _forget_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with nothing remembered and Beam's own lookup
    installed; the lookups the test makes through Beam are counted."""
    monkeypatch.setattr(dofn_specs, '_specs', {})
    monkeypatch.setattr(userstate, 'get_dofn_specs',
                        dofn_specs._BEAMS_GET_DOFN_SPECS)


def _count_beams_lookups(monkeypatch: pytest.MonkeyPatch) -> list:
    looked_up: list = []
    beams = dofn_specs._BEAMS_GET_DOFN_SPECS

    def counting(dofn):
        looked_up.append(type(dofn))
        return beams(dofn)

    monkeypatch.setattr(dofn_specs, '_BEAMS_GET_DOFN_SPECS', counting)
    return looked_up


@pytest.mark.parametrize('dofn_class', [_PlainFn, _CountPerKeyFn, _TimerFn])
def test_specs_are_beams_own(dofn_class):
    beams = dofn_specs._BEAMS_GET_DOFN_SPECS(dofn_class())
    assert dofn_specs.get_dofn_specs(dofn_class()) == beams
    # Remembered, and still the same.
    assert dofn_specs.get_dofn_specs(dofn_class()) == beams


def test_a_class_is_looked_up_by_beam_once(monkeypatch):
    looked_up = _count_beams_lookups(monkeypatch)
    for _ in range(3):
        assert dofn_specs.get_dofn_specs(_CountPerKeyFn()) == (
            {_COUNT}, set())
        assert dofn_specs.get_dofn_specs(_PlainFn()) == (set(), set())
    assert looked_up == [_CountPerKeyFn, _PlainFn]


def test_each_caller_gets_its_own_sets():
    specs = dofn_specs.get_dofn_specs(_CountPerKeyFn())
    specs[0].clear()
    assert dofn_specs.get_dofn_specs(_CountPerKeyFn()) == ({_COUNT}, set())


def test_a_dofn_with_its_own_methods_is_looked_up_for_them(monkeypatch):
    looked_up = _count_beams_lookups(monkeypatch)
    plain, stateful = _PlainFn(), _PlainFn()
    # An instance whose process is another DoFn's method: its specs are
    # that method's.
    stateful.process = _CountPerKeyFn().process
    assert dofn_specs.get_dofn_specs(plain) == (set(), set())
    assert dofn_specs.get_dofn_specs(stateful) == ({_COUNT}, set())
    assert looked_up == [_PlainFn, _PlainFn]


def test_a_wrapped_function_is_remembered_by_its_class(monkeypatch):
    # beam.Map's DoFn holds a plain function as its process, which is not
    # a method: Beam does not inspect it, so every such DoFn has its
    # class's specs.
    first = beam.Map(lambda x: x).fn
    second = beam.Map(lambda x, y=1: x).fn
    beams = dofn_specs._BEAMS_GET_DOFN_SPECS(first)
    assert beams == dofn_specs._BEAMS_GET_DOFN_SPECS(second)
    looked_up = _count_beams_lookups(monkeypatch)
    for dofn in (first, second, first):
        assert dofn_specs.get_dofn_specs(dofn) == beams
    assert len(looked_up) == 1


def test_a_method_inspected_its_own_way_is_looked_up_every_time(
        monkeypatch):
    # A bound method wrapped by beam.FlatMap is a method of the DoFn whose
    # arguments Beam reads from the wrapper's _inspect_process, which can
    # differ between two DoFns of one class with the same method.
    method = _PlainFn().process
    plain = beam.FlatMap(method).fn
    stateful = core.CallableWrapperDoFn(method, fullargspec=(
        ['element', 'count'], [beam.DoFn.StateParam(_COUNT)]))
    looked_up = _count_beams_lookups(monkeypatch)
    assert dofn_specs.get_dofn_specs(plain) == (set(), set())
    assert dofn_specs.get_dofn_specs(stateful) == ({_COUNT}, set())
    assert dofn_specs.get_dofn_specs(plain) == (set(), set())
    assert len(looked_up) == 3


def test_a_lookup_that_raises_raises_every_time(monkeypatch):
    looked_up = _count_beams_lookups(monkeypatch)
    for _ in range(2):
        with pytest.raises(ValueError, match='duplicate'):
            dofn_specs.get_dofn_specs(_DuplicateStateFn())
    assert looked_up == [_DuplicateStateFn, _DuplicateStateFn]


def test_installed_beam_still_runs_stateful_dofns(monkeypatch):
    looked_up = _count_beams_lookups(monkeypatch)
    dofn_specs.install()
    assert userstate.get_dofn_specs is dofn_specs.get_dofn_specs
    assert userstate.is_stateful_dofn(_CountPerKeyFn())
    assert not userstate.is_stateful_dofn(_PlainFn())
    with test_pipeline.TestPipeline(
            runner=pipeline_options.local_runner()) as p:
        numbered = (p | beam.Create([('a', 0), ('b', 0), ('a', 0)])
                    | beam.ParDo(_CountPerKeyFn()))
        assert_that(numbered, equal_to([('a', 1), ('a', 2), ('b', 1)]))
    # Building and running the pipeline looked _CountPerKeyFn up many
    # times; Beam inspected it once.
    assert looked_up.count(_CountPerKeyFn) == 1
