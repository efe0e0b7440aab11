"""A run's checks and figures: outputs compared, ratios, the targets, the
baseline (load, save, summary) and the printed table.
"""

from __future__ import annotations

import json
import os
import textwrap
from typing import Any

from benchmarks import variants

# The targets against mrjob and the plain loop are set at this size; at
# other sizes their ratios are shown but not judged.
TARGET_MODELS = 1_000_000
# The fields of a row that baseline.json keeps.
BASELINE_KEYS = ('models', 'variant', 'runs', 'seconds', 'median_seconds',
                 'models_per_second', 'peak_rss_mb', 'peak_pss_mb',
                 'cpu_seconds')


def _job_of(row: dict[str, Any]) -> str:
    return variants.FAMILIES[row['family']].job


def check_outputs(rows: list[dict[str, Any]]) -> None:
    """Raises unless every variant of a job gave the same output at each
    size."""
    digests: dict[tuple[int, str], set[str]] = {}
    for row in rows:
        digests.setdefault((row['models'], _job_of(row)), set()).add(
            row['digest'])
    bad = sorted(key for key, found in digests.items() if len(found) != 1)
    if bad:
        raise SystemExit('variants disagree on output:\n' + '\n'.join(
            'N=%d %s: %s' % (count, job, ', '.join(
                '%s=%s' % (r['variant'], r['digest'][:12]) for r in rows
                if (r['models'], _job_of(r)) == (count, job)))
            for count, job in bad))


def _ratio(a: dict[str, Any] | None, b: dict[str, Any] | None
           ) -> float | None:
    """a's throughput ÷ b's (>1: a is faster), or None without both."""
    if not a or not b:
        return None
    return a['models_per_second'] / b['models_per_second']


def add_ratios(rows: list[dict[str, Any]],
               baseline: dict[tuple[str, int], dict[str, Any]]) -> None:
    """compiled_ratio: the throughput of the family's first variant ÷ this
    row's; vs_baseline: this row's throughput ÷ the baseline's row of the
    same variant and size."""
    by_key = {(r['variant'], r['models']): r for r in rows}
    for row in rows:
        reference = by_key.get((variants.first_variant(row['family']),
                                 row['models']))
        row['compiled_ratio'] = _ratio(reference, row)
        row['vs_baseline'] = _ratio(
            row, baseline.get((row['variant'], row['models'])))


def _check(count: int, name: str, value: float,
           met: bool | None) -> dict[str, Any]:
    """A target's row; met is None where the value is not judged."""
    return {'models': count, 'target': name, 'value': round(value, 3),
            'met': met}


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The targets (docs/benchmarks.md), checked on this run's rows."""
    by_key = {(r['models'], r['variant']): r for r in rows}
    sizes = sorted({r['models'] for r in rows})
    checks = []
    for count in sizes:
        for family in variants.FAMILIES:
            ratio = _ratio(by_key.get((count, family + '-compiled')),
                           by_key.get((count, family + '-beam')))
            if ratio is not None:
                checks.append(_check(
                    count, '%s: compiled >= 0.9 x hand-written Beam' % family,
                    ratio, ratio >= 0.9))
        ratio = _ratio(by_key.get((count, 'cpu-2-workers')),
                       by_key.get((count, 'cpu-1-worker')))
        if ratio is not None:
            checks.append(_check(
                count, 'cpu: 2 workers >= 1.5 x faster than 1', ratio,
                ratio >= 1.5))
        # What two cores give the same work with no framework: the ceiling
        # for the target above.
        ratio = _ratio(by_key.get((count, 'cpu-loop-2-processes')),
                       by_key.get((count, 'cpu-loop-1-process')))
        if ratio is not None:
            checks.append(_check(
                count, 'for reference: the plain loop, 2 processes ÷ 1',
                ratio, None))
    top = sizes[-1]
    judged = top == TARGET_MODELS
    for family in variants.COMBINER_FAMILIES:
        compiled = by_key.get((top, family + '-compiled'))
        ratio = _ratio(compiled, by_key.get((top, family + '-mrjob')))
        if ratio is not None:
            checks.append(_check(
                top, '%s: compiled >= 3 x mrjob inline' % family, ratio,
                ratio >= 3 if judged else None))
        loop = by_key.get((top, family + '-loop'))
        if compiled and loop:
            ratio = compiled['seconds'] / loop['seconds']
            checks.append(_check(
                top, '%s: compiled time <= 3 x the plain loop\'s' % family,
                ratio, ratio <= 3 if judged else None))
        smaller = (by_key.get((sizes[-2], family + '-compiled'))
                   if len(sizes) >= 2 else None)
        for key in ('peak_rss_mb', 'peak_pss_mb'):
            if compiled and smaller and compiled[key] and smaller[key]:
                ratio = compiled[key] / smaller[key]
                checks.append(_check(
                    top, '%s: peak %s <= 1.3 x its peak at N=%s' % (
                        family, key.split('_')[1].upper(),
                        format(sizes[-2], ',')), ratio, ratio <= 1.3))
    return checks


