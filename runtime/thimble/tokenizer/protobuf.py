"""A small, bounded protobuf wire-format reader: just enough to read a
SentencePiece `.model` file without the protobuf or sentencepiece packages.

The file is untrusted: every length is checked against the bytes left, varints
are at most 10 bytes, nesting is not followed (callers parse submessages
explicitly), and groups (wire types 3/4) are refused.
"""

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


class ProtobufError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def read_varint(buf, pos, end):
    """Returns (value, new_pos); at most 10 bytes, 64-bit result."""
    value = 0
    for i in range(10):
        if pos >= end:
            raise ProtobufError(f"truncated varint at byte {pos}")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << (7 * i)
        if not b & 0x80:
            return value & 0xFFFFFFFFFFFFFFFF, pos
    raise ProtobufError(f"varint longer than 10 bytes ending at byte {pos}")


def fields(buf, start=0, end=None):
    """Yields (field_number, wire_type, value) for one message in buf[start:end].

    value is an int for VARINT/FIXED64/FIXED32 (raw little-endian bits) and a
    memoryview slice for LEN."""
    buf = memoryview(buf)
    end = len(buf) if end is None else end
    pos = start
    while pos < end:
        key, pos = read_varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError(f"field number 0 at byte {pos}")
        if wire == VARINT:
            value, pos = read_varint(buf, pos, end)
        elif wire == FIXED64 or wire == FIXED32:
            n = 8 if wire == FIXED64 else 4
            if end - pos < n:
                raise ProtobufError(f"truncated fixed{n * 8} field {number} at byte {pos}")
            value = int.from_bytes(buf[pos:pos + n], "little")
            pos += n
        elif wire == LEN:
            n, pos = read_varint(buf, pos, end)
            if n > end - pos:
                raise ProtobufError(f"field {number}: length {n} runs past the end ({end - pos} bytes left)")
            value = buf[pos:pos + n]
            pos += n
        else:
            raise ProtobufError(f"field {number}: unsupported wire type {wire} (groups are not used by SentencePiece)")
        yield number, wire, value


def as_bool(value):
    return bool(value)


def as_int32(value):
    """proto int32 is sign-extended to 64 bits on the wire."""
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value >> 63 else value
