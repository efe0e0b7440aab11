"""The model base class: declared, typed properties kept in a store.

Modelled on App Engine NDB as Oppia used it: a model has a string ``id``,
``deleted``, ``created_on`` and ``last_updated``, plus the properties its
class declares. Its kind is its class name. Models read and write the
current store (see :mod:`models.storage`), so job code never names one.
"""

from __future__ import annotations

import datetime
import json
import types
import uuid
from typing import (Any, Callable, ClassVar, Iterable, Mapping, Sequence,
                    TypeVar)

import msgspec

from models import dry_run
from models import model_query
from models import properties as props
from models import storage

M = TypeVar('M', bound='BaseModel')
_MISSING = object()


class EntityNotFoundError(LookupError):
    """Model.get(id) found no model with that id (or one marked
    deleted)."""


class ModelDataError(ValueError):
    """Stored or assigned data does not fit a model's declared properties.

    The message names the kind, the id and the property at fault.
    """

    def __init__(self, kind: str, model_id: str | None, message: str) -> None:
        super().__init__('%s %r: %s' % (kind, model_id, message))
        self.kind = kind
        self.model_id = model_id


_ONE_MICROSECOND = datetime.timedelta(microseconds=1)
_struct_as_dict = msgspec.structs.asdict


def _decode_json(kind: str, model_id: str, payload: str | bytes) -> Any:
    """The decoded JSON of a stored payload.

    msgspec decodes this framework's payloads faster than json; json is
    the fallback for what json.dumps may write but msgspec refuses (NaN,
    Infinity, lone surrogates), so every payload json reads still decodes.
    """
    try:
        return msgspec.json.decode(payload)
    except msgspec.DecodeError:
        pass
    try:
        return json.loads(payload)
    except ValueError as e:
        raise ModelDataError(
            kind, model_id, 'stored data is not valid JSON: %s' % e) from e


def _values_struct(model_class: type['BaseModel'],
                   typed: bool) -> type[msgspec.Struct] | None:
    """The Struct type that keeps a model's property values, one field per
    property with its default.

    Typed, its fields have the types msgspec decodes and checks the
    properties' stored JSON into, in C: a decoder of it refuses unknown
    properties, values of the wrong type, and required properties that are
    missing or null. None if a property's class is one only its own
    from_json can decode, or msgspec cannot use a name.

    Untyped, every field is Any: it only keeps values that were checked in
    Python. (Building it is not a check: a Struct's constructor checks no
    types.)
    """
    fields = []
    for name, prop in model_class._properties.items():
        if typed:
            decoded = props.decoded_type(prop)
            if decoded is None:
                return None
            if not prop.required:
                decoded = decoded | None
        else:
            decoded = Any
        if prop.required and prop.default is None:
            fields.append((name, decoded))
        elif isinstance(prop.default, (type(None), bool, int, float, str)):
            fields.append((name, decoded, prop.default))
        else:  # A fresh copy of a mutable default for each model.
            fields.append((name, decoded, msgspec.field(
                default_factory=prop.default_value)))
    try:
        return msgspec.defstruct(
            '%sValues' % model_class.__name__, fields,
            forbid_unknown_fields=True, kw_only=True,
            module=model_class.__module__)
    except (TypeError, ValueError, RuntimeError) as e:
        if typed:
            return None
        raise TypeError('%s: its property names cannot be kept: %s'
                        % (model_class.__name__, e)) from e


class _TypedDecoder:
    """A msgspec JSON decoder into a model class's _Values that pickles:
    a model class defined in __main__ is pickled with its attributes, and
    msgspec's decoders do not pickle."""

    __slots__ = ('decode',)

    def __init__(self, values_type: type[msgspec.Struct]) -> None:
        self.decode: Callable[[str | bytes], Any] = msgspec.json.Decoder(
            values_type).decode

    def __reduce__(self) -> tuple[Any, ...]:
        return _TypedDecoder, (self.decode.__self__.type,)


