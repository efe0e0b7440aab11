"""Shared fixtures: every test that touches models gets a fresh, real SQLite
store in its own temporary folder, or a fresh namespace of a real Cloud
Datastore emulator started once per session."""

from __future__ import annotations

import os
import pathlib
import socket
import tempfile
import uuid

import pytest

from models import storage


@pytest.fixture
def store_path(tmp_path: pathlib.Path) -> str:
    return str(tmp_path / 'store.sqlite3')


@pytest.fixture
def store(store_path: str, monkeypatch: pytest.MonkeyPatch
          ) -> storage.ModelStore:
    """A fresh SQLite store, made the default for models and job runs."""
    monkeypatch.setenv(storage.STORE_ENV_VAR, store_path)
    storage.set_default_store(store_path)
    yield storage.get_store()
    storage.set_default_store(None)
    storage.close_all_stores()


@pytest.fixture(autouse=True)
def _no_stray_default_store(monkeypatch: pytest.MonkeyPatch,
                            tmp_path: pathlib.Path) -> None:
    """Tests never touch the developer's .data/ store by accident."""
    monkeypatch.setenv(storage.STORE_ENV_VAR,
                       os.path.join(str(tmp_path), 'unused.sqlite3'))


@pytest.fixture(autouse=True, scope='session')
def _temporary_files_in_pytests_own_folder(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    """Temporary files, also those of the processes tests start, go where
    pytest keeps (and rotates) its own: Beam makes a folder for every
    Pipeline and removes it only after a run, and many tests build a
    pipeline without running it."""
    folder = str(tmp_path_factory.mktemp('tempfile'))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tempfile, 'tempdir', folder)
        patch.setenv('TMPDIR', folder)
        yield


_LOOPBACK_HOSTS = frozenset({None, '', 'localhost', '::1', b'localhost'})


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Name lookups of anything but loopback fail: tests reach only the
    local emulator, and a stray call to Google Cloud never leaves the
    machine."""
    real_getaddrinfo = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        text = host.decode() if isinstance(host, bytes) else host
        if host not in _LOOPBACK_HOSTS and not str(text).startswith('127.'):
            raise OSError('tests may not reach the network (looked up %r)'
                          % (host,))
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, 'getaddrinfo', loopback_only)


@pytest.fixture(scope='session')
def datastore_emulator():
    """One Cloud Datastore emulator for the whole session, on a free
    loopback port; tests that use it are skipped, saying why, when the
    emulator is not installed on this machine."""
    from beam_jobs import datastore_emulator as emulator_module
    try:
        emulator_module.check_installed()
    except emulator_module.EmulatorMissing as e:
        pytest.skip('Datastore emulator not available: %s' % e)
    emulator = emulator_module.DatastoreEmulator().start()
    saved = {name: os.environ.get(name) for name in emulator.env()}
    # Set for the whole process (not per test): Beam caches Datastore clients
    # and local worker processes inherit the environment.
    os.environ.update(emulator.env())
    yield emulator
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    emulator.stop()


@pytest.fixture
def datastore_url(datastore_emulator, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty namespace of the emulator, made the default store for
    models and job runs."""
    url = 'datastore://%s/t%s' % (datastore_emulator.project,
                                  uuid.uuid4().hex[:12])
    monkeypatch.setenv(storage.STORE_ENV_VAR, url)
    storage.set_default_store(url)
    yield url
    storage.set_default_store(None)
    storage.close_all_stores()


@pytest.fixture
def datastore_client(datastore_url: str):
    """A google-cloud-datastore client on the test's namespace, to inspect
    what the framework stored."""
    from google.cloud import datastore
    from models import datastore_store
    project, namespace = datastore_store.parse_url(datastore_url)
    return datastore.Client(project=project, namespace=namespace)


@pytest.fixture(params=['sqlite', 'datastore'])
def any_store(request) -> storage.ModelStore:
    """A fresh store of each kind in turn (SQLite, then a namespace of the
    emulator), made the default: a test with it runs on both."""
    if request.param == 'sqlite':
        return request.getfixturevalue('store')
    request.getfixturevalue('datastore_url')
    return storage.get_store()
