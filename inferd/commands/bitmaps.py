"""Bitmap commands over string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP (Redis 7.0's semantics).

A bitmap is an ordinary string: bit 0 is the most significant bit of byte 0, a missing key reads as zeros, and a write
past the end zero-pads the string. Ranges are in bytes unless BIT is given; negative indexes count from the end and
both ends are clamped to the string, as in Redis.
"""
from __future__ import annotations

from inferd import errors
from inferd.commands.args import parse_int
from inferd.commands.context import Client
from inferd.commands.table import keyed_commands
from inferd.errors import CommandError

_POPCOUNT = bytes(bin(i).count("1") for i in range(256))


def _string(c: Client, key: bytes) -> bytes | None:
    return c.db.get_typed(key, bytes)


def _offset(c: Client, raw: bytes) -> int:
    """A bit offset: non-negative, and within a string of proto-max-bulk-len bytes."""
    offset = parse_int(raw, errors.BIT_OFFSET_BITMAP)
    if offset < 0 or offset >> 3 >= c.server.config.proto_max_bulk_len:
        raise CommandError(errors.BIT_OFFSET_BITMAP)
    return offset


def setbit(c: Client, argv: list[bytes]) -> int:
    """SETBIT key offset 0|1: the bit's previous value."""
    offset = _offset(c, argv[2])
    if argv[3] not in (b"0", b"1"):
        raise CommandError(errors.BIT_VALUE)
    on = argv[3] == b"1"
    key = argv[1]
    value = _string(c, key)
    byte, mask = offset >> 3, 0x80 >> (offset & 7)
    grown = value is None or byte >= len(value)
    data = bytearray(value or b"")
    if grown:
        data.extend(bytes(byte + 1 - len(data)))
    old = data[byte] & mask
    if not grown and bool(old) == on:   # nothing changed: Redis signals no watcher
        c.unchanged = bool(c.db.watched)
        return 1 if old else 0
    data[byte] = data[byte] | mask if on else data[byte] & ~mask
    c.db.set(key, bytes(data), keep_ttl=True)
    return 1 if old else 0


def getbit(c: Client, argv: list[bytes]) -> int:
    """GETBIT key offset: 0 past the end and for a missing key."""
    offset = _offset(c, argv[2])
    value = _string(c, argv[1])
    byte = offset >> 3
    if value is None or byte >= len(value):
        return 0
    return 1 if value[byte] & (0x80 >> (offset & 7)) else 0


def _bit_unit(raw: bytes) -> bool:
    """BIT (True) or BYTE (False), any case; a syntax error otherwise."""
    word = raw.upper()
    if word not in (b"BIT", b"BYTE"):
        raise CommandError(errors.SYNTAX)
    return word == b"BIT"


def _bit_span(start: int, end: int, length: int) -> tuple[int, int]:
    """Redis's range of indexes into ``length`` units: negative from the end, both clamped; empty if start > end."""
    if start < 0:
        start += length
    if end < 0:
        end += length
    start, end = max(start, 0), max(end, 0)
    return start, min(end, length - 1)


def _count_bits(value: bytes, first: int, last: int) -> int:
    """Set bits from bit ``first`` to bit ``last`` (inclusive) of ``value``."""
    first_byte, last_byte = first >> 3, last >> 3
    total = sum(_POPCOUNT[b] for b in value[first_byte:last_byte + 1])
    total -= _POPCOUNT[value[first_byte] & ~(0xFF >> (first & 7)) & 0xFF]      # bits before first in its byte
    total -= _POPCOUNT[value[last_byte] & (0xFF >> ((last & 7) + 1))]         # bits after last in its byte
    return total


def bitcount(c: Client, argv: list[bytes]) -> int:
    """BITCOUNT key [start end [BYTE|BIT]]: the set bits in the range (the whole string by default)."""
    value = _string(c, argv[1])
    if value is None:   # as Redis 7.0: a missing key counts 0 before the range is parsed
        return 0
    if len(argv) == 2:
        return sum(_POPCOUNT[b] for b in value)
    if len(argv) not in (4, 5):
        raise CommandError(errors.SYNTAX)
    start, end = parse_int(argv[2]), parse_int(argv[3])
    in_bits = len(argv) == 5 and _bit_unit(argv[4])
    if start < 0 and end < 0 and start > end:   # Redis's own test, before clamping would make it [0, 0]
        return 0
    length = len(value) * 8 if in_bits else len(value)
    start, end = _bit_span(start, end, length)
    if start > end:
        return 0
    return _count_bits(value, start, end) if in_bits else sum(_POPCOUNT[b] for b in value[start:end + 1])


