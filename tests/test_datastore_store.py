"""The Cloud Datastore store, against the real emulator: models, job runs
and output, inspected directly with google-cloud-datastore."""

from __future__ import annotations

import concurrent.futures
import datetime

import pytest

from models import base_models
from models import datastore_store
from models import properties as props
from models import storage
from pipelines import output_order
from tests import test_output_order


class EveryTypeModel(base_models.BaseModel):
    """One property of every declared type."""

    name = props.StringProperty()
    count = props.IntegerProperty()
    ratio = props.FloatProperty()
    flag = props.BooleanProperty()
    seen = props.DateTimeProperty()
    payload = props.JsonProperty()
    notes = props.StringProperty()


def _every_type_model(model_id: str) -> EveryTypeModel:
    return EveryTypeModel(
        id=model_id, name='Zoë ✓', count=2 ** 62 + 3, ratio=0.1, flag=False,
        seen=datetime.datetime(2021, 3, 4, 5, 6, 7, 891011),
        payload={'nested': {'list': [1, 2.5, 'three', None, True,
                                     [['deep'], []], {'k': {}}]},
                 'float_one': 1.0, 'empty': '', 'unicode': 'π'},
        # Longer than Datastore's 1500-byte limit on indexed values.
        notes='x' * 5000)


def test_url_parsing():
    assert datastore_store.parse_url('datastore://p') == ('p', None)
    assert datastore_store.parse_url('datastore://p/ns') == ('p', 'ns')
    for bad in ('datastore://', 'datastore://p/a/b', 'p/ns'):
        with pytest.raises(storage.StoreError):
            datastore_store.parse_url(bad)


def test_every_property_type_round_trips_exactly(datastore_url,
                                                 datastore_client):
    model = _every_type_model('m1')
    model.put()
    empty = EveryTypeModel(id='m2')
    empty.put()
    # A fresh store object: nothing comes from a cache.
    storage.close_all_stores()
    loaded = EveryTypeModel.get_by_id('m1')
    assert loaded == model
    assert loaded.to_dict() == model.to_dict()
    assert type(loaded.ratio) is float and type(loaded.count) is int
    assert loaded.seen == datetime.datetime(2021, 3, 4, 5, 6, 7, 891011)
    assert EveryTypeModel.get_by_id('m2') == empty
    assert EveryTypeModel.get_by_id('missing') is None

    entity = datastore_client.get(datastore_client.key('EveryTypeModel', 'm1'))
    assert entity.key.name == 'm1'
    assert entity['name'] == 'Zoë ✓'
    assert isinstance(entity['seen'], datetime.datetime)
    assert entity['seen'].tzinfo is not None  # A real Datastore timestamp.
    assert {'payload', 'notes'} <= set(entity.exclude_from_indexes)
    assert 'name' not in entity.exclude_from_indexes


def test_get_put_delete_count_and_scan(datastore_url):
    models = [EveryTypeModel(id='id-%02d' % i, count=i) for i in range(30)]
    base_models.BaseModel.put_multi(models)
    store = storage.get_store()
    assert store.count('EveryTypeModel') == 30
    assert store.count('EveryTypeModel', limit=7) == 7
    assert [i for i, _ in store.scan('EveryTypeModel', 'id-10', 'id-13')] == [
        'id-10', 'id-11', 'id-12']
    assert [i for i, _ in store.scan('EveryTypeModel', 'id-28')] == [
        'id-28', 'id-29']
    assert list(store.scan('EveryTypeModel', 'id-05', '')) == []
    points = store.split_points('EveryTypeModel', 3)
    assert points == ['id-10', 'id-20']
    got = EveryTypeModel.get_multi(['id-03', 'nope', 'id-01'])
    assert [m and m.count for m in got] == [3, None, 1]
    models[3].delete()
    assert store.count('EveryTypeModel') == 29
    assert EveryTypeModel.get_by_id('id-03') is None


def test_put_of_more_than_one_commit(datastore_url):
    base_models.BaseModel.put_multi(
        EveryTypeModel(id='m%04d' % i) for i in range(1200))
    assert storage.get_store().count('EveryTypeModel') == 1200


def test_bad_stored_data_names_kind_id_and_property(datastore_url,
                                                    datastore_client):
    from google.cloud import datastore
    entity = datastore.Entity(datastore_client.key('EveryTypeModel', 'bad'))
    entity.update({'count': 'not a number'})
    datastore_client.put(entity)
    with pytest.raises(base_models.ModelDataError) as raised:
        EveryTypeModel.get_by_id('bad')
    assert 'EveryTypeModel' in str(raised.value)
    assert "'bad'" in str(raised.value) and 'count' in str(raised.value)


def test_reserved_and_empty_key_names_are_refused(datastore_url):
    for bad_id in ('', '__scatter__'):
        with pytest.raises(storage.StoreError, match='EveryTypeModel'):
            storage.get_store().put('EveryTypeModel', [(bad_id, {})])


