"""The Python payload reader refuses exactly what the device's thm_tok_open
refuses: a payload the board will not open must not run in `thimble sim`
(the outside pass's image ran on the host and crashed the board), and one
the board opens must not be refused on the host. Mutants of watch-tiny's
payload (bit flips anywhere, hostile header fields, patched tables) are
judged by both readers and the verdicts compared one by one."""
import random
import struct

from tok_harness import ROOT, run_checker
from thimble.tokenizer import TokenizerModelError, load_model
from thimble.tokenizer import payload_format as fmt
from thimble.tokenizer.payload import build_payload, parse_payload

FIELDS = [f[0] for f in fmt.HEADER]


def payload():
    return build_payload(load_model(str(ROOT / "models" / "watch-tiny" / "tokenizer.model")))


def header(buf):
    return dict(zip(FIELDS, struct.unpack_from(fmt.struct_format(fmt.HEADER), buf)))


def patched(buf, off, code, value):
    out = bytearray(buf)
    struct.pack_into("<" + code, out, off, value)
    return bytes(out)


def mutants(good):
    rng = random.Random(11)
    h = header(good)
    out = []
    for _ in range(300):                              # flips in the header, the tables and the strings
        buf = bytearray(good)
        for _ in range(rng.randint(1, 3)):
            end = rng.choice([fmt.HEADER_SIZE, h["strings_offset"], len(buf)])
            buf[rng.randrange(end)] ^= 1 << rng.randrange(8)
        out.append(bytes(buf))
    off = {name: struct.calcsize("<" + "".join(f[1] for f in fmt.HEADER[:k]))
           for k, name in enumerate(FIELDS)}
    for name in ("header_size", "hash_slots", "max_probe", "user_count", "bytes_offset", "user_offset",
                 "hash_offset", "flags", "unk_id"):
        for value in (0, 1, h[name] + 1, h[name] * 2, 0xFFFFFFFF):
            out.append(patched(good, off[name], "I", value))
    piece = lambda i: h["pieces_offset"] + i * fmt.PIECE_SIZE  # noqa: E731
    for i in (3, 4, 5, 100, h["piece_count"] - 1):
        out.append(patched(good, piece(i) + 6, "B", fmt.PIECE_TYPES["USER_DEFINED"]))   # not in the user list
        out.append(patched(good, piece(i) + 6, "B", fmt.PIECE_TYPES["BYTE"]))
        out.append(patched(good, piece(i), "I", 0))                                      # another piece's text
    for s in range(0, h["hash_slots"], max(1, h["hash_slots"] // 40)):
        out.append(patched(good, h["hash_offset"] + 4 * s, "I", 0))
        out.append(patched(good, h["hash_offset"] + 4 * s, "I", h["piece_count"]))
    for b in (0, 0x41, 0xFF):
        out.append(patched(good, h["bytes_offset"] + 4 * b, "I", 7))
    for k in range(h["user_count"]):
        out.append(patched(good, h["user_offset"] + 4 * k, "I", 6))
    return out


def python_opens(buf):
    try:
        parse_payload(buf)
    except TokenizerModelError:
        return False
    return True


def test_python_and_c_readers_agree_on_every_mutant(tok_checker, tmp_path):
    good = payload()
    bufs = [good] + mutants(good)
    paths = []
    for k, buf in enumerate(bufs):
        p = tmp_path / f"m{k}.bin"
        p.write_bytes(buf)
        paths.append(p)
    c = [line == "OK" for line in run_checker(tok_checker, ["--open"] + paths)]
    py = [python_opens(buf) for buf in bufs]
    assert c[0] and py[0]
    assert sum(not v for v in c) > 100                 # the mutants do exercise the checks
    differ = [(k, c[k], py[k]) for k in range(len(bufs)) if c[k] != py[k]]
    assert not differ, f"{len(differ)} of {len(bufs)} payloads judged differently (index, C opens, Python opens): {differ[:8]}"
