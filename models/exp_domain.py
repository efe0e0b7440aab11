"""Domain objects of explorations: the read-only view that job code uses
instead of the raw ``states`` dicts of :class:`ExplorationModel`.

They are views over the model's dicts, not copies: a job builds them for
every state of every exploration it reads, so building one must cost no
more than wrapping a dict (copying each field took a fifth of the count
job's time in profiles). Fields are read-only; a field's value is read from
the dict when it is asked for, except the two that jobs read for every
state, ``State.interaction`` and ``Interaction.id``, which are kept when
the view is built.

``State`` and ``Interaction`` are frozen msgspec Structs for that reason:
a Struct is built by one C call and its fields are read in C, where a
Python class took a Python call per view and per field read. Build them with
``from_dict``; their own constructors take the dict and the kept field.
"""

from __future__ import annotations

import types
from typing import Any

import msgspec


class StateDataError(ValueError):
    """An exploration's states, a state or its interaction is not a dict;
    the message names the state."""


class _View:
    """Read-only fields over a dict; equal to another view of the same
    class whose fields are equal."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

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


class Interaction(_View, msgspec.Struct, frozen=True):
    """How a learner answers in a state. ``id`` is None for no interaction.

    Build one with ``from_dict`` from a dict of its fields.
    """

    _data: dict[str, Any]
    id: str | None

    _fields = ('id', 'customization_args', 'answer_groups',
               'default_outcome', 'hints', 'solution')

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> 'Interaction':
        """The view of an interaction dict (not copied: data must not
        change after)."""
        return cls(data, data.get('id'))

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


class State(_View, msgspec.Struct, frozen=True):
    """One card of an exploration.

    Build one with ``from_dict`` from a state dict, whose 'interaction' is
    a dict of the interaction's fields.
    """

    _data: dict[str, Any]
    interaction: Interaction

    _fields = ('content', 'interaction', 'param_changes')

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> 'State':
        """The view of a state dict (not copied: data must not change
        after). Raises StateDataError if it or its interaction is not a
        dict."""
        # A state without a name: its errors say "the state".
        error = _not_a_dict_error('the state', data)
        if error is not None:
            raise error
        return states_of({'': data})['']

    @property
    def content(self) -> dict[str, Any]:
        return self._data.get('content') or {}

    @property
    def param_changes(self) -> list[Any]:
        return self._data.get('param_changes') or []


def states_of(states: dict[str, Any]) -> dict[str, State]:
    """The State views of a dict of state dicts, by name.

    Raises StateDataError, naming the state, if the states, a state or its
    interaction is not a dict.
    """
    if not isinstance(states, dict):
        raise StateDataError('states is a %s, not a dict'
                             % type(states).__name__)
    # One loop with the constructors inlined: jobs call this for every
    # exploration they read.
    views = {}
    try:
        for name, data in states.items():
            interaction = data.get('interaction') or {}
            views[name] = State(data, Interaction(
                interaction, interaction.get('id')))
    except AttributeError:  # A state or an interaction without .get.
        raise _not_a_dict(states) from None
    return views


def _not_a_dict(states: dict[str, Any]) -> StateDataError:
    for name, data in states.items():
        error = _not_a_dict_error('state %r' % name, data)
        if error is not None:
            return error
    raise AssertionError('every state and interaction is a dict')


def _not_a_dict_error(state: str, data: Any) -> StateDataError | None:
    """The error for the state described as state (e.g. "state 'Intro'")
    if it or its interaction is not a dict, else None."""
    if not isinstance(data, dict):
        return StateDataError('%s is a %s, not a dict'
                              % (state, type(data).__name__))
    interaction = data.get('interaction') or {}
    if not isinstance(interaction, dict):
        return StateDataError('the interaction of %s is a %s, not a dict'
                              % (state, type(interaction).__name__))
    return None


class Exploration(_View):
    """An exploration's id, metadata and states by name.

    One built by exp_fetchers reads its metadata from the model it was
    built from, when asked.
    """

    __slots__ = ('_data', '_states')
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
        'states' maps state names to state dicts. Raises StateDataError if
        a state or its interaction is not a dict."""
        fields = {name: data.get(name) for name in cls._fields
                  if name != 'states'}
        return cls.of(types.SimpleNamespace(**fields),
                      states_of(data.get('states') or {}))

    @classmethod
    def of(cls, source: Any, states: dict[str, State]) -> 'Exploration':
        """The exploration whose metadata are source's attributes of the
        same names (read when asked for), with these states."""
        view = object.__new__(cls)
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
