"""Domain objects of explorations: the read-only view that job code uses
instead of the raw ``states`` dicts of :class:`ExplorationModel`."""

from __future__ import annotations

import dataclasses
from typing import Any

_set_attribute = object.__setattr__


def _frozen(cls: type, fields: dict[str, Any]) -> Any:
    """An instance of the frozen dataclass cls with these field values,
    without its generated __init__.

    A frozen dataclass's __init__ sets each field through
    object.__setattr__; jobs build these objects for every state of every
    exploration they read, so from_dict sets the instance dict in one go
    (the result is equal to, and as frozen as, cls(**fields)).
    """
    instance = cls.__new__(cls)
    _set_attribute(instance, '__dict__', fields)
    return instance


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
        get = data.get
        return _frozen(cls, {
            'id': get('id'),
            'customization_args': get('customization_args') or {},
            'answer_groups': get('answer_groups') or [],
            'default_outcome': get('default_outcome'),
            'hints': get('hints') or [],
            'solution': get('solution')})


@dataclasses.dataclass(frozen=True)
class State:
    """One card of an exploration."""

    content: dict[str, Any]
    interaction: Interaction
    param_changes: list[Any]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> 'State':
        get = data.get
        return _frozen(cls, {
            'content': get('content') or {},
            'interaction': Interaction.from_dict(get('interaction') or {}),
            'param_changes': get('param_changes') or []})


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
