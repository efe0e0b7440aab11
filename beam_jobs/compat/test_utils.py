"""The old framework's test base under its old name (core.tests.test_utils
GenericTestBase): a test module of that era changes its import lines only.
See beam_jobs.test_utils."""

from beam_jobs import test_utils

GenericTestBase = test_utils.GenericTestBase