def utcnow() -> datetime.datetime:
    """The current time as a naive UTC datetime, as NDB stored it."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


class BaseModel:
    """Base class of all models.

    Subclasses declare properties as class attributes::

        class UserSettingsModel(BaseModel):
            email = StringProperty(required=True)
            username = StringProperty()
    """

    deleted = props.BooleanProperty(default=False)
    created_on = props.DateTimeProperty()
    last_updated = props.DateTimeProperty()

    # Where Oppia's models had it.
    EntityNotFoundError = EntityNotFoundError

    _properties: ClassVar[dict[str, props.Property]] = {}
    # How from_stored decodes each property: (name, property, the value
    # types it may keep without calling from_json, or None). Computed once
    # per class because from_stored runs for every model a job reads.
    _decode_plan: ClassVar[tuple[tuple[str, props.Property,
                                       frozenset[type] | None], ...]] = ()
    _property_names: ClassVar[frozenset[str]] = frozenset()
    _required_names: ClassVar[tuple[str, ...]] = ()
    # The type of a model's _values (see _values_struct): a Struct, not a
    # dict, because from_stored's typed decoder gives one, and turning it
    # into a dict cost a quarter of building a small model.
    _Values: ClassVar[type[msgspec.Struct]]
    # Decodes the stored JSON into _Values, checking every property:
    # from_stored's fast path, per class (None: no typed _Values).
    _decode_typed: ClassVar['_TypedDecoder | None'] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        found: dict[str, props.Property] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if isinstance(value, props.Property):
                    found[name] = value
        cls._properties = found
        cls._property_names = frozenset(found)
        cls._required_names = tuple(
            name for name, prop in found.items() if prop.required)
        cls._decode_plan = tuple(
            (name, prop, props.pass_through_json_types(prop))
            for name, prop in found.items())
        typed = _values_struct(cls, typed=True)
        cls._Values = typed or _values_struct(cls, typed=False)
        cls._decode_typed = None if typed is None else _TypedDecoder(typed)

    def __init__(self, id: str | None = None, **values: Any) -> None:
        if id is not None and not isinstance(id, str):
            raise ModelDataError(
                self.kind(), repr(id), 'id must be a string, got %s'
                % type(id).__name__)
        self.id = uuid.uuid4().hex if id is None else id
        # The stored last_updated this copy was read at, as a value of the
        # property; None: not read from the store, so put() writes it
        # blindly, as NDB did.
        self._version: Any = None
        self._values = self._Values(**{
            name: prop.default_value()
            for name, prop in self._properties.items()})
        unknown = set(values) - set(self._properties)
        if unknown:
            raise ModelDataError(
                self.kind(), self.id, 'unknown properties: %s'
                % ', '.join(sorted(unknown)))
        try:
            for name, value in values.items():
                setattr(self, name, value)
        except props.PropertyValueError as e:
            raise ModelDataError(self.kind(), self.id, str(e)) from e

    @classmethod
    def kind(cls) -> str:
        """The name under which the store keeps models of this class."""
        return cls.__name__

    def __repr__(self) -> str:
        return '%s(id=%r)' % (self.kind(), self.id)

    def __eq__(self, other: object) -> bool:
        return (type(other) is type(self) and other.id == self.id and
                other._values == self._values and
                other._unknown == self._unknown)

    __hash__ = None  # type: ignore[assignment]  # models are mutable

    # Pickled (Beam may pickle a model it moves between steps) with its
    # values as a dict: a _Values type is made at run time, so pickle could
    # not find it by name.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state['_values'] = _struct_as_dict(self._values)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        state['_values'] = self._Values(**state['_values'])
        self.__dict__.update(state)

    # Stored properties the class does not declare (one a later version
    # removed, say), as stored: kept on write, as NDB kept them, until
    # removed with remove_unknown_property.
    _unknown: Mapping[str, Any] = types.MappingProxyType({})

    def unknown_properties(self) -> dict[str, Any]:
        """The stored properties this class does not declare, by name."""
        return dict(self._unknown)

    def remove_unknown_property(self, name: str) -> None:
        """Drops a stored property the class does not declare, so that the
        next put() stores the model without it (a migration's clean-up).
        Raises KeyError if the model has none of that name."""
        if name not in self._unknown:
            raise KeyError('%s %r has no undeclared property %r' % (
                self.kind(), self.id, name))
        self._unknown = {k: v for k, v in self._unknown.items()
                         if k != name}

    # Conversion to and from the stored form.
    def to_dict(self) -> dict[str, Any]:
        """The JSON-compatible dict of this model's properties (no id),
        with the undeclared ones it was stored with."""
        values = self._values
        stored = {name: prop.to_json(getattr(values, name))
                  for name, prop in self._properties.items()}
        if self._unknown:
            stored.update(self._unknown)
        return stored

    @classmethod
    def from_stored(cls: type[M], model_id: str,
                    payload: storage.Payload) -> M:
        """Builds a model from what a store returned for it.

        Raises ModelDataError, naming the kind, id and property, if the
        payload is not valid JSON, lacks a required property, or has a value
        of the wrong type. Properties the class does not declare are kept
        as they were stored (see unknown_properties).
        """
        typed_decoder = cls._decode_typed
        if typed_decoder is not None and isinstance(payload, (str, bytes)):
            # The fast path: a payload the typed decoder accepts needs no
            # check in Python. Whatever it refuses takes the path below,
            # which finds and names the property at fault (or accepts what
            # only json can read).
            try:
                values = typed_decoder.decode(payload)
            except msgspec.MsgspecError:
                pass
            else:
                model = cls.__new__(cls)
                model.id = model_id
                # The version as msgspec parsed it, not its text: parsing
                # the text again in Python is a large share of reading a
                # small model. put() sends it as text; stores compare
                # instants.
                model._version = values.last_updated
                model._values = values
                return model
        if isinstance(payload, storage.UnreadableRow):
            raise ModelDataError(cls.kind(), model_id, payload.reason)
        if isinstance(payload, (str, bytes)):
            payload = _decode_json(cls.kind(), model_id, payload)
        elif isinstance(payload, dict):
            # Converted in place below: a copy, not the caller's.
            payload = dict(payload)
        if not isinstance(payload, dict):
            raise ModelDataError(
                cls.kind(), model_id, 'stored data is a %s, not an object'
                % type(payload).__name__)
        model = cls.__new__(cls)
        model.id = model_id
        if not payload.keys() <= cls._property_names:
            model._unknown = {
                name: payload.pop(name)
                for name in sorted(payload.keys() - cls._property_names)}
        # The decoded payload is converted in place, then kept as the
        # model's _Values.
        try:
            for name, prop, pass_through in cls._decode_plan:
                value = payload.get(name, _MISSING)
                if value is _MISSING:
                    payload[name] = prop.default_value()
                elif pass_through is None or not (
                        value is None or type(value) in pass_through):
                    payload[name] = prop.from_json(value)
        except props.PropertyValueError as e:
            raise ModelDataError(cls.kind(), model_id, str(e)) from e
        model._values = cls._Values(**payload)
        model._version = model._values.last_updated
        model._check_required()
        return model

    def _check_required(self) -> None:
        values = self._values
        for name in self._required_names:
            if getattr(values, name) is None:
                break
        else:
            return  # The common case, without building a list per model.
        missing = [name for name in self._required_names
                   if getattr(values, name) is None]
        if missing:
            raise ModelDataError(
                self.kind(), self.id, 'missing required properties: %s'
                % ', '.join(missing))

    # Reading.
    @classmethod
    def get(cls: type[M], entity_id: str, strict: bool = True) -> M | None:
        """The model with this id, as Oppia's models got it: None if there
        is none or it is marked deleted, or, if strict, EntityNotFoundError
        naming the kind and id."""
        model = cls.get_by_id(entity_id)
        if model is not None and model.deleted:
            model = None
        if model is None and strict:
            raise EntityNotFoundError(
                '%s %r not found' % (cls.kind(), entity_id))
        return model

    @classmethod
    def query(cls, *filters: props.EqualityFilter) -> model_query.Query:
        """The models whose properties equal the values given, as NDB
        wrote it: cls.query(cls.prop == value, ...).fetch() (see
        models.model_query)."""
        return model_query.Query(cls, filters)

    @classmethod
    def get_by_id(cls: type[M], model_id: str) -> M | None:
        """The model with this id, or None. Deleted-marked models included."""
        return cls.get_multi([model_id])[0]

    @classmethod
    def get_multi(cls: type[M], model_ids: Sequence[str]) -> list[M | None]:
        """The models with these ids, None where absent, in order."""
        payloads = storage.get_store().get(cls.kind(), list(model_ids))
        return [None if p is None else cls.from_stored(i, p)
                for i, p in zip(model_ids, payloads)]

    @classmethod
    def get_all(cls: type[M], include_deleted: bool = False) -> list[M]:
        """Every model of this kind in id order, without those marked deleted
        unless include_deleted."""
        return [m for m in (cls.from_stored(i, p)
                            for i, p in storage.get_store().scan(cls.kind()))
                if include_deleted or not m.deleted]

    # Writing.
    def put(self) -> None:
        """Stores this model, setting created_on and last_updated."""
        self.put_multi([self])

    @classmethod
    def put_multi(cls, models: Iterable['BaseModel']) -> None:
        """Stores models, one transaction per kind. Nothing is written if any
        model is invalid; in a dry run (see models.dry_run), nothing at all.

        A model that was read from the store is only written if the stored
        copy has not changed since (optimistic concurrency): otherwise
        ConflictError is raised and nothing of that kind is written, so a
        concurrent writer's change is never silently overwritten.
        """
        by_kind: dict[str, list[BaseModel]] = {}
        for model in models:
            model._check_required()
            by_kind.setdefault(model.kind(), []).append(model)
        now = utcnow()
        store = storage.get_store()
        for kind, group in by_kind.items():
            previous = [(m.created_on, m.last_updated) for m in group]
            for model in group:
                if model.created_on is None:
                    model.created_on = now
                # Strictly increasing, so a version is never seen twice.
                if model.last_updated is not None and (
                        model.last_updated >= now):
                    model.last_updated += _ONE_MICROSECOND
                else:
                    model.last_updated = now
            # As text, which the stores compare by instant (see
            # storage.same_version).
            recorder = dry_run.current()
            if recorder is not None:
                recorder.record_put(kind, [(m.id, m.to_dict())
                                           for m in group])
                continue
            expected = {
                m.id: m._properties['last_updated'].to_json(m._version)
                for m in group if m._version is not None}
            try:
                store.put(kind, [(m.id, m.to_dict()) for m in group],
                          expected or None)
            except storage.StoreError:
                for model, (created, updated) in zip(group, previous):
                    model.created_on, model.last_updated = created, updated
                raise
            for model in group:
                model._version = model.last_updated

    def delete(self) -> None:
        """Removes this model from the store."""
        self.delete_multi([self])

    @classmethod
    def delete_multi(cls, models: Iterable['BaseModel']) -> None:
        """Removes models from the store, one transaction per kind."""
        by_kind: dict[str, list[str]] = {}
        for model in models:
            by_kind.setdefault(model.kind(), []).append(model.id)
        store = storage.get_store()
        recorder = dry_run.current()
        for kind, ids in by_kind.items():
            if recorder is not None:
                recorder.record_delete(kind, ids)
            else:
                store.delete(kind, ids)
