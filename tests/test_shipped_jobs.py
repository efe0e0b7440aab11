"""The shipped jobs over generated demo data agree with the same
computation done directly over the store."""

from __future__ import annotations

import collections
import datetime

import pytest

from beam_jobs import demo_data
from beam_jobs import exp_jobs_one_off
from beam_jobs import user_jobs_one_off
from models import exp_models
from models import user_models


@pytest.fixture
def demo_store(store):
    demo_data.seed(explorations=300, users=400, seed=7)
    return store


def _run(job_class, params=None):
    job_id = job_class.create_new()
    if params is None:
        job_class.enqueue(job_id)
    else:
        job_class.enqueue(job_id, additional_job_params=params)
    assert job_class.get_status_code(job_id) == 'completed', (
        job_class.get_error(job_id))
    return job_class.get_output(job_id)


def test_demo_data_is_deterministic_and_has_broken_and_deleted_models(
        demo_store):
    explorations = exp_models.ExplorationModel.get_all(include_deleted=True)
    assert len(explorations) == 300
    assert any(m.deleted for m in explorations)
    assert any(m.init_state_name not in m.states for m in explorations)
    stored = next(
        m for m in explorations if m.id == demo_data.exploration_id(5))
    made = demo_data.make_exploration(5, seed=7)
    assert (stored.title, stored.states) == (made.title, made.states)


def test_interaction_audit_matches_a_direct_computation(demo_store):
    expected = collections.defaultdict(list)
    for model in exp_models.ExplorationModel.get_all():
        for name, state in model.states.items():
            expected[state['interaction']['id']].append(
                '%s %s' % (model.id, name))
    output = _run(exp_jobs_one_off.InteractionAuditOneOffJob)
    got = {key: sorted(values) for key, values in map(eval, output)}
    assert got == {k: sorted(v) for k, v in expected.items()}


def test_states_audit_lists_exactly_the_broken_explorations(demo_store):
    expected = collections.defaultdict(list)
    for model in exp_models.ExplorationModel.get_all():
        if model.init_state_name not in model.states:
            expected['INIT_STATE_MISSING'].append(model.id)
        interactions = [s['interaction'] for s in model.states.values()]
        if any(not i['id'] for i in interactions):
            expected['NO_INTERACTION'].append(model.id)
        dests = [o['dest'] for i in interactions for o in
                 [g['outcome'] for g in i['answer_groups']] +
                 [i['default_outcome'] or {}] if o.get('dest')]
        if any(d not in model.states for d in dests):
            expected['DANGLING_DESTINATION'].append(model.id)
    assert expected  # The demo data has broken explorations.
    output = _run(exp_jobs_one_off.ExplorationStatesAuditOneOffJob)
    assert output == [str((k, len(v), sorted(v)))
                      for k, v in sorted(expected.items())]


def test_username_length_distribution(demo_store):
    expected = collections.Counter(
        len(u.username) if u.username else None
        for u in user_models.UserSettingsModel.get_all())
    output = _run(user_jobs_one_off.UsernameLengthDistributionOneOffJob)
    assert sorted(map(eval, output), key=repr) == sorted(
        expected.items(), key=repr)
    assert sum(count for _, count in map(eval, output)) == len(
        user_models.UserSettingsModel.get_all())


def test_email_domain_count(demo_store):
    expected = collections.Counter(
        u.email.rpartition('@')[2] for u in
        user_models.UserSettingsModel.get_all())
    output = _run(user_jobs_one_off.EmailDomainCountOneOffJob)
    assert output == ['%s: %d' % item for item in sorted(expected.items())]


def test_inactive_users_with_cutoff_param(demo_store):
    cutoff = datetime.datetime(2022, 1, 1)
    expected = sorted(
        u.id for u in user_models.UserSettingsModel.get_all()
        if u.last_logged_in is None or u.last_logged_in < cutoff)
    output = _run(user_jobs_one_off.InactiveUsersOneOffJob,
                  {'cutoff_date': '2022-01-01'})
    assert output == [str(('inactive', len(expected), expected))]
