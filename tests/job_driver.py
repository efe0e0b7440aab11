"""Runs one job of tests.sample_jobs in its own process, as an operator's
`run` would: `python -m tests.job_driver STORE JOB [KEY=VALUE ...] [--OPTION ...]`.

Prints the job id on the first line (flushed) before the run starts, so a
test can act on the run from another process.
"""

from __future__ import annotations

import json
import sys

from models import storage
from tests import sample_jobs


def main(argv: list[str]) -> int:
    store_path, job_name, *pairs = argv
    # Pipeline options come after the job's KEY=VALUE parameters.
    pipeline_args = [p for p in pairs if p.startswith('--')]
    pairs = [p for p in pairs if not p.startswith('--')]
    storage.set_default_store(store_path)
    job_class = getattr(sample_jobs, job_name)
    params = {}
    for pair in pairs:
        key, _, value = pair.partition('=')
        params[key] = json.loads(value) if value[:1] in '[{"' else value
    job_id = job_class.create_new(pipeline_args=pipeline_args)
    print(job_id, flush=True)
    job_class.enqueue(job_id, additional_job_params=params or None)
    print(job_class.get_status_code(job_id), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
