"""The NDB-era model API jobs of the old framework use, on both stores:
get(id, strict), query(Model.prop == value) with fetch, iteration and
count, and stored properties a class does not declare, kept on write and
removable."""

from __future__ import annotations

import json

import pytest

from models import base_models
from models import model_query
from models import user_models

User = user_models.UserSettingsModel



def _users():
    User.put_multi([
        User(id='u1', email='a@x.org', username='ann'),
        User(id='u2', email='b@x.org', username='bob'),
        User(id='u3', email='c@y.org', username='ann'),
        User(id='u4', email='d@y.org', username='ann', deleted=True)])


def test_get_is_strict_unless_asked_and_skips_deleted(any_store):
    _users()
    assert User.get('u1').email == 'a@x.org'
    with pytest.raises(User.EntityNotFoundError,
                       match="UserSettingsModel 'nope' not found"):
        User.get('nope')
    assert User.get('nope', strict=False) is None
    # Marked deleted: not found, as Oppia's get had it.
    assert User.get('u4', strict=False) is None
    with pytest.raises(base_models.EntityNotFoundError):
        User.get('u4')


def test_query_by_equality_fetches_iterates_and_counts(any_store):
    _users()
    query = User.query(User.username == 'ann')
    assert [u.id for u in query.fetch()] == ['u1', 'u3', 'u4']
    assert [u.id for u in query] == ['u1', 'u3', 'u4']
    assert query.count() == 3
    live = query.filter(User.deleted == False)  # noqa: E712 (NDB's form)
    assert [u.id for u in live.fetch()] == ['u1', 'u3']
    both = User.query(User.username == 'ann', User.email == 'c@y.org')
    assert both.get().id == 'u3'
    assert [u.id for u in User.query().fetch(2)] == ['u1', 'u2']
    assert User.query(User.username == 'zed').get() is None


def test_query_refuses_what_is_not_one_of_its_filters(any_store):
    with pytest.raises(model_query.QueryError,
                       match=r'takes filters such as'):
        User.query('username == ann')
    with pytest.raises(TypeError, match='== filters only'):
        User.query(User.username != 'ann')
    # A filter's value is checked as the property checks what it holds.
    with pytest.raises(Exception, match='expects str, got int'):
        User.query(User.username == 3)


def test_undeclared_stored_properties_are_kept_and_removable(any_store):
    any_store.put('UserSettingsModel', [
        ('u1', {'email': 'a@x.org', 'default_dashboard': 'learner'})])
    user = User.get('u1')
    assert user.unknown_properties() == {'default_dashboard': 'learner'}
    user.username = 'ann'
    user.put()
    # Kept on write, as NDB kept it.
    [stored] = any_store.get('UserSettingsModel', ['u1'])
    assert _as_dict(stored)['default_dashboard'] == 'learner'
    user = User.get('u1')
    user.remove_unknown_property('default_dashboard')
    user.put()
    [stored] = any_store.get('UserSettingsModel', ['u1'])
    assert 'default_dashboard' not in _as_dict(stored)
    assert User.get('u1').username == 'ann'
    with pytest.raises(KeyError, match="has no undeclared property"):
        User.get('u1').remove_unknown_property('default_dashboard')


def _as_dict(payload):
    return payload if isinstance(payload, dict) else json.loads(payload)
