"""What the compiler needs to know of a job and one run of it, as data."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping

from models import base_models


@dataclasses.dataclass(frozen=True)
class JobSpec:
    """Everything the pipeline of one run needs; picklable.

    map_fn, reduce_fn and combine_fn are the job's own map(item),
    reduce(key, values) and optional combine(key, values); job_id is None
    for a pipeline built outside a run (which is then never canceled).
    """

    job_name: str
    model_classes: tuple[type[base_models.BaseModel], ...]
    map_fn: Callable[[Any], Iterable[tuple[Any, Any]] | None]
    reduce_fn: Callable[[Any, list[Any]], Iterable[Any] | None]
    store_url: str
    shard_count: int
    combine_fn: Callable[[Any, list[Any]], Iterable[Any] | None] | None = None
    job_id: str | None = None
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    max_errors: int | None = None
    # The old framework's strings: reduce gets str() of each key and value
    # map yielded, and each value reduce yields becomes its line after a
    # JSON round trip (tuples become lists), as '%s' made it.
    old_strings: bool = False
    # A dry run: job code's writes of models are recorded, not made (see
    # models.dry_run).
    dry_run: bool = False
