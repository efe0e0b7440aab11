"""Models: properties, validation, and reading and writing through the
real SQLite store."""

from __future__ import annotations

import copy
import datetime
import json
import pickle
import sqlite3

import pytest
from apache_beam.internal import pickler as beam_pickler

from beam_jobs import demo_data
from models import base_models
from models import exp_domain
from models import exp_fetchers
from models import exp_models
from models import properties as props
from models import storage
from models import user_models
from tests import sample_jobs


def _exploration(model_id: str, **values) -> exp_models.ExplorationModel:
    values.setdefault('init_state_name', 'Intro')
    values.setdefault('states', {'Intro': {'content': {}, 'interaction': {
        'id': 'TextInput'}}})
    return exp_models.ExplorationModel(id=model_id, **values)


def test_defaults_are_fresh_copies_per_model():
    first, second = _exploration('a'), _exploration('b')
    first.tags.append('x')
    assert second.tags == []
    assert first.deleted is False
    assert first.created_on is None


def test_kind_is_class_name():
    assert exp_models.ExplorationModel.kind() == 'ExplorationModel'


def test_wrong_type_names_model_and_field():
    with pytest.raises(base_models.ModelDataError,
                       match=r"ExplorationModel 'e1'.*ExplorationModel\."
                       r"title expects str, got int"):
        _exploration('e1', title=3)


def test_unknown_property_is_refused():
    with pytest.raises(base_models.ModelDataError,
                       match='unknown properties: colour'):
        _exploration('e1', colour='red')


def test_bool_is_not_an_integer():
    with pytest.raises(base_models.ModelDataError,
                       match='states_schema_version expects int'):
        _exploration('e1', states_schema_version=True)


def test_put_sets_timestamps_and_round_trips(store):
    model = _exploration('e1', title='Fractions', tags=['math'])
    model.put()
    assert model.created_on is not None
    assert model.last_updated == model.created_on
    loaded = exp_models.ExplorationModel.get_by_id('e1')
    assert loaded == model
    assert loaded.created_on == model.created_on
    assert isinstance(loaded.created_on, datetime.datetime)


def test_second_put_keeps_created_on(store):
    model = _exploration('e1')
    model.put()
    created = model.created_on
    model.title = 'Changed'
    model.put()
    loaded = exp_models.ExplorationModel.get_by_id('e1')
    assert loaded.created_on == created
    assert loaded.last_updated >= created
    assert loaded.title == 'Changed'


def test_get_multi_keeps_order_and_gives_none_for_missing(store):
    exp_models.ExplorationModel.put_multi(
        [_exploration('a'), _exploration('b')])
    found = exp_models.ExplorationModel.get_multi(['b', 'zz', 'a'])
    assert [m and m.id for m in found] == ['b', None, 'a']


def test_get_all_skips_deleted_unless_asked(store):
    exp_models.ExplorationModel.put_multi([
        _exploration('a'), _exploration('b', deleted=True),
        _exploration('c')])
    assert [m.id for m in exp_models.ExplorationModel.get_all()] == ['a', 'c']
    assert [m.id for m in exp_models.ExplorationModel.get_all(
        include_deleted=True)] == ['a', 'b', 'c']


def test_delete_and_delete_multi(store):
    models = [_exploration(i) for i in 'abc']
    exp_models.ExplorationModel.put_multi(models)
    models[0].delete()
    exp_models.ExplorationModel.delete_multi(models[1:2])
    assert [m.id for m in exp_models.ExplorationModel.get_all()] == ['c']


def test_put_multi_writes_nothing_if_one_model_is_invalid(store):
    good = user_models.UserSettingsModel(id='u1', email='a@b.c')
    bad = user_models.UserSettingsModel(id='u2')  # email is required
    with pytest.raises(base_models.ModelDataError,
                       match=r"UserSettingsModel 'u2': missing required "
                       r"properties: email"):
        user_models.UserSettingsModel.put_multi([good, bad])
    assert user_models.UserSettingsModel.get_by_id('u1') is None


