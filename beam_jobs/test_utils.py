"""A test base for job authors: a unittest.TestCase with a fresh store per
test, on which enqueue queues a run instead of running it, as the App
Engine framework's test base did::

    class MyJobTests(test_utils.GenericTestBase):
        def test_counts(self):
            SomeModel(id='a', ...).put()
            job_id = MyJob.create_new()
            MyJob.enqueue(job_id)
            self.assertEqual(self.count_jobs_in_mapreduce_taskqueue(), 1)
            self.process_and_flush_pending_mapreduce_tasks()
            self.assertEqual(MyJob.get_output(job_id), ['...'])

Importable from a project's own tests; tests written for the old framework
import it as beam_jobs.compat.test_utils.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import unittest
from typing import Any

from beam_jobs import job_queue
from beam_jobs import launcher
from models import storage


class GenericTestBase(unittest.TestCase):
    """Each test runs on a new SQLite store in a folder of its own, which
    worker processes find too (through BEAM_JOBS_STORE); enqueue only
    queues, and the queue runs when the test says."""

    def setUp(self) -> None:
        super().setUp()
        folder = tempfile.mkdtemp(prefix='beam-jobs-test-')
        self.addCleanup(shutil.rmtree, folder, True)
        saved = os.environ.get(storage.STORE_ENV_VAR)
        self.addCleanup(self._restore, saved)
        self.use_store(os.path.join(folder, 'store.sqlite3'))
        launcher.defer_local_runs(True)

    def use_store(self, url: str) -> None:
        """Makes url (a fresh Cloud Datastore namespace, say) the test's
        store instead of its own SQLite file."""
        os.environ[storage.STORE_ENV_VAR] = url
        storage.set_default_store(url)

    @staticmethod
    def _restore(saved: str | None) -> None:
        launcher.defer_local_runs(False)
        storage.set_default_store(None)
        storage.close_all_stores()
        if saved is None:
            os.environ.pop(storage.STORE_ENV_VAR, None)
        else:
            os.environ[storage.STORE_ENV_VAR] = saved

    # Python 2's name, which tests of that era call.
    assertItemsEqual = unittest.TestCase.assertCountEqual

    def count_jobs_in_mapreduce_taskqueue(self, queue_name: Any = None
                                          ) -> int:
        """How many runs are queued and not yet run (there is one queue:
        queue_name is accepted and ignored)."""
        return len(job_queue.pending())

    def count_jobs_in_taskqueue(self, queue_name: Any = None) -> int:
        """The same count, under the test base's other name for it."""
        return len(job_queue.pending())

    def get_pending_tasks(self, queue_name: Any = None) -> list[Any]:
        """The queued runs not yet run, oldest first (their records)."""
        return job_queue.pending()

    def process_and_flush_pending_mapreduce_tasks(
            self, queue_name: Any = None) -> None:
        """Runs every queued run to its end, and any that they queue."""
        job_queue.run_pending()

    def process_and_flush_pending_tasks(self, queue_name: Any = None
                                        ) -> None:
        """Runs every queued run to its end, and any that they queue."""
        job_queue.run_pending()