def load_baseline(path: str) -> dict[tuple[str, int], dict[str, Any]]:
    """The baseline's rows by (variant, size); none if there is no
    baseline file."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding='utf-8') as f:
        baseline = json.load(f)
    return {(row['variant'], row['models']): row for row in baseline['rows']}


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def save_baseline(result: dict[str, Any], path: str) -> None:
    """Writes a run as the baseline: its rows' BASELINE_KEYS."""
    baseline = {key: result[key] for key in ('started', 'command', 'machine')}
    baseline['rows'] = [{key: _rounded(row[key]) for key in BASELINE_KEYS}
                        for row in result['rows']]
    write_baseline(baseline, path)


def write_baseline(baseline: dict[str, Any], path: str) -> None:
    """Writes the baseline to path as JSON, a row per line so that a new
    baseline's diff reads row by row, and its summary beside it (the same
    name, .md)."""
    head = {key: value for key, value in baseline.items() if key != 'rows'}
    text = json.dumps(head, indent=1)[:-2] + ',\n "rows": [\n%s\n ]\n}\n' % (
        ',\n'.join('  ' + json.dumps(row) for row in baseline['rows']))
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)
    with open(os.path.splitext(path)[0] + '.md', 'w', encoding='utf-8') as f:
        f.write(baseline_markdown(baseline))


def baseline_markdown(baseline: dict[str, Any]) -> str:
    """The baseline in short: when and where it ran, and each variant's
    best time and peak RSS at each size."""
    sizes = sorted({row['models'] for row in baseline['rows']})
    by_key = {(r['variant'], r['models']): r for r in baseline['rows']}
    machine = baseline['machine']
    lines = [
        '# Benchmark baseline', '',
        '`python -m benchmarks.run` compares each row with this run\'s row '
        'of the same', 'variant and size (column "vs baseline"); '
        '`--save-baseline` replaces it.', 'docs/benchmarks.md says what the '
        'variants are and how they are measured.', '',
        '- run: `%s`, started %s' % (baseline['command'],
                                      baseline['started']),
        '- machine: %d CPUs, Python %s, %s' % (
            machine['cpus'], machine['python'], machine['platform'])]
    if baseline.get('note'):
        lines += textwrap.wrap('- note: %s' % baseline['note'], 76,
                               subsequent_indent='  ')
    lines += ['', 'Best wall time of each variant, and the peak RSS of its '
              'process tree:', '',
              '| variant | ' + ' | '.join('N=%s' % format(n, ',')
                                        for n in sizes) + ' |',
              '| --- |' + ' ---: |' * len(sizes)]
    for name in variants.VARIANTS:
        cells = []
        for count in sizes:
            row = by_key.get((name, count))
            cells.append('%.2f s, %.0f MB' % (row['seconds'],
                                              row['peak_rss_mb'])
                         if row else '')
        if any(cells):
            lines.append('| %s | %s |' % (name, ' | '.join(cells)))
    return '\n'.join(lines) + '\n'


def _cell(value: float | None) -> str:
    return '' if value is None else '%.2f' % value


def format_table(rows: list[dict[str, Any]],
                 checks: list[dict[str, Any]]) -> str:
    lines = ['| N | variant | runs | best s | median s | models/s '
             '| vs baseline | compiled ÷ this | peak RSS MB | peak PSS MB '
             '| CPU s | other load |',
             '| ---: | --- |' + ' ---: |' * 10]
    for row in rows:
        lines.append(
            '| %s | %s | %d | %.2f | %.2f | %s | %s | %s | %.0f | %.0f '
            '| %.1f | %.2f |' % (
                format(row['models'], ','), row['variant'], row['runs'],
                row['seconds'], row['median_seconds'],
                format(round(row['models_per_second']), ','),
                _cell(row['vs_baseline']), _cell(row['compiled_ratio']),
                row['peak_rss_mb'], row['peak_pss_mb'], row['cpu_seconds'],
                row['other_load']))
    lines += ['', '| N | target | value | met |',
              '| ---: | --- | ---: | --- |']
    for check in checks:
        met = {True: 'yes', False: '**no**', None: '-'}[check['met']]
        lines.append('| %s | %s | %.2f | %s |' % (
            format(check['models'], ','), check['target'], check['value'],
            met))
    return '\n'.join(lines)
