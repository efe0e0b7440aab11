"""Typed model properties in the style of App Engine NDB.

A property validates the values assigned to it and converts them to and from
the JSON-compatible form in which stores keep them. Errors name the model and
the property at fault so that bad data can be traced to one field.
"""

from __future__ import annotations

import copy
import datetime
import operator
from typing import Any, NamedTuple


class PropertyValueError(ValueError):
    """A value does not fit the property it is assigned to."""


class EqualityFilter(NamedTuple):
    """``Model.prop == value``: a filter of a query (see
    models.model_query), as NDB wrote one."""

    model_name: str
    name: str
    value: Any

    def matches(self, model: Any) -> bool:
        """Whether the model's value of the property equals value."""
        return getattr(model, self.name) == self.value


class Property(property):
    """A declared, typed attribute of a model.

    A property of a model class is a Python ``property`` whose getter is an
    attrgetter of the model's ``_values``, so reading a field runs in C: a
    job reads fields of every model it maps, and a ``__get__`` written in
    Python doubled the cost of each read. Assigning a field validates it.

    Args:
        default: The value a new model gets when none is given. Mutable
            defaults are copied for each model.
        required: Whether a stored model must carry this property.
        indexed: Whether a store that indexes properties (Cloud Datastore)
            should index it. Large JSON-like values should not be indexed.
    """

    python_types: tuple[type, ...] = (object,)

    def __init__(
            self, default: Any = None, required: bool = False,
            indexed: bool = True) -> None:
        super().__init__()  # No getter until the property has its name.
        self.default = default
        self.required = required
        self.indexed = indexed
        self.name = '<unbound>'
        self.model_name = '<unbound>'

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name
        self.model_name = owner.__name__
        self._make_accessors()

    def _make_accessors(self) -> None:
        property.__init__(
            self, operator.attrgetter('_values.' + self.name),
            self._set_value, None, '%s.%s, a %s.' % (
                self.model_name, self.name, type(self).__name__))

    def _set_value(self, instance: Any, value: Any) -> None:
        setattr(instance._values, self.name, self.validate(value))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle cannot copy a property's getter and setter (a model class
        # defined in __main__ is pickled with its properties): they are
        # made again from the name.
        return _unpickled_property, (type(self), dict(self.__dict__))

    # Compared with a value, a property makes a query filter, as in NDB;
    # it is still hashed (and found in dicts) as itself.
    __hash__ = property.__hash__

    def __eq__(self, value: Any) -> Any:  # type: ignore[override]
        if isinstance(value, Property):
            return self is value
        return EqualityFilter(self.model_name, self.name,
                              self.validate(value))

    def __ne__(self, value: Any) -> Any:  # type: ignore[override]
        if isinstance(value, Property):
            return self is not value
        raise TypeError('%s.%s != ...: queries take == filters only' % (
            self.model_name, self.name))

    def default_value(self) -> Any:
        """A fresh default value for a new model."""
        return copy.deepcopy(self.default)

    def validate(self, value: Any) -> Any:
        """Returns the value if it fits this property, else raises."""
        if value is None:
            return None
        # bool is a subclass of int: keep True out of integer properties.
        if (not isinstance(value, self.python_types) or
                (isinstance(value, bool) and bool not in self.python_types)):
            raise PropertyValueError(
                '%s.%s expects %s, got %s %r' % (
                    self.model_name, self.name,
                    ' or '.join(t.__name__ for t in self.python_types),
                    type(value).__name__, _short_repr(value)))
        return value

    def to_json(self, value: Any) -> Any:
        """The JSON-compatible form of a validated value."""
        return value

    def from_json(self, value: Any) -> Any:
        """The Python value of a stored JSON value, validated."""
        return self.validate(value)


def _unpickled_property(cls: type[Property],
                        state: dict[str, Any]) -> Property:
    prop = cls.__new__(cls)
    property.__init__(prop)
    prop.__dict__.update(state)
    if prop.name != '<unbound>':
        prop._make_accessors()
    return prop


class StringProperty(Property):
    python_types = (str,)


class IntegerProperty(Property):
    python_types = (int,)


class FloatProperty(Property):
    python_types = (float, int)

    def validate(self, value: Any) -> Any:
        value = super().validate(value)
        return None if value is None else float(value)


class BooleanProperty(Property):
    python_types = (bool,)


class DateTimeProperty(Property):
    """A naive UTC datetime, stored as an ISO 8601 string."""

    python_types = (datetime.datetime,)

    def to_json(self, value: Any) -> Any:
        return None if value is None else value.isoformat()

    def from_json(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise PropertyValueError(
                '%s.%s expects an ISO 8601 datetime string, got %s %r' % (
                    self.model_name, self.name, type(value).__name__,
                    _short_repr(value)))
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError as e:
            raise PropertyValueError(
                '%s.%s: %s' % (self.model_name, self.name, e)) from e


class JsonProperty(Property):
    """Any JSON-like value: dicts, lists, strings, numbers, bools, None.

    Not indexed by default: such values are usually large.
    """

    python_types = (dict, list, str, int, float, bool)

    def __init__(
            self, default: Any = None, required: bool = False,
            indexed: bool = False) -> None:
        super().__init__(default=default, required=required, indexed=indexed)

    def validate(self, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, self.python_types):
            raise PropertyValueError(
                '%s.%s expects a JSON-like value, got %s %r' % (
                    self.model_name, self.name, type(value).__name__,
                    _short_repr(value)))
        return value


# The exact types of decoded JSON values that from_json returns unchanged,
# for the property classes whose from_json is only a type check. Models use
# it to skip the method calls for the common case; anything else (another
# type, None for a subclass, a user-defined property class) goes through
# from_json, which validates and names the property in its errors.
_PASS_THROUGH_JSON_TYPES: dict[type, frozenset[type]] = {
    StringProperty: frozenset({str}),
    IntegerProperty: frozenset({int}),
    BooleanProperty: frozenset({bool}),
    FloatProperty: frozenset({float}),
    JsonProperty: frozenset({dict, list, str, int, float, bool}),
}


# The type msgspec decodes a stored value of each property class into, for
# the classes whose from_json it can stand in for: it accepts what their
# validation accepts (converting ints for FloatProperty, as it does) and
# parses RFC 3339 datetimes, the form DateTimeProperty.to_json writes. What
# it refuses goes through from_json (see BaseModel.from_stored). It differs
# only on datetimes this framework never writes: it also accepts a
# lowercase 't' or 'z', and rounds a fraction beyond microseconds where
# fromisoformat truncates it.
_DECODED_TYPES: dict[type, Any] = {
    StringProperty: str,
    IntegerProperty: int,
    BooleanProperty: bool,
    FloatProperty: float,
    DateTimeProperty: datetime.datetime,
    JsonProperty: dict | list | str | int | float | bool,
}


def decoded_type(prop: Property) -> Any:
    """The type a typed JSON decoder (msgspec) may decode prop's stored
    value into, not counting None; None if only prop.from_json knows."""
    return _DECODED_TYPES.get(type(prop))


def pass_through_json_types(prop: Property) -> frozenset[type] | None:
    """The exact types of decoded JSON values (and None) that
    prop.from_json would return unchanged, or None if that is not known
    for prop's class."""
    return _PASS_THROUGH_JSON_TYPES.get(type(prop))


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + '...'
