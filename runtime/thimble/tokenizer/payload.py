"""Writer and reader of the TOKENIZER section payload (payload_format.py).

build_payload(SpmModel) -> bytes goes into the .thm image; parse_payload(bytes)
gives the SpmModel back (for tests and host tools). The C reader
(runtime/device/tokenizer/thm_tok_open.c) is the one that runs on the device.
"""
import struct

from . import payload_format as fmt
from .bpe import Tokenizer, merge_ranks
from .spm_model import BYTE, UNKNOWN, USER_DEFINED, SpmModel, TokenizerModelError


def _align4(n):
    return (n + 3) & ~3


def _hash_table(pieces):
    """(slots, max_probe, table) with every piece within max_probe of its home slot."""
    slots = 1
    while slots < 2 * len(pieces):
        slots *= 2
    while slots <= fmt.MAX_HASH_SLOTS:
        table, worst = [0] * slots, 1
        for i, p in enumerate(pieces):
            s, probe = fmt.fnv1a32(p) & (slots - 1), 1
            while table[s]:
                s, probe = (s + 1) & (slots - 1), probe + 1
            table[s] = i + 1
            worst = max(worst, probe)
        if worst <= fmt.MAX_PROBE:
            return slots, worst, table
        slots *= 2
    raise TokenizerModelError("cannot build a bounded hash table for these pieces")


def build_payload(model):
    pieces = model.pieces
    if not 1 <= len(pieces) <= fmt.MAX_PIECES:
        raise TokenizerModelError(f"{len(pieces)} pieces (limit {fmt.MAX_PIECES})")
    ranks = merge_ranks(model)
    slots, max_probe, table = _hash_table(pieces)
    user = [i for i, t in enumerate(model.types) if t == USER_DEFINED]
    byte_ids = []
    if model.byte_fallback:
        where = {p: i for i, p in enumerate(pieces)}
        byte_ids = [where[f"<0x{b:02X}>".encode()] for b in range(256)]
    strings = bytearray()
    entries = []
    for p, t, r in zip(pieces, model.types, ranks):
        entries.append(struct.pack(fmt.struct_format(fmt.PIECE), len(strings), len(p), t, 0, r))
        strings += p
    unk_off = len(strings)
    strings += model.unk_surface
    off = fmt.HEADER_SIZE
    pieces_off = off
    off += len(pieces) * fmt.PIECE_SIZE
    hash_off = off
    off += 4 * slots
    bytes_off = off if byte_ids else 0
    off += 4 * len(byte_ids)
    user_off = off
    off += 4 * len(user)
    strings_off = off
    flags = ((fmt.FLAGS["ADD_DUMMY_PREFIX"] if model.add_dummy_prefix else 0)
             | (fmt.FLAGS["REMOVE_EXTRA_WHITESPACES"] if model.remove_extra_whitespaces else 0)
             | (fmt.FLAGS["BYTE_FALLBACK"] if model.byte_fallback else 0))
    header = struct.pack(fmt.struct_format(fmt.HEADER), fmt.MAGIC, fmt.VERSION_MAJOR, fmt.VERSION_MINOR,
                         fmt.HEADER_SIZE, flags, len(pieces), model.unk_id, slots, max_probe,
                         pieces_off, hash_off, bytes_off, user_off, len(user), strings_off, len(strings),
                         unk_off, len(model.unk_surface), bytes(28))
    out = bytearray(header)
    out += b"".join(entries)
    out += struct.pack(f"<{slots}I", *table)
    out += struct.pack(f"<{len(byte_ids)}I", *byte_ids)
    out += struct.pack(f"<{len(user)}I", *user)
    out += strings
    out += bytes(_align4(len(out)) - len(out))
    return bytes(out)


def _region(buf, off, size, what):
    if off > len(buf) or size > len(buf) - off:
        raise TokenizerModelError(f"tokenizer payload: {what} [{off}, +{size}) outside {len(buf)} bytes")


