"""Domain objects of explorations: the read-only view that job code uses
instead of the raw ``states`` dicts of :class:`ExplorationModel`.

They are views over the model's dicts, not copies: a job builds them for
every state of every exploration it reads, so building one must cost no
more than wrapping a dict (copying each field took a fifth of the count
job's time in profiles). Fields are read-only properties; a field's value
is read from the dict when it is asked for.
"""

from __future__ import annotations

import types
from typing import Any

_new = object.__new__


class _View:
    """A read-only object over a dict; equal to another view of the same
    class whose fields are equal."""

    __slots__ = ('_data',)
    _fields: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """The view of data (not copied: data must not change after)."""
        view = _new(cls)
        view._data = data
        return view

    def to_dict(self) -> dict[str, Any]:
        """The fields as a new dict."""
        return {name: getattr(self, name) for name in self._fields}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]  # fields are dicts and lists

    def __repr__(self) -> str:
        return '%s(%s)' % (type(self).__name__, ', '.join(
            '%s=%r' % item for item in self.to_dict().items()))


class Interaction(_View):
    """How a learner answers in a state. ``id`` is None for no interaction."""

    __slots__ = ()
    _fields = ('id', 'customization_args', 'answer_groups',
               'default_outcome', 'hints', 'solution')

    def __init__(self, id: str | None = None,
                 customization_args: dict[str, Any] | None = None,
                 answer_groups: list[dict[str, Any]] | None = None,
                 default_outcome: dict[str, Any] | None = None,
                 hints: list[dict[str, Any]] | None = None,
                 solution: dict[str, Any] | None = None) -> None:
        self._data = {
            'id': id, 'customization_args': customization_args,
            'answer_groups': answer_groups,
            'default_outcome': default_outcome, 'hints': hints,
            'solution': solution}

    @property
    def id(self) -> str | None:
        return self._data.get('id')

    @property
    def customization_args(self) -> dict[str, Any]:
        return self._data.get('customization_args') or {}

    @property
    def answer_groups(self) -> list[dict[str, Any]]:
        return self._data.get('answer_groups') or []

    @property
    def default_outcome(self) -> dict[str, Any] | None:
        return self._data.get('default_outcome')

    @property
    def hints(self) -> list[dict[str, Any]]:
        return self._data.get('hints') or []

    @property
    def solution(self) -> dict[str, Any] | None:
        return self._data.get('solution')


class State(_View):
    """One card of an exploration."""

    __slots__ = ('_interaction',)
    _fields = ('content', 'interaction', 'param_changes')

    def __init__(self, content: dict[str, Any] | None = None,
                 interaction: Interaction | None = None,
                 param_changes: list[Any] | None = None) -> None:
        self._data = {'content': content, 'param_changes': param_changes}
        self._interaction = interaction

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> 'State':
        view = _new(cls)
        view._data = data
        view._interaction = None
        return view

    @property
    def content(self) -> dict[str, Any]:
        return self._data.get('content') or {}

    @property
    def interaction(self) -> Interaction:
        interaction = self._interaction
        if interaction is None:
            # Built on first use: many jobs never look at it.
            interaction = Interaction.from_dict(
                self._data.get('interaction') or {})
            self._interaction = interaction
        return interaction

    @property
    def param_changes(self) -> list[Any]:
        return self._data.get('param_changes') or []


class Exploration(_View):
    """An exploration's id, metadata and states by name.

    One built by exp_fetchers reads its metadata from the model it was
    built from, when asked.
    """

    __slots__ = ('_states',)
    _fields = ('id', 'title', 'category', 'language_code', 'init_state_name',
               'states', 'states_schema_version')

    def __init__(self, id: str, title: str = '', category: str = '',
                 language_code: str = 'en', init_state_name: str = '',
                 states: dict[str, State] | None = None,
                 states_schema_version: int = 0) -> None:
        self._data = types.SimpleNamespace(
            id=id, title=title, category=category,
            language_code=language_code, init_state_name=init_state_name,
            states_schema_version=states_schema_version)
        self._states = {} if states is None else states

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> 'Exploration':
        """The exploration of a dict with the fields' names, whose
        'states' maps state names to state dicts."""
        fields = {name: data.get(name) for name in cls._fields
                  if name != 'states'}
        return cls.of(types.SimpleNamespace(**fields), {
            name: State.from_dict(state)
            for name, state in (data.get('states') or {}).items()})

    @classmethod
    def of(cls, source: Any, states: dict[str, State]) -> 'Exploration':
        """The exploration whose metadata are source's attributes of the
        same names (read when asked for), with these states."""
        view = _new(cls)
        view._data = source
        view._states = states
        return view

    @property
    def id(self) -> str:
        return self._data.id

    @property
    def title(self) -> str:
        return self._data.title

    @property
    def category(self) -> str:
        return self._data.category

    @property
    def language_code(self) -> str:
        return self._data.language_code

    @property
    def init_state_name(self) -> str:
        return self._data.init_state_name

    @property
    def states(self) -> dict[str, State]:
        return self._states

    @property
    def states_schema_version(self) -> int:
        return self._data.states_schema_version