def test_models_of_several_kinds_are_kept_apart(store):
    user_models.UserSettingsModel(id='same', email='a@b.c').put()
    sample_jobs.NoteModel(id='same', text='hello').put()
    assert user_models.UserSettingsModel.get_by_id('same').email == 'a@b.c'
    assert sample_jobs.NoteModel.get_by_id('same').text == 'hello'
    assert store.count('UserSettingsModel') == 1
    assert store.count('NoteModel') == 1


def test_stored_rows_are_plain_json(store, store_path):
    user_models.UserSettingsModel(
        id='u1', email='a@b.c', username=None,
        last_logged_in=datetime.datetime(2024, 5, 6, 7, 8, 9)).put()
    with sqlite3.connect(store_path) as conn:
        kind, data = conn.execute(
            "SELECT kind, data FROM models WHERE id = 'u1'").fetchone()
    assert kind == 'UserSettingsModel'
    stored = json.loads(data)
    assert stored['email'] == 'a@b.c'
    assert stored['username'] is None
    assert stored['last_logged_in'] == '2024-05-06T07:08:09'


@pytest.mark.parametrize('payload, message', [
    ('{not json', 'stored data is not valid JSON'),
    ('[1, 2]', 'stored data is a list, not an object'),
    ('{"username": "x"}', 'missing required properties: email'),
    ('{"email": 42}', 'UserSettingsModel.email expects str, got int'),
    ('{"email": "a@b.c", "last_logged_in": "yesterday"}',
     'UserSettingsModel.last_logged_in'),
])
def test_bad_stored_data_is_reported_with_kind_id_and_field(payload, message):
    with pytest.raises(base_models.ModelDataError) as raised:
        user_models.UserSettingsModel.from_stored('u9', payload)
    assert "UserSettingsModel 'u9'" in str(raised.value)
    assert message in str(raised.value)


def test_exploration_fetcher_gives_interaction_ids():
    model = _exploration('e1', states={
        'Intro': {'content': {}, 'interaction': {'id': 'TextInput'}},
        'End': {'content': {}, 'interaction': {'id': 'EndExploration'}},
        'Blank': {}})
    exploration = exp_fetchers.get_exploration_from_model(model)
    assert {name: state.interaction.id
            for name, state in exploration.states.items()} == {
        'Intro': 'TextInput', 'End': 'EndExploration', 'Blank': None}


def test_exploration_fetcher_names_a_malformed_state():
    model = _exploration('e1', states={'Intro': 'oops'})
    with pytest.raises(ValueError, match="ExplorationModel 'e1': state "
                       "'Intro' is a str"):
        exp_fetchers.get_exploration_from_model(model)


def test_put_of_a_stale_copy_is_refused_and_keeps_the_newer_write(store):
    user_models.UserSettingsModel(id='u1', email='a@b.c').put()
    first = user_models.UserSettingsModel.get_by_id('u1')
    second = user_models.UserSettingsModel.get_by_id('u1')
    first.username = 'first'
    first.put()
    second.username = 'second'
    with pytest.raises(storage.ConflictError,
                       match="UserSettingsModel 'u1' was changed by another "
                       "writer since it was read"):
        second.put()
    assert user_models.UserSettingsModel.get_by_id('u1').username == 'first'
    # The copy that won can be written again.
    first.username = 'first again'
    first.put()
    assert user_models.UserSettingsModel.get_by_id('u1').username == (
        'first again')


@pytest.mark.parametrize('stored_version', [
    '2024-01-02T03:04:05.100',  # isoformat writes .100000
    '2024-01-02T03:04:05.1234567',  # beyond microseconds
    '2024-01-02T03:04:05.000000',  # isoformat writes no fraction
])
@pytest.mark.parametrize('typed', [True, False])
def test_a_version_stored_in_another_form_is_still_the_version_read(
        store, stored_version, typed, monkeypatch):
    # A model keeps the version it read as a datetime and put() sends it
    # in isoformat's form: the store must see the same instant, not refuse
    # the write as a conflict.
    if not typed:
        monkeypatch.setattr(user_models.UserSettingsModel, '_decode_typed',
                            None)
    storage.get_store().put('UserSettingsModel', [
        ('u1', {'email': 'a@b.c', 'last_updated': stored_version})])
    stale = user_models.UserSettingsModel.get_by_id('u1')
    model = user_models.UserSettingsModel.get_by_id('u1')
    model.username = 'new'
    model.put()
    assert user_models.UserSettingsModel.get_by_id('u1').username == 'new'
    stale.username = 'stale'
    with pytest.raises(storage.ConflictError):
        stale.put()


