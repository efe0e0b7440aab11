"""The admin page's JSON API, through Starlette's test client on a real
SQLite store: every endpoint, the token, CSRF, escaping and paging."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from beam_jobs import jobs_registry
from beam_jobs import launcher
from models import exp_models
from models import storage
from tests import sample_jobs
from web import server

TOKEN = 'test-token'
AUTH = {'Authorization': 'Bearer ' + TOKEN}


@pytest.fixture
def started():
    """The runs the API started, each run here at once (as the process
    start_run_process starts would run it)."""
    return []


@pytest.fixture
def client(store, started):
    def run_here(job_class, job_id):
        started.append(job_id)
        launcher.run_queued(job_class, job_id)

    return TestClient(server.create_app(TOKEN, start_run=run_here),
                      base_url='http://127.0.0.1')


def _explorations(count, state_name='A'):
    exp_models.ExplorationModel.put_multi([
        exp_models.ExplorationModel(
            id='e%03d' % n, init_state_name=state_name,
            states={state_name: {'interaction': {'id': 'TextInput'}}})
        for n in range(count)])


def test_every_request_needs_the_token(client):
    for path in ('/', '/api/jobs', '/api/runs', '/api/runs/x',
                 '/api/runs/x/output', '/api/runs/x/errors',
                 '/static/page.js'):
        response = client.get(path)
        assert response.status_code == 401, path
        assert 'runs' not in response.text and 'jobs"' not in response.text
    assert client.post('/api/runs', json={'job': 'x'}).status_code == 401
    wrong = {'Authorization': 'Bearer nope'}
    assert client.get('/api/jobs', headers=wrong).status_code == 401
    assert client.get('/?token=nope').status_code == 401


def test_the_page_takes_the_token_once_into_a_strict_cookie(client):
    response = client.get('/?token=' + TOKEN, follow_redirects=False)
    assert response.status_code == 303 and response.headers['location'] == '/'
    cookies = response.headers.get_list('set-cookie')
    token_cookie = [c for c in cookies if c.startswith('beam_jobs_token=')]
    assert 'HttpOnly' in token_cookie[0]
    assert 'SameSite=strict' in token_cookie[0]
    page = client.get('/')
    assert page.status_code == 200 and '<table id="runs">' in page.text
    policy = page.headers['content-security-policy']
    assert "script-src 'self'" in policy and "default-src 'none'" in policy


def test_a_post_with_the_cookie_needs_the_csrf_token(client):
    _explorations(2)
    client.get('/?token=' + TOKEN)
    body = {'job': 'InteractionCountOneOffJob'}
    assert client.post('/api/runs', json=body).status_code == 403
    assert client.post('/api/runs', json=body,
                       headers={'X-CSRF-Token': 'forged'}).status_code == 403
    csrf = client.cookies.get('beam_jobs_csrf')
    response = client.post('/api/runs', json=body,
                           headers={'X-CSRF-Token': csrf})
    assert response.status_code == 200, response.text


def test_jobs_lists_the_registry(client):
    found = {job['name']: job for job in client.get(
        '/api/jobs', headers=AUTH).json()}
    assert set(found) == {c.__name__ for c in
                          jobs_registry.ONE_OFF_JOB_MANAGERS}
    inactive = found['InactiveUsersOneOffJob']
    assert inactive['kinds'] == ['UserSettingsModel']
    assert inactive['params'] == {'cutoff_date': {
        'type': 'str', 'required': True, 'default': None}}
    assert found['InteractionAuditOneOffJob']['shard_count'] == (
        'set by the job')
    assert found['EmailDomainCountOneOffJob']['shard_count'] == 8


def test_start_a_run_read_it_and_its_output(client, started):
    _explorations(12)
    response = client.post('/api/runs', headers=AUTH, json={
        'job': 'InteractionCountOneOffJob', 'shard_count': 3,
        'pipeline_args': ['--limit=5']})
    assert response.status_code == 200, response.text
    job_id = response.json()['job_id']
    assert started == [job_id]
    run = client.get('/api/runs/' + job_id, headers=AUTH).json()
    assert run['state'] == 'completed' and run['shard_count'] == 3
    assert run['subset'] == {'limit': 5} and run['models_read'] == 5
    output = client.get('/api/runs/%s/output' % job_id, headers=AUTH).json()
    assert output['lines'] == ['TextInput: 5'] and not output['more']
    text = client.get('/api/runs/%s/output.txt' % job_id, headers=AUTH)
    assert text.text == 'TextInput: 5\n'
    assert 'attachment' in text.headers['content-disposition']
    runs = client.get('/api/runs', headers=AUTH).json()['runs']
    assert [r['job_id'] for r in runs] == [job_id]


@pytest.mark.parametrize('body, message', [
    ({'job': 'NoSuchJob'}, "no registered one-off job named 'NoSuchJob'"),
    ({'job': 'InactiveUsersOneOffJob'},
     'InactiveUsersOneOffJob: missing parameter cutoff_date'),
    ({'job': 'InteractionCountOneOffJob', 'shard_count': 0},
     'shard_count must be a whole number from 1'),
    ({'job': 'InteractionCountOneOffJob', 'pipeline_args': ['--bogus=1']},
     'unknown pipeline option --bogus'),
    ({'job': 'InteractionCountOneOffJob', 'params': [1]},
     'params must be an object'),
])
def test_bad_values_are_refused_as_the_command_line_refuses_them(
        client, store, body, message):
    response = client.post('/api/runs', headers=AUTH, json=body)
    assert response.status_code == 400
    assert message in response.json()['error']
    assert store.list_runs() == []


def test_runs_are_paged_and_filtered(client, store):
    for n in range(120):
        store.insert_run({'job_id': 'run-%03d' % n, 'job_type': 'JobA' if
                          n % 2 else 'JobB', 'state': 'completed' if n % 3
                          else 'failed', 'time_created_msec': 1000.0 + n})
    first = client.get('/api/runs?limit=50', headers=AUTH).json()
    assert [r['job_id'] for r in first['runs']][:2] == ['run-119', 'run-118']
    assert len(first['runs']) == 50 and first['more']
    last = client.get('/api/runs?offset=100&limit=50', headers=AUTH).json()
    assert len(last['runs']) == 20 and not last['more']
    failed_b = client.get('/api/runs?job=JobB&state=failed&limit=500',
                          headers=AUTH).json()['runs']
    assert len(failed_b) == 20
    assert {(r['job'], r['state']) for r in failed_b} == {('JobB', 'failed')}
    assert client.get('/api/runs?limit=x', headers=AUTH).status_code == 400


def test_output_of_100000_lines_is_paged_and_searched(client, store):
    store.insert_run({'job_id': 'big', 'job_type': 'T', 'state': 'started'})
    store.write_output('big', [('3%06d' % n, 0, 'line %06d' % n)
                               for n in range(100_000)])
    store.update_run('big', {'state': 'completed', 'output_lines': 100_000})
    page = client.get('/api/runs/big/output?offset=99990&limit=50',
                      headers=AUTH).json()
    assert page['lines'] == ['line %06d' % n for n in range(99990, 100000)]
    assert not page['more'] and page['total'] == 100_000
    found = client.get('/api/runs/big/output?q=line 0424', headers=AUTH
                       ).json()
    assert found['lines'] == ['line %06d' % n for n in range(42400, 42450)]
    assert found['more']
    limited = client.get('/api/runs/big/output?limit=5000', headers=AUTH)
    assert len(limited.json()['lines']) == server.PAGE_SIZE_MAX


def test_errors_are_paged(client, store):
    store.insert_run({'job_id': 'j', 'job_type': 'T', 'state': 'completed'})
    store.write_errors('j', [storage.JobErrorRecord(
        'map', 'K', 'id-%03d' % n, 'ValueError', 'bad', 'tb')
        for n in range(70)])
    page = client.get('/api/runs/j/errors?offset=60&limit=50',
                      headers=AUTH).json()
    assert [e['entity'] for e in page['errors']] == [
        'id-%03d' % n for n in range(60, 70)]
    assert not page['more']


def test_text_from_the_store_is_data_never_markup(client):
    tag = '<img src=x onerror=alert(1)><script>alert(2)</script>'
    _explorations(1, state_name=tag)
    job_id = client.post('/api/runs', headers=AUTH, json={
        'job': 'InteractionAuditOneOffJob'}).json()['job_id']
    response = client.get('/api/runs/%s/output' % job_id, headers=AUTH)
    assert response.headers['content-type'] == 'application/json'
    assert tag in response.json()['lines'][0]
    # The page sets every text with textContent, never innerHTML.
    script = client.get('/static/page.js', headers=AUTH).text
    assert 'innerHTML' not in script and 'insertAdjacentHTML' not in script


def test_cancel_one_run_and_all_unfinished_runs_of_a_job(client, store,
                                                         monkeypatch):
    monkeypatch.setattr(jobs_registry, 'ONE_OFF_JOB_MANAGERS',
                        [sample_jobs.ShardedJob])
    queued = []
    app = server.create_app(TOKEN, start_run=lambda c, j: queued.append(j))
    waiting = TestClient(app, base_url='http://127.0.0.1')
    ids = [waiting.post('/api/runs', headers=AUTH, json={
        'job': 'ShardedJob'}).json()['job_id'] for _ in range(3)]
    canceled = waiting.post('/api/runs/%s/cancel' % ids[0], headers=AUTH)
    assert canceled.json() == {'job_id': ids[0], 'state': 'canceled'}
    again = waiting.post('/api/runs/%s/cancel' % ids[0], headers=AUTH)
    assert again.status_code == 400
    assert 'cannot go from canceled to canceled' in again.json()['error']
    rest = waiting.post('/api/jobs/ShardedJob/cancel_all', headers=AUTH)
    assert sorted(rest.json()['canceled']) == sorted(ids[1:])
    assert all(store.get_run(i)['canceled_by'] == 'admin page' for i in ids)


def test_a_missing_run_is_404(client):
    response = client.get('/api/runs/nope', headers=AUTH)
    assert response.status_code == 404
    assert response.json() == {'error': "no job run with id 'nope'"}
