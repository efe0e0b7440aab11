"""The benchmark's jobs written for mrjob, run with its inline runner over
the store's rows exported as JSON lines ({"id": ..., **properties}).

Input is read raw and decoded with orjson, the decoder the other variants
use; mrjob's own protocols carry the pairs between steps.
"""

from __future__ import annotations

import orjson
from mrjob.job import MRJob
from mrjob.protocol import RawValueProtocol


class _RawLinesJob(MRJob):
    """Reads the exported rows as raw lines and writes raw output lines."""

    INPUT_PROTOCOL = RawValueProtocol
    OUTPUT_PROTOCOL = RawValueProtocol


class MRInteractionAudit(_RawLinesJob):
    def mapper(self, _, line):
        data = orjson.loads(line)
        if data.get('deleted'):
            return
        model_id = data['id']
        for name, state in data['states'].items():
            yield state['interaction']['id'], '%s %s' % (model_id, name)

    def reducer(self, key, values):
        yield None, str((key, list(values)))


class _MRCount(_RawLinesJob):
    """A count: the mapper yields (key, 1) pairs, summed by a combiner."""

    def combiner(self, key, values):
        yield key, sum(values)

    def reducer(self, key, values):
        yield None, '%s: %d' % (key, sum(values))


class MRInteractionCount(_MRCount):
    def mapper(self, _, line):
        data = orjson.loads(line)
        if data.get('deleted'):
            return
        for state in data['states'].values():
            yield state['interaction']['id'], 1


class MREmailDomainCount(_MRCount):
    def mapper(self, _, line):
        data = orjson.loads(line)
        if data.get('deleted'):
            return
        _, _, domain = data['email'].rpartition('@')
        yield domain.lower() or '(no domain)', 1


class MRStateCount(_RawLinesJob):
    """A key per exploration, no combiner."""

    def mapper(self, _, line):
        data = orjson.loads(line)
        if data.get('deleted'):
            return
        yield data['id'], len(data['states'])

    def reducer(self, key, values):
        yield None, '%s: %d' % (key, sum(values))


JOBS = {'audit': MRInteractionAudit, 'count': MRInteractionCount,
        'domains': MREmailDomainCount, 'states': MRStateCount}


def run_inline(job: str, jsonl_path: str) -> list[str]:
    """The job's output lines from mrjob's inline runner."""
    mr_job = JOBS[job](['-r', 'inline', '--no-conf', jsonl_path])
    with mr_job.make_runner() as runner:
        runner.run()
        return [value for _, value in mr_job.parse_output(runner.cat_output())]
