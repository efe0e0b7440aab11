"""The old App Engine framework's names, for job modules and tests written
for it: a module that imports ``from beam_jobs.compat import jobs`` (and its
tests, ``from beam_jobs.compat import test_utils``) runs as it did there,
its import lines the only change. See beam_jobs.compat.jobs."""
