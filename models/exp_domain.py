"""Domain objects of explorations: the read-only view that job code uses
instead of the raw ``states`` dicts of :class:`ExplorationModel`."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Interaction:
    """How a learner answers in a state. ``id`` is None for no interaction."""

    id: str | None
    customization_args: dict[str, Any]
    answer_groups: list[dict[str, Any]]
    default_outcome: dict[str, Any] | None
    hints: list[dict[str, Any]]
    solution: dict[str, Any] | None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> 'Interaction':
        return cls(
            id=data.get('id'),
            customization_args=data.get('customization_args') or {},
            answer_groups=data.get('answer_groups') or [],
            default_outcome=data.get('default_outcome'),
            hints=data.get('hints') or [],
            solution=data.get('solution'))


@dataclasses.dataclass(frozen=True)
class State:
    """One card of an exploration."""

    content: dict[str, Any]
    interaction: Interaction
    param_changes: list[Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> 'State':
        return cls(
            content=data.get('content') or {},
            interaction=Interaction.from_dict(data.get('interaction') or {}),
            param_changes=data.get('param_changes') or [])


@dataclasses.dataclass(frozen=True)
class Exploration:
    """An exploration's id, metadata and states by name."""

    id: str
    title: str
    category: str
    language_code: str
    init_state_name: str
    states: dict[str, State]
    states_schema_version: int