def test_job_runs_insert_update_compare_and_set_and_list(datastore_url):
    store = storage.get_store()
    for i, job_type in enumerate(['A', 'B', 'A']):
        store.insert_run({'job_id': 'run-%d' % i, 'job_type': job_type,
                          'state': 'new', 'time_created_msec': 1000.0 + i,
                          'params': {'k': [1, 'v']},
                          'pipeline_args': ['--x=1']})
    with pytest.raises(storage.StoreError, match='run-0 already exists'):
        store.insert_run({'job_id': 'run-0', 'job_type': 'A',
                          'state': 'new'})
    assert store.update_run('run-0', {'state': 'queued'}, ['new'])
    assert not store.update_run('run-0', {'state': 'queued'}, ['new'])
    assert not store.update_run('missing', {'state': 'queued'})
    assert store.update_run('run-0',
                            {'details': {'a': 1}, 'error': 'e' * 3000})
    run = store.get_run('run-0')
    assert run['state'] == 'queued' and run['params'] == {'k': [1, 'v']}
    assert run['details'] == {'a': 1} and run['pipeline_args'] == ['--x=1']
    assert len(run['error']) == 3000
    assert store.get_run('missing') is None
    assert [r['job_id'] for r in store.list_runs()] == [
        'run-2', 'run-1', 'run-0']
    assert [r['job_id'] for r in store.list_runs(1, 'A')] == ['run-2']
    with pytest.raises(storage.StoreError, match='unknown job run fields'):
        store.update_run('run-0', {'colour': 'red'})
    # Deleted only from the states given.
    assert not store.delete_run('run-0', ['new'])
    assert store.delete_run('run-1', ['new'])
    assert store.get_run('run-1') is None and store.get_run('run-0')


def test_output_is_read_back_ordered_idempotent_and_deletable(
        datastore_url, datastore_client):
    store = storage.get_store()
    rows = [("'b'", 10, 'b10'), ("'b'", 2, 'b2'), ("'a'", 0, 'a0'),
            ("'é'", 0, 'e-acute'), ('None', 0, 'none')]
    store.write_output('job-1', rows[:3])
    store.write_output('job-1', rows)  # Written again: one copy kept.
    store.write_output('job-2', [("'a'", 0, 'other job')])
    assert list(store.read_output('job-1')) == [
        'a0', 'b2', 'b10', 'e-acute', 'none']
    assert store.count_output('job-1') == 5
    store.delete_output('job-1')
    assert store.count_output('job-1') == 0
    assert list(store.read_output('job-1')) == []
    assert list(store.read_output('job-2')) == ['other job']


def test_output_comes_back_in_the_order_of_its_keys(datastore_url):
    store = storage.get_store()
    keys = test_output_order.ORDERED_KEYS
    rows = [(output_order.sort_key(key), 0, repr(key)) for key in keys]
    store.write_output('job-1', rows[::-1])
    assert list(store.read_output('job-1')) == [repr(k) for k in keys]


def test_output_line_larger_than_an_entity_is_split_and_joined(
        datastore_url, datastore_client):
    store = storage.get_store()
    # 2.4 MB of UTF-8: more than twice Datastore's 1 MiB entity limit.
    huge = ('αβγ' * 400_000) + 'end'
    store.write_output('job-1', [("'k'", 0, huge), ("'j'", 0, 'small')])
    assert list(store.read_output('job-1')) == ['small', huge]
    assert store.count_output('job-1') == 2
    query = datastore_client.query(kind=datastore_store.OUTPUT_KIND)
    parts = [e for e in query.fetch() if e['sort_key'] == "'k'"]
    assert len(parts) == len(huge) // datastore_store.OUTPUT_PART_CHARS + 1
    assert all(len(e['line'].encode('utf-8')) < 512 * 1024 for e in parts)


def test_output_keys_longer_than_the_indexed_prefix_keep_their_order(
        datastore_url):
    store = storage.get_store()
    prefix = 'k' * 3000
    rows = [(prefix + 'b', 0, 'second'), (prefix + 'a', 1, 'first-1'),
            (prefix + 'a', 0, 'first-0'), ('a', 0, 'zeroth')]
    store.write_output('job-1', rows)
    assert list(store.read_output('job-1')) == [
        'zeroth', 'first-0', 'first-1', 'second']


def test_concurrent_compare_and_set_lets_exactly_one_writer_win(
        datastore_url):
    store = storage.get_store()
    store.insert_run({'job_id': 'race', 'job_type': 'A', 'state': 'queued'})

    def start(worker: int) -> bool:
        return store.update_run(
            'race', {'state': 'started', 'owner_pid': worker}, ['queued'])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(start, range(8)))
    assert results.count(True) == 1
    assert store.get_run('race')['owner_pid'] == results.index(True)


def test_kinds_without_a_model_class_round_trip_natively(
        datastore_url, datastore_client):
    store = storage.get_store()
    data = {'title': 'x', 'n': 3, 'meta': {'a': [1, 'two', {'b': None}]},
            'tags': ['p', 'q'], 'when': None}
    store.put('NoClassKind', [('k1', data)])
    assert store.get('NoClassKind', ['k1']) == [data]
    entity = datastore_client.get(datastore_client.key('NoClassKind', 'k1'))
    assert entity['meta']['a'][1] == 'two'  # An embedded entity.


def test_same_output_order_as_the_sqlite_store(datastore_url, tmp_path):
    from models import sqlite_store
    rows = [(repr(k), i, '%r/%d' % (k, i)) for k in
            ['b', 'a', 'B', 'ä', '', ('t', 1), 10, 9, None, 'a\x00b',
             '日本']
            for i in (0, 1, 11, 2)]
    sqlite = sqlite_store.SqliteStore(str(tmp_path / 'order.sqlite3'))
    for store in (storage.get_store(), sqlite):
        store.write_output('job', rows)
    assert list(storage.get_store().read_output('job')) == list(
        sqlite.read_output('job'))


def test_a_model_too_large_for_an_entity_is_refused_by_name(datastore_url):
    big = EveryTypeModel(id='big', name='small',
                         payload={'html': 'x' * 1_100_000})
    with pytest.raises(storage.StoreError) as raised:
        big.put()
    message = str(raised.value)
    assert "EveryTypeModel 'big'" in message and 'payload' in message
    assert EveryTypeModel.get_by_id('big') is None
    # Just under the limit is fine.
    EveryTypeModel(id='fits', payload={'html': 'x' * 1_000_000}).put()
    assert len(EveryTypeModel.get_by_id('fits').payload['html']) == 1_000_000