def parse_payload(buf):
    """SpmModel from a payload; TokenizerModelError on anything inconsistent."""
    buf = bytes(buf)
    _region(buf, 0, fmt.HEADER_SIZE, "header")
    h = dict(zip([f[0] for f in fmt.HEADER], struct.unpack_from(fmt.struct_format(fmt.HEADER), buf)))
    if h["magic"] != fmt.MAGIC:
        raise TokenizerModelError("tokenizer payload: bad magic")
    if h["version_major"] != fmt.VERSION_MAJOR:
        raise TokenizerModelError(f"tokenizer payload: version {h['version_major']} (reader is {fmt.VERSION_MAJOR})")
    n = h["piece_count"]
    if not 1 <= n <= fmt.MAX_PIECES or h["unk_id"] >= n:
        raise TokenizerModelError("tokenizer payload: bad piece_count or unk_id")
    _region(buf, h["pieces_offset"], n * fmt.PIECE_SIZE, "pieces")
    _region(buf, h["strings_offset"], h["strings_size"], "strings")
    strings = buf[h["strings_offset"]:h["strings_offset"] + h["strings_size"]]
    texts, types, ranks = [], [], []
    for i in range(n):
        t_off, t_len, kind, _, rank = struct.unpack_from(fmt.struct_format(fmt.PIECE), buf,
                                                         h["pieces_offset"] + i * fmt.PIECE_SIZE)
        if not 1 <= t_len <= fmt.MAX_PIECE_BYTES or t_off + t_len > len(strings):
            raise TokenizerModelError(f"tokenizer payload: piece {i} text out of bounds")
        if kind not in fmt.PIECE_TYPES.values():
            raise TokenizerModelError(f"tokenizer payload: piece {i} has type {kind}")
        try:
            # whole characters only, as thm_tok_open: a piece ending inside a
            # character would split one input byte into several symbols
            strings[t_off:t_off + t_len].decode("utf-8")
        except UnicodeDecodeError:
            raise TokenizerModelError(f"tokenizer payload: piece {i} is not whole UTF-8 characters") from None
        texts.append(strings[t_off:t_off + t_len])
        types.append(kind)
        ranks.append(rank)
    if types[h["unk_id"]] != UNKNOWN or types.count(UNKNOWN) != 1:
        raise TokenizerModelError("tokenizer payload: unk_id is not the one UNKNOWN piece")
    u_off, u_len = h["unk_surface_offset"], h["unk_surface_len"]
    if u_len > fmt.MAX_UNK_SURFACE or u_off + u_len > len(strings):
        raise TokenizerModelError("tokenizer payload: unk surface out of bounds")
    flags = h["flags"]
    if flags & ~sum(fmt.FLAGS.values()):
        raise TokenizerModelError(f"tokenizer payload: unknown flags 0x{flags:x}")
    # ranks stand in for scores: merge_ranks() of these gives the same ranks back
    model = SpmModel(tuple(texts), tuple(float(r) for r in ranks), tuple(types),
                     bool(flags & fmt.FLAGS["ADD_DUMMY_PREFIX"]),
                     bool(flags & fmt.FLAGS["REMOVE_EXTRA_WHITESPACES"]),
                     bool(flags & fmt.FLAGS["BYTE_FALLBACK"]), strings[u_off:u_off + u_len])
    if len(set(texts)) != len(texts):
        raise TokenizerModelError("tokenizer payload: a piece text appears twice")
    byte_texts = {t for t, k in zip(texts, types) if k == BYTE}
    want = {f"<0x{b:02X}>".encode() for b in range(256)} if model.byte_fallback else set()
    if byte_texts != want or types.count(BYTE) != len(want):
        raise TokenizerModelError("tokenizer payload: byte pieces are not exactly <0x00> .. <0xFF> "
                                  "with byte fallback (or none without)")
    _check_device_tables(buf, h, texts, types)
    return model


def _check_device_tables(buf, h, texts, types):
    """What thm_tok_open checks beyond the pieces: the header's ranges and the
    tables only the device reads (hash, byte fallback, user-defined list).
    The host rebuilds them from the pieces, but a payload the board refuses
    must not run in the simulator: same rules, in the same order of ideas."""
    n, slots, probe = h["piece_count"], h["hash_slots"], h["max_probe"]
    fallback = bool(h["flags"] & fmt.FLAGS["BYTE_FALLBACK"])
    if len(buf) > 0xFFFFFFFF:
        raise TokenizerModelError("tokenizer payload: over 4 GiB")
    if not fmt.HEADER_SIZE <= h["header_size"] <= len(buf):
        raise TokenizerModelError(f"tokenizer payload: header_size {h['header_size']} out of range")
    if not n < slots <= fmt.MAX_HASH_SLOTS or slots & (slots - 1) or not 1 <= probe <= fmt.MAX_PROBE:
        raise TokenizerModelError("tokenizer payload: hash table geometry out of range")
    if h["user_count"] > fmt.MAX_USER or (not fallback and h["bytes_offset"] != 0):
        raise TokenizerModelError("tokenizer payload: user_count or bytes_offset out of range")
    _region(buf, h["hash_offset"], 4 * slots, "hash table")
    if fallback:
        _region(buf, h["bytes_offset"], 4 * 256, "byte table")
    _region(buf, h["user_offset"], 4 * h["user_count"], "user-defined list")
    table = struct.unpack_from(f"<{slots}I", buf, h["hash_offset"])
    if max(table) > n:
        raise TokenizerModelError("tokenizer payload: hash slot outside the pieces")
    for i, text in enumerate(texts):
        # the device's lookup: linear probing from the home slot, at most max_probe slots,
        # the first piece with this text wins (so a duplicate text fails here too)
        s, found = fmt.fnv1a32(text) & (slots - 1), -1
        for _ in range(probe):
            v = table[s]
            if v == 0:
                break
            if texts[v - 1] == text:
                found = v - 1
                break
            s = (s + 1) & (slots - 1)
        if found != i:
            raise TokenizerModelError(f"tokenizer payload: piece {i} is not where the hash table says")
    if fallback:
        for b, i in enumerate(struct.unpack_from("<256I", buf, h["bytes_offset"])):
            if i >= n or types[i] != BYTE or texts[i] != f"<0x{b:02X}>".encode():
                raise TokenizerModelError(f"tokenizer payload: byte 0x{b:02X} maps to the wrong piece")
    user = struct.unpack_from(f"<{h['user_count']}I", buf, h["user_offset"])
    if list(user) != [i for i, k in enumerate(types) if k == USER_DEFINED]:
        raise TokenizerModelError("tokenizer payload: user-defined list is not the USER_DEFINED pieces in order")


def tokenizer_from_payload(buf):
    """The Python Tokenizer of an image's TOKENIZER section."""
    return Tokenizer(parse_payload(buf))
