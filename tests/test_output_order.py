"""The order of output lines: sort_key orders keys as a reader expects and
gives distinct keys distinct texts; a run's output comes in that order."""

from __future__ import annotations

import fractions
import math
import random
import struct

from apache_beam import coders

from beam_jobs import user_jobs_one_off
from models import user_models
from pipelines import output_order

# Keys in their output order; their sort texts hold numbers, text beyond
# the Basic Multilingual Plane and the control characters that separate a
# tuple's items: the stores must give them back in this order.
ORDERED_KEYS = [None, False, -10, -1.5, 2, 10, 2 ** 70, '', 'a\x00', 'a\x01b',
                'é', '\U0001f600', b'\x00', ('a',), ('a', 2), ('a', 10),
                ('a\x00',), ('ab',), (('a',), 1)]

_KIND_RANKS = {type(None): 0, bool: 1, int: 2, float: 2, str: 3, bytes: 4,
               tuple: 5, list: 6}


def _expected_order(key):
    """What sort_key's order must be, in Python's comparisons: by kind,
    numbers by exact value (an int before an equal float, then floats by
    repr), strings and bytes by code point, sequences item by item."""
    kind = type(key)
    rank = _KIND_RANKS[kind]
    if kind in (int, float):
        if kind is float and math.isnan(key):
            return (rank, 3)
        if kind is float and math.isinf(key):
            return (rank, 2 if key > 0 else 0)
        tie = (0, '') if kind is int else (1, repr(key))
        return (rank, 1, fractions.Fraction(key), tie)
    if kind in (tuple, list):
        return (rank, tuple(_expected_order(item) for item in key))
    return (rank, key)


def _random_key(rng, depth=0):
    choice = rng.randrange(9 if depth < 2 else 7)
    if choice == 0:
        return rng.choice([None, True, False])
    if choice == 1:
        return rng.choice([0, 1, -1, 2, 10, -10, 100, 2 ** 53 + 1,
                           -(2 ** 70), 10 ** 40, rng.randrange(-1000, 1000)])
    if choice == 2:
        return rng.choice([0.0, -0.0, 0.5, 0.55, -0.5, -0.55, 1.0, 2.5, 1e-300,
                           -1e300, 2.0 ** 60, float('inf'), float('-inf'),
                           rng.uniform(-1000, 1000)])
    if choice in (3, 4, 5):
        alphabet = ['a', 'b', 'é', '\x00', '\x01', '\x02', '\x03', ' ', '~',
                    '漢', '\U0001f600']
        return ''.join(rng.choice(alphabet)
                       for _ in range(rng.randrange(4)))
    if choice == 6:
        return bytes(rng.choice([0, 1, 2, 97, 255])
                     for _ in range(rng.randrange(3)))
    items = [_random_key(rng, depth + 1) for _ in range(rng.randrange(4))]
    return tuple(items) if choice == 7 else items


def test_sort_key_orders_keys_as_python_compares_them():
    rng = random.Random(1)
    keys = [_random_key(rng) for _ in range(3000)]
    # A NaN equals nothing, so it cannot be in a list sorted for the check
    # below more than once; its place is tested on its own.
    keys = [k for k in keys if not (isinstance(k, float) and math.isnan(k))]
    got = sorted(keys, key=output_order.sort_key)
    want = sorted(keys, key=_expected_order)
    assert [_expected_order(k) for k in got] == [
        _expected_order(k) for k in want]


def test_sort_key_gives_the_stores_test_keys_their_order():
    assert sorted(ORDERED_KEYS[::-1], key=output_order.sort_key) == (
        ORDERED_KEYS)


def test_numbers_order_by_value_not_by_text():
    keys = [10, 2, -1.5, 0, -10, 1e-3, 9.99, float('inf'), float('-inf'),
            float('nan'), 2 ** 64, -2 ** 64]
    got = sorted(keys, key=output_order.sort_key)
    assert got[:-1] == [float('-inf'), -2 ** 64, -10, -1.5, 0, 1e-3, 2, 9.99,
                        10, 2 ** 64, float('inf')]
    assert math.isnan(got[-1])


def test_kinds_order_none_bool_number_text_bytes_tuple_list():
    keys = [[1], (1,), b'a', 'a', 1, True, None, ('a', 2), ('a', 10), ('a',)]
    assert sorted(keys, key=output_order.sort_key) == [
        None, True, 1, 'a', b'a', (1,), ('a',), ('a', 2), ('a', 10), [1]]


def test_distinct_keys_give_distinct_texts():
    # Keys GroupByKey keeps apart (their encodings differ) must not share
    # a text: the store keeps one line per (text, index).
    rng = random.Random(2)
    coder = coders.FastPrimitivesCoder().as_deterministic_coder('test')
    keys = [_random_key(rng) for _ in range(3000)] + [
        0, 0.0, -0.0, 1, 1.0, True, False, 'None', None, '', b'', (), [],
        ('',), ((),), ('a', 'b'), ('ab',), ('a\x00',), ('a',)]
    texts = {}
    for key in keys:
        texts.setdefault(output_order.sort_key(key), set()).add(
            coder.encode(key))
    assert all(len(encodings) == 1 for encodings in texts.values())


def test_a_runs_output_lists_numeric_keys_by_value(store):
    user_models.UserSettingsModel.put_multi([
        user_models.UserSettingsModel(
            id='u%d' % n, email='u%d@example.com' % n,
            username='x' * n if n else None)
        for n in range(12)])
    job_class = user_jobs_one_off.UsernameLengthDistributionOneOffJob
    job_id = job_class.create_new()
    job_class.enqueue(job_id)
    assert job_class.get_output(job_id) == [
        '(None, 1)'] + ['(%d, 1)' % n for n in range(1, 12)]


def test_nans_of_each_sign_and_payload_have_their_own_texts():
    nans = [float('nan'), -float('nan'),
            struct.unpack('>d', bytes.fromhex('7ff8000000000001'))[0]]
    texts = [output_order.sort_key(n) for n in nans]
    assert len(set(texts)) == 3
    # After every other number, and the same NaN always the same text.
    assert all(t > output_order.sort_key(float('inf')) for t in texts)
    assert output_order.sort_key(float('nan')) == texts[0]