def bitpos(c: Client, argv: list[bytes]) -> int:
    """BITPOS key 0|1 [start [end [BYTE|BIT]]]: the first bit set to the value in the range, or -1.

    Looking for a 0 without an end, the string counts as zero-padded: no 0 in it answers the bit just past its end.
    """
    bit = parse_int(argv[2])
    if bit not in (0, 1):
        raise CommandError(errors.BIT_ARGUMENT)
    value = _string(c, argv[1])
    if value is None:
        return -1 if bit else 0
    if len(argv) > 6:
        raise CommandError(errors.SYNTAX)
    in_bits = False
    end_given = len(argv) >= 5
    if len(argv) >= 4:
        start = parse_int(argv[3])
        if len(argv) == 6:
            in_bits = _bit_unit(argv[5])
        end = parse_int(argv[4]) if end_given else (len(value) * 8 + 7 if in_bits else len(value) - 1)
        start, end = _bit_span(start, end, len(value) * 8 if in_bits else len(value))
    else:
        start, end = 0, len(value) - 1
    if start > end:
        return -1
    first, last = (start, end) if in_bits else (start * 8, end * 8 + 7)
    found = _first_bit(value, first, last, bit)
    if found >= 0:
        return found
    if bit == 1 or end_given:
        return -1
    return ((last >> 3) + 1) * 8   # the zero padding right after the range's last byte


def _first_bit(value: bytes, first: int, last: int, bit: int) -> int:
    """The position of the first bit equal to ``bit`` from bit ``first`` to bit ``last``, or -1."""
    skip = 0 if bit else 0xFF   # a byte with no such bit
    position = first
    while position <= last:
        byte = value[position >> 3]
        if position & 7 == 0 and position + 7 <= last and byte == skip:
            position += 8
            continue
        if (byte >> (7 - (position & 7))) & 1 == bit:
            return position
        position += 1
    return -1


_OPERATIONS = (b"AND", b"OR", b"XOR", b"NOT")


def bitop(c: Client, argv: list[bytes]) -> int:
    """BITOP AND|OR|XOR|NOT destkey key [key ...]: the length of the result stored at destkey."""
    operation = argv[1].upper()
    if operation not in _OPERATIONS:
        raise CommandError(errors.SYNTAX)
    if operation == b"NOT" and len(argv) != 4:
        raise CommandError(errors.BITOP_NOT_ONE_KEY)
    sources = [_string(c, key) or b"" for key in argv[3:]]
    width = max(map(len, sources))
    destination = argv[2]
    if not width:   # nothing to store: the destination goes (Redis signals no watcher if there was none)
        if not c.db.delete(destination):
            c.unchanged = bool(c.db.watched)
        return 0
    numbers = [int.from_bytes(s.ljust(width, b"\0"), "big") for s in sources]
    result = numbers[0]
    if operation == b"NOT":
        result = ~result & ((1 << (8 * width)) - 1)
    for number in numbers[1:]:
        if operation == b"AND":
            result &= number
        elif operation == b"OR":
            result |= number
        else:
            result ^= number
    c.db.set(destination, result.to_bytes(width, "big"))
    return width


_b = keyed_commands("bitmap", since="2.2.0")

COMMANDS = [
    _b("setbit", setbit, 4, "write denyoom", "Sets or clears the bit at offset of the string value. Creates the key if "
       "it doesn't exist.", "key offset value"),
    _b("getbit", getbit, 3, "readonly fast", "Returns a bit value by offset.", "key offset"),
    _b("bitcount", bitcount, -2, "readonly", "Counts the number of set bits (population counting) in a string.",
       "key [start end [BYTE|BIT]]", "2.6.0"),
    _b("bitpos", bitpos, -3, "readonly", "Finds the first set (1) or clear (0) bit in a string.",
       "key bit [start [end [BYTE|BIT]]]", "2.8.7"),
    _b("bitop", bitop, -4, "write denyoom", "Performs bitwise operations on multiple strings, and stores the result.",
       "operation destkey key...", "2.6.0", keys=(2, -1, 1)),
]
