"""The TOKENIZER section payload: every fact about its layout, in one table.

The Python writer/reader (payload.py) and the C reader
(runtime/device/tokenizer/, through the generated header
runtime/device/include/thm_tokenizer_format.h) take sizes and codes from here;
tools/gen_tokenizer_format.py renders the header, and a test checks that the
committed header is current.

Layout (little-endian; offsets from the start of the payload; every table
4-byte aligned; readers use byte loads and never rely on alignment):

    header    HEADER (96 bytes)
    pieces    PIECE x piece_count
    hash      uint32 x hash_slots: piece id + 1, or 0 for an empty slot
    bytes     uint32 x 256: id of <0xXX> for byte XX (only with FLAG_BYTE_FALLBACK)
    user      uint32 x user_count: ids of USER_DEFINED pieces, increasing
    strings   piece texts and the unk surface, UTF-8, not NUL-terminated

Lookup: slot = fnv1a32(text) & (hash_slots - 1), then linear probing, at most
max_probe slots. The writer picks hash_slots so every piece is found within
max_probe; the reader checks that it is, so lookups are bounded.
"""
import struct

MAGIC = b"TTOK"
VERSION_MAJOR = 1
VERSION_MINOR = 0
MAX_PIECES = 65536
MAX_PIECE_BYTES = 255
MAX_USER = 64
MAX_UNK_SURFACE = 64
MAX_HASH_SLOTS = 1 << 20
MAX_PROBE = 64
FNV_OFFSET = 2166136261
FNV_PRIME = 16777619

FLAGS = {"ADD_DUMMY_PREFIX": 1, "REMOVE_EXTRA_WHITESPACES": 2, "BYTE_FALLBACK": 4}
# SentencePiece's ModelProto.SentencePiece.Type codes (UNUSED = 5 is refused)
PIECE_TYPES = {"NORMAL": 1, "UNKNOWN": 2, "CONTROL": 3, "USER_DEFINED": 4, "BYTE": 6}

HEADER = [
    ("magic", "4s", "b'TTOK'"),
    ("version_major", "H", "VERSION_MAJOR"),
    ("version_minor", "H", "VERSION_MINOR"),
    ("header_size", "I", "bytes in this header (96)"),
    ("flags", "I", "FLAGS"),
    ("piece_count", "I", "1 .. MAX_PIECES"),
    ("unk_id", "I", "the one UNKNOWN piece"),
    ("hash_slots", "I", "power of two > piece_count, <= MAX_HASH_SLOTS"),
    ("max_probe", "I", "1 .. MAX_PROBE"),
    ("pieces_offset", "I", "PIECE table"),
    ("hash_offset", "I", "uint32 x hash_slots"),
    ("bytes_offset", "I", "uint32 x 256, or 0 without byte fallback"),
    ("user_offset", "I", "uint32 x user_count"),
    ("user_count", "I", "0 .. MAX_USER"),
    ("strings_offset", "I", "string bytes"),
    ("strings_size", "I", "bytes"),
    ("unk_surface_offset", "I", "into strings"),
    ("unk_surface_len", "I", "0 .. MAX_UNK_SURFACE"),
    ("reserved", "28s", "zero"),
]

PIECE = [
    ("text_offset", "I", "into strings"),
    ("text_len", "H", "1 .. MAX_PIECE_BYTES"),
    ("type", "B", "PIECE_TYPES"),
    ("reserved", "B", "zero"),
    ("rank", "I", "merge priority from the score: higher merges first; 0 if never merged into"),
]


def struct_format(fields):
    return "<" + "".join(code for _, code, _ in fields)


def struct_size(fields):
    return struct.calcsize(struct_format(fields))


HEADER_SIZE = struct_size(HEADER)
PIECE_SIZE = struct_size(PIECE)
assert HEADER_SIZE == 96, HEADER_SIZE
assert PIECE_SIZE == 12, PIECE_SIZE


def fnv1a32(data):
    h = FNV_OFFSET
    for b in data:
        h = ((h ^ b) * FNV_PRIME) & 0xFFFFFFFF
    return h