def test_same_version_compares_instants_and_refuses_what_is_not_one():
    assert storage.same_version('2024-01-02T03:04:05', '2024-01-02T03:04:05')
    assert storage.same_version('2024-01-02T03:04:05.5',
                                '2024-01-02T03:04:05.500000')
    assert not storage.same_version('2024-01-02T03:04:05',
                                    '2024-01-02T03:04:05.000001')
    assert not storage.same_version('<unreadable>', '2024-01-02T03:04:05')
    assert not storage.same_version(None, '2024-01-02T03:04:05')
    assert storage.same_version(None, None)


def test_put_of_a_copy_deleted_meanwhile_is_a_conflict(store):
    user_models.UserSettingsModel(id='u1', email='a@b.c').put()
    copy = user_models.UserSettingsModel.get_by_id('u1')
    copy.delete()
    with pytest.raises(storage.ConflictError):
        copy.put()


def test_new_models_are_written_blindly_as_in_ndb(store):
    user_models.UserSettingsModel(id='u1', email='old@b.c').put()
    user_models.UserSettingsModel(id='u1', email='new@b.c').put()
    assert user_models.UserSettingsModel.get_by_id('u1').email == 'new@b.c'


def test_a_conflict_writes_nothing_of_the_batch(store):
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(id=i, email='%s@b.c' % i)
        for i in ('u1', 'u2')])
    u1, u2 = user_models.UserSettingsModel.get_multi(['u1', 'u2'])
    fresh_u2 = user_models.UserSettingsModel.get_by_id('u2')
    fresh_u2.username = 'winner'
    fresh_u2.put()
    u1.username, u2.username = 'lost', 'lost'
    with pytest.raises(storage.ConflictError):
        user_models.UserSettingsModel.put_multi([u1, u2])
    assert [m.username for m in user_models.UserSettingsModel.get_multi(
        ['u1', 'u2'])] == [None, 'winner']


def test_stored_values_json_cannot_decode_fast_still_load():
    # json.dumps writes NaN and integers beyond 64 bits; msgspec refuses
    # NaN, so from_stored falls back to json for such payloads.
    model = exp_models.ExplorationModel.from_stored(
        'e1', '{"init_state_name": "A", "states_schema_version": '
        '123456789012345678901234567890, "tags": [NaN]}')
    assert model.states_schema_version == 123456789012345678901234567890
    assert model.tags[0] != model.tags[0]  # NaN


def test_stored_values_of_a_subclass_type_go_through_validation():
    # A value of the right JSON type is kept as is; a bool where an int is
    # declared is still refused (bool is a subclass of int).
    with pytest.raises(base_models.ModelDataError,
                       match='states_schema_version expects int, got bool'):
        exp_models.ExplorationModel.from_stored(
            'e1', {'init_state_name': 'A', 'states_schema_version': True})
    model = exp_models.ExplorationModel.from_stored(
        'e1', b'{"init_state_name": "A", "states_schema_version": 3}')
    assert (model.states_schema_version, model.tags) == (3, [])


def _read_both_ways(model_class, model_id, payload, monkeypatch):
    """The model from_stored builds with its typed decoder, and the one the
    checks in Python build."""
    fast = model_class.from_stored(model_id, payload)
    with monkeypatch.context() as patch:
        patch.setattr(model_class, '_decode_typed', None)
        exact = model_class.from_stored(model_id, payload)
    return fast, exact


@pytest.mark.parametrize('index', range(40))
def test_typed_decoding_gives_the_models_the_python_checks_give(
        index, monkeypatch):
    for model in (demo_data.make_user(index), demo_data.make_exploration(
            index)):
        model.created_on = datetime.datetime(2024, 1, 2, 3, 4, 5, 6789)
        model.last_updated = datetime.datetime(2024, 1, 2, 3, 4, 5)
        payload = json.dumps(model.to_dict())
        fast, exact = _read_both_ways(type(model), model.id, payload,
                                      monkeypatch)
        assert fast == exact == model
        assert fast._version == exact._version == model.last_updated


