"""Shared fixtures: every test that touches models gets a fresh, real SQLite
store in its own temporary folder."""

from __future__ import annotations

import os
import pathlib

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
