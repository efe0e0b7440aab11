"""Queries of models by equality of their properties, as NDB wrote them::

    UserSettingsModel.query(UserSettingsModel.email == 'a@b.org').fetch()

A query reads the kind in id order and keeps the models every filter
matches, on any store (so it reads the whole kind: for jobs' and tests'
look-ups, not for serving requests). Deleted-marked models are included,
as NDB's were; filter on deleted == False to leave them out.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from models import properties as props
from models import storage


class QueryError(TypeError):
    """A query was given something that is not a filter of its kind."""


class Query:
    """The models of one class that every filter matches, in id order."""

    def __init__(self, model_class: type,
                 filters: Sequence[props.EqualityFilter] = ()) -> None:
        for found in filters:
            if not (isinstance(found, props.EqualityFilter) and
                    found.name in model_class._properties):
                raise QueryError(
                    '%s.query() takes filters such as %s.prop == value, '
                    'got %r' % (model_class.__name__, model_class.__name__,
                                found))
        self._model_class = model_class
        self._filters = tuple(filters)

    def filter(self, *filters: props.EqualityFilter) -> 'Query':
        """This query with more filters."""
        return Query(self._model_class, self._filters + filters)

    def __iter__(self) -> Iterator[Any]:
        model_class = self._model_class
        filters = self._filters
        for model_id, payload in storage.get_store().scan(
                model_class.kind()):
            model = model_class.from_stored(model_id, payload)
            if all(found.matches(model) for found in filters):
                yield model

    def fetch(self, limit: int | None = None
              ) -> list[Any]:
        """The matching models (the first limit of them, if given)."""
        found = []
        for model in self:
            if limit is not None and len(found) >= limit:
                break
            found.append(model)
        return found

    def get(self) -> Any:
        """The first matching model, or None."""
        return next(iter(self), None)

    def count(self, limit: int | None = None) -> int:
        """How many models match (counting stops at limit, if given)."""
        return len(self.fetch(limit))

    def __repr__(self) -> str:
        return '%s.query(%s)' % (self._model_class.__name__, ', '.join(
            '%s == %r' % (f.name, f.value) for f in self._filters))
