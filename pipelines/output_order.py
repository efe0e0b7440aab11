"""The order of a run's output lines: by the key reduce was called with,
keys compared as a reader expects (numbers by value, strings by code
point), and then by the order reduce yielded them.

Stores keep each line with a text sort key and read a run's lines ordered
by it (SQLite's BINARY collation and Datastore's index both order text by
code point). sort_key(key) is that text: distinct keys give distinct texts,
and the texts order as the keys do:

- by kind: None, then booleans, numbers (int and float together), strings,
  bytes, tuples, lists, then anything else (by its repr);
- numbers by value (2 before 10, -1.5 before 0), an int before a float of
  the same value, NaNs after every other number (by their bits); strings
  and bytes by code point; tuples and lists item by item, a shorter one
  first when it is a prefix of the other.
"""

from __future__ import annotations

import decimal
import math
import struct
from typing import Any

# The first character of each kind's text.
_NONE, _BOOL, _NUMBER, _STR, _BYTES, _TUPLE, _LIST, _OTHER = '01234569'
# Numbers: the character after _NUMBER orders them by sign first.
_NEGATIVE_INFINITY, _NEGATIVE, _ZERO, _POSITIVE, _INFINITY, _NAN = '012345'
# A number's decimal exponent is written as this offset plus it, in 6
# digits: floats reach 10**±324, and ints cannot be written out past 4,300
# digits (Python's int-to-str limit).
_EXPONENT_OFFSET = 500_000
# Ends a negative number's digits: above every digit, so that its longer
# mantissa (the smaller number) orders first.
_NEGATIVE_END = '~'
# Ends each item of a tuple or list: below any character an item's text can
# start with once _ESCAPES are applied, so a shorter item orders first.
_ITEM_END = '\x01'
# The three lowest characters become two each, starting with \x02 and in
# their order, so that no item's text contains _ITEM_END.
_ESCAPES = str.maketrans({'\x00': '\x02\x01', '\x01': '\x02\x02',
                          '\x02': '\x02\x03'})
_COMPLEMENT = str.maketrans('0123456789', '9876543210')


def sort_key(key: Any) -> str:
    """The text by which the output lines of key are ordered among a run's
    other keys' lines; see the module's docstring."""
    kind = type(key)
    if kind is str:
        return _STR + key
    if kind is int:
        return _int_text(key)
    if key is None:
        return _NONE
    if kind is bool:
        return _BOOL + ('1' if key else '0')
    if kind is float:
        # The repr tells an int and an equal float apart, and 0.0 from -0.0;
        # after the value's text, it orders them among equals only. Every
        # NaN's repr is 'nan', so a NaN is told apart by its bits (its sign
        # and payload), as GroupByKey tells NaNs apart.
        tie_break = (struct.pack('>d', key).hex() if math.isnan(key)
                     else repr(key))
        return _float_text(key) + ' ' + tie_break
    if kind is tuple:
        return _TUPLE + _items_text(key)
    if kind is list:
        return _LIST + _items_text(key)
    if kind is bytes:
        return _BYTES + key.decode('latin-1')
    return _OTHER + repr(key)


def _items_text(items: tuple | list) -> str:
    return ''.join(sort_key(item).translate(_ESCAPES) + _ITEM_END
                   for item in items)


def _int_text(value: int) -> str:
    if value == 0:
        return _NUMBER + _ZERO
    digits = str(abs(value))
    return _magnitude_text(value < 0, digits.rstrip('0'), len(digits) - 1)


def _float_text(value: float) -> str:
    if math.isnan(value):
        return _NUMBER + _NAN
    if math.isinf(value):
        return _NUMBER + (_INFINITY if value > 0 else _NEGATIVE_INFINITY)
    if value == 0:
        return _NUMBER + _ZERO
    # Exact: the float's own binary value written in decimal, so that it
    # orders correctly against ints of any size.
    sign, digits, exponent = decimal.Decimal(value).as_tuple()
    text = ''.join(map(str, digits))
    return _magnitude_text(bool(sign), text.rstrip('0'),
                           len(text) - 1 + exponent)


def _magnitude_text(negative: bool, mantissa: str, exponent: int) -> str:
    """A non-zero number 0.mantissa x 10**(exponent + 1): ordered by its
    exponent, then by its mantissa's digits (no trailing zeros), both
    reversed for a negative number."""
    exponent_text = '%06d' % (_EXPONENT_OFFSET + exponent)
    if not negative:
        return _NUMBER + _POSITIVE + exponent_text + mantissa
    return (_NUMBER + _NEGATIVE + exponent_text.translate(_COMPLEMENT)
            + mantissa.translate(_COMPLEMENT) + _NEGATIVE_END)
