"""The collector's heap freeze during local runs is always undone."""

from __future__ import annotations

import gc

import pytest

from pipelines import heap


def test_frozen_heap_freezes_then_unfreezes_even_on_error():
    before = gc.get_freeze_count()
    with pytest.raises(RuntimeError):
        with heap.frozen_heap():
            assert gc.get_freeze_count() > before
            raise RuntimeError('boom')
    assert gc.get_freeze_count() == before