@pytest.mark.parametrize('payload', [
    '{"email": "a@b.c"}',  # The rest missing: defaults.
    '{"email": "a@b.c", "deleted": null, "username": null}',
    '{"email": "a@b.c", "last_logged_in": "2024-01-02T03:04:05Z", '
    '"last_updated": "2024-01-02T03:04:05+01:00"}',
    '{"email": "a@b.c", "preferred_language_codes": {"any": [1.5, null]}}',
])
def test_typed_decoding_agrees_on_defaults_nulls_and_time_zones(
        payload, monkeypatch):
    fast, exact = _read_both_ways(
        user_models.UserSettingsModel, 'u1', payload, monkeypatch)
    assert fast == exact
    assert fast._version == exact._version


def test_a_property_and_the_typed_decoder_survive_pickling():
    # As they must for a model class defined in __main__, which Beam
    # pickles by value (see test_jobs).
    model = user_models.UserSettingsModel(id='u1', email='a@b.c')
    email = pickle.loads(pickle.dumps(user_models.UserSettingsModel.email))
    assert (email.name, email.required) == ('email', True)
    assert email.__get__(model) == 'a@b.c'
    with pytest.raises(props.PropertyValueError,
                       match='UserSettingsModel.email expects str'):
        email.__set__(model, 3)
    decoder = beam_pickler.loads(beam_pickler.dumps(
        user_models.UserSettingsModel._decode_typed))
    assert decoder.decode(b'{"email": "x@y.z"}').email == 'x@y.z'


def test_typed_decoding_gives_each_model_its_own_mutable_default():
    first, second = (user_models.UserSettingsModel.from_stored(
        i, '{"email": "a@b.c"}') for i in ('u1', 'u2'))
    first.preferred_language_codes.append('fr')
    assert second.preferred_language_codes == []


class _ScoreModel(base_models.BaseModel):
    score = props.FloatProperty()
    count = props.IntegerProperty(required=True)


def test_typed_decoding_converts_ints_of_float_properties(monkeypatch):
    fast, exact = _read_both_ways(
        _ScoreModel, 's1', '{"score": 3, "count": 1}', monkeypatch)
    assert fast.score == exact.score == 3.0
    assert type(fast.score) is float


@pytest.mark.parametrize('payload, message', [
    ('{"count": 1.0}', '_ScoreModel.count expects int, got float'),
    ('{"count": true}', '_ScoreModel.count expects int, got bool'),
    ('{"count": 1, "score": false}',
     '_ScoreModel.score expects float or int, got bool'),
    ('{"count": null}', 'missing required properties: count'),
    ('{"count": 1, "last_updated": "2024-13-01T00:00:00"}',
     'last_updated: month must be in 1..12'),
])
def test_what_typed_decoding_refuses_is_reported_as_before(payload, message):
    with pytest.raises(base_models.ModelDataError, match=message):
        _ScoreModel.from_stored('s1', payload)


class UpperProperty(props.StringProperty):
    """A property class of a job author's own: only its from_json reads
    it, so its models have no typed decoder."""

    def from_json(self, value):
        return super().from_json(value).upper()


def test_a_model_with_its_own_property_class_is_read_by_its_from_json():
    class ShoutModel(base_models.BaseModel):
        text = UpperProperty()

    assert ShoutModel._decode_typed is None
    assert ShoutModel.from_stored('s1', '{"text": "hi"}').text == 'HI'


def test_a_model_of_its_own_property_class_keeps_and_writes_values(store):
    class LoudModel(base_models.BaseModel):
        text = UpperProperty(required=True)
        count = props.IntegerProperty(default=0)

    model = LoudModel(id='l1', text='a')
    model.count = 3
    model.put()
    read = LoudModel.get_by_id('l1')
    assert (read.text, read.count) == ('A', 3)
    with pytest.raises(props.PropertyValueError, match='LoudModel.count'):
        read.count = 'three'
    assert read.count == 3
    with pytest.raises(base_models.ModelDataError, match='required.*text'):
        LoudModel.from_stored('l2', '{"count": 1}')


