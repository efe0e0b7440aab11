"""Runs on a subset of the models: at most the first N of each kind (by
id), only some ids, or a pseudo-random fraction that is the same for the
same seed in every process. Chosen by the pipeline options --limit, --ids,
--sample and --sample_seed (see pipelines.options), and applied by each
store's read."""

from __future__ import annotations

import dataclasses
import functools
import hashlib


@dataclasses.dataclass(frozen=True)
class Subset:
    """Which models of each kind a run maps; None fields do not narrow."""

    limit: int | None = None
    ids: tuple[str, ...] | None = None
    sample: float | None = None
    sample_seed: int = 0

    def keeps(self, model_id: str) -> bool:
        """Whether a model of this id is in the subset, as far as ids and
        the sample say (the limit is the read's to apply)."""
        if self.ids is not None and model_id not in self._id_set:
            return False
        return self.sample is None or in_sample(model_id, self.sample,
                                                self.sample_seed)

    @functools.cached_property
    def _id_set(self) -> frozenset[str]:
        # keeps() runs once per model read: a set, not a scan of the ids.
        return frozenset(self.ids or ())

    def filters_ids(self) -> bool:
        """Whether keeps() can leave out a model."""
        return self.ids is not None or self.sample is not None

    def describe(self) -> dict[str, object]:
        """What a run's details say of the subset it ran on."""
        return {name: value for name, value in (
            ('limit', self.limit), ('ids', list(self.ids or []) or None),
            ('sample', self.sample),
            ('sample_seed', self.sample_seed if self.sample else None))
            if value is not None}


def in_sample(model_id: str, fraction: float, seed: int) -> bool:
    """Whether model_id is in the fraction of ids chosen by seed: from a
    hash of both, the same in every process and on every machine."""
    digest = hashlib.sha256(('%d:%s' % (seed, model_id)).encode(
        'utf-8', 'surrogatepass')).digest()
    return int.from_bytes(digest[:8], 'big') < fraction * 2 ** 64