@pytest.mark.parametrize('copy_of', [
    lambda model: pickle.loads(pickle.dumps(model)),
    copy.deepcopy,
], ids=['pickle', 'deepcopy'])
def test_a_model_read_from_the_store_copies_whole(store, copy_of):
    _exploration('e1', tags=['t']).put()
    model = exp_models.ExplorationModel.get_by_id('e1')
    model.note = 'set by job code'
    copied = copy_of(model)
    assert copied == model
    assert copied.note == 'set by job code'
    copied.tags.append('u')
    copied.title = 'changed'
    copied.put()  # Read at the same version: no conflict.
    assert model.tags == ['t']
    assert exp_models.ExplorationModel.get_by_id('e1').title == 'changed'


def test_a_property_name_a_model_cannot_keep_is_refused_with_the_class():
    with pytest.raises(TypeError, match='OddModel.*__weakref__'):
        class OddModel(base_models.BaseModel):
            __weakref__ = props.StringProperty()


def test_exploration_domain_objects_are_frozen_and_equal_by_fields():
    data = {'content': {'html': '<p>x</p>'},
            'interaction': {'id': 'TextInput', 'hints': [{'h': 1}]}}
    state = exp_domain.State.from_dict(data)
    # Equal to the view of a dict that spells out every field's default.
    assert state == exp_domain.State.from_dict({
        'content': {'html': '<p>x</p>'},
        'interaction': {
            'id': 'TextInput', 'customization_args': {}, 'answer_groups': [],
            'default_outcome': None, 'hints': [{'h': 1}], 'solution': None},
        'param_changes': []})
    assert state != exp_domain.State.from_dict(
        {'content': {'html': '<p>x</p>'}, 'interaction': {'id': 'Continue'}})
    assert state.interaction.to_dict() == {
        'id': 'TextInput', 'customization_args': {}, 'answer_groups': [],
        'default_outcome': None, 'hints': [{'h': 1}], 'solution': None}
    with pytest.raises(AttributeError):
        state.interaction.id = 'Continue'
    with pytest.raises(AttributeError):
        state.interaction = exp_domain.Interaction.from_dict({})
    with pytest.raises(TypeError):
        hash(state)


@pytest.mark.parametrize('data, message', [
    (['not', 'a', 'state'], 'the state is a list, not a dict'),
    ({'interaction': 'TextInput'},
     'the interaction of the state is a str, not a dict'),
])
def test_a_state_that_is_not_a_dict_is_refused_without_a_made_up_name(
        data, message):
    with pytest.raises(exp_domain.StateDataError) as raised:
        exp_domain.State.from_dict(data)
    assert str(raised.value) == message


def test_exploration_fetcher_gives_metadata_and_equals_constructed():
    model = _exploration('e1', states={'Intro': {'interaction': {}}})
    exploration = exp_fetchers.get_exploration_from_model(model)
    assert exploration == exp_domain.Exploration(
        id='e1', title=model.title, category=model.category,
        language_code=model.language_code,
        init_state_name=model.init_state_name,
        states={'Intro': exp_domain.State.from_dict({})},
        states_schema_version=model.states_schema_version)
    assert 'Interaction(id=None' in repr(exploration)
    with pytest.raises(AttributeError):
        exploration.title = 'changed'


@pytest.mark.parametrize('states, message', [
    ({'Intro': {}, 'End': 'not a state'},
     "ExplorationModel 'e1': state 'End' is a str, not a dict"),
    ({'Intro': {'interaction': ['TextInput']}},
     "ExplorationModel 'e1': the interaction of state 'Intro' is a list, "
     "not a dict"),
    (['Intro'], "ExplorationModel 'e1': states is a list, not a dict"),
])
def test_exploration_fetcher_names_the_exploration_and_state_at_fault(
        states, message):
    model = _exploration('e1', states=states)
    with pytest.raises(ValueError) as caught:
        exp_fetchers.get_exploration_from_model(model)
    assert str(caught.value) == message


def test_exploration_from_dict_views_its_states():
    exploration = exp_domain.Exploration.from_dict({
        'id': 'e1', 'title': 'T', 'init_state_name': 'A',
        'states': {'A': {'interaction': {'id': 'Continue'}}}})
    assert (exploration.id, exploration.title, exploration.init_state_name,
            exploration.states['A'].interaction.id) == (
        'e1', 'T', 'A', 'Continue')
