"""The TOKENIZER payload: writer and readers agree, and a truncated, bit-flipped
or hostile payload is refused by the C reader with an error code (under ASan
and UBSan, so an out-of-bounds read fails the test) and by the Python reader
with TokenizerModelError."""
import dataclasses
import random
import struct
import subprocess
import sys

import pytest

from tok_harness import ROOT, c_encode_decode, run_checker
from thimble.tokenizer import Tokenizer, TokenizerModelError, load_model
from thimble.tokenizer import payload_format as fmt
from thimble.tokenizer.payload import build_payload, parse_payload, tokenizer_from_payload
from toolchain import need, need_module

FIELD = {name: i for i, (name, _, _) in enumerate(fmt.HEADER)}


def header_offset(name):
    return struct.calcsize(fmt.struct_format(fmt.HEADER[:FIELD[name]]))


def with_field(buf, name, value):
    code = dict((n, c) for n, c, _ in fmt.HEADER)[name]
    out = bytearray(buf)
    struct.pack_into("<" + code, out, header_offset(name), value)
    return bytes(out)


def c_open(checker, tmp_path, payloads):
    paths = []
    for k, p in enumerate(payloads):
        path = tmp_path / f"p{k}.bin"
        path.write_bytes(p)
        paths.append(path)
    out = []
    for i in range(0, len(paths), 200):    # keep command lines short
        out += run_checker(checker, ["--open"] + paths[i:i + 200])
    assert len(out) == len(paths)
    return out


@pytest.fixture(scope="module")
def needle_payload(spm_models):
    return build_payload(load_model(spm_models["needle"]))


def test_header_is_generated_and_current():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_tokenizer_format.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_round_trip_through_python_reader(spm_models):
    for path in spm_models.values():
        model = load_model(path)
        back = parse_payload(build_payload(model))
        assert back.pieces == model.pieces and back.types == model.types
        assert (back.add_dummy_prefix, back.remove_extra_whitespaces, back.byte_fallback, back.unk_surface) == \
            (model.add_dummy_prefix, model.remove_extra_whitespaces, model.byte_fallback, model.unk_surface)
        text = "set a timer 😀 for ten minutes <tools> [{\"name\":\"x\"}]"
        assert Tokenizer(back).encode(text) == Tokenizer(model).encode(text)


def test_c_reader_accepts_good_payloads(spm_models, tok_checker, tmp_path):
    payloads = [build_payload(load_model(p)) for p in spm_models.values()]
    assert c_open(tok_checker, tmp_path, payloads) == ["OK"] * len(payloads)


def test_truncations_are_refused(needle_payload, tok_checker, tmp_path):
    n = len(needle_payload)
    cuts = sorted(set(list(range(0, 200)) + list(range(n - 64, n)) + random.Random(5).sample(range(n), 300)))
    out = c_open(tok_checker, tmp_path, [needle_payload[:c] for c in cuts])
    for c, line in zip(cuts, out):
        # the strings table ends the payload, padded to 4 bytes: a cut in the padding is harmless
        if c < n - 3:
            assert line.startswith("ERR"), (c, line)
        with pytest.raises(TokenizerModelError) if c < fmt.HEADER_SIZE else _maybe_raises():
            parse_payload(needle_payload[:c])


class _maybe_raises:
    """Either parses or raises TokenizerModelError; anything else fails."""
    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        return kind is None or issubclass(kind, TokenizerModelError)


def test_bit_flips_never_crash_and_encoding_stays_in_bounds(needle_payload, tok_checker, tmp_path):
    rng = random.Random(6)
    flipped = []
    for _ in range(400):
        buf = bytearray(needle_payload)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(buf)) if rng.random() < 0.5 else rng.randrange(fmt.HEADER_SIZE)
            buf[pos] ^= 1 << rng.randrange(8)
        flipped.append(bytes(buf))
    out = c_open(tok_checker, tmp_path, flipped)
    assert set(out) <= {"OK"} | {f"ERR {c}" for c in range(-15, 0)}
    assert sum(line != "OK" for line in out) > 100   # header flips must be caught
    for buf in flipped:
        with _maybe_raises():
            tokenizer_from_payload(buf).encode("set a timer 😀")
    # a flip the reader accepts (a score rank, a piece's text) may change ids, never bounds
    accepted = [b for b, line in zip(flipped, out) if line == "OK"][:20]
    for k, buf in enumerate(accepted):
        d = tmp_path / f"acc{k}"
        d.mkdir()
        c_encode_decode(tok_checker, d, buf, [b"set a timer \xf0\x9f\x98\x80 <tools> caf\xc3\xa9", b"\xff"],
                        [[0, 1, 2, 3, 4, 5, 6, 7, 300]])


@pytest.mark.parametrize("field,value,code", [
    ("magic", b"XTOK", -3),
    ("version_major", 2, -4),
    ("header_size", 10, -5),
    ("flags", 0x80, -5),
    ("piece_count", 0, -5),
    ("piece_count", 0xFFFFFFFF, -5),
    ("unk_id", 0xFFFFFFFF, -5),
    ("hash_slots", 3, -5),
    ("hash_slots", 1 << 31, -5),
    ("max_probe", 0, -5),
    ("max_probe", 1000, -5),
    ("user_count", 1 << 30, -5),
    ("unk_surface_len", 1 << 20, -5),
    ("pieces_offset", 0xFFFFFFF0, -6),
    ("hash_offset", 0xFFFFFFFF, -6),
    ("bytes_offset", 0xFFFFFF00, -6),
    ("user_offset", 0x7FFFFFFF, -6),
    ("strings_offset", 0xFFFFFFFF, -6),
    ("strings_size", 0xFFFFFFFF, -6),
    ("unk_surface_offset", 0xFFFFFFFF, -6),
])
def test_hostile_header_fields(needle_payload, tok_checker, tmp_path, field, value, code):
    bad = with_field(needle_payload, field, value)
    assert c_open(tok_checker, tmp_path, [bad]) == [f"ERR {code}"]
    with _maybe_raises():
        parse_payload(bad)


def test_hostile_tables(needle_payload, tok_checker, tmp_path):
    h = dict(zip(FIELD, struct.unpack_from(fmt.struct_format(fmt.HEADER), needle_payload)))
    piece = lambda i: h["pieces_offset"] + i * fmt.PIECE_SIZE  # noqa: E731
    cases = []

    def patch(off, code, value, want):
        buf = bytearray(needle_payload)
        struct.pack_into("<" + code, buf, off, value)
        cases.append((bytes(buf), want))

    patch(piece(100), "I", 0xFFFFFFF0, "ERR -7")            # text offset far outside strings
    patch(piece(100) + 4, "H", 0, "ERR -7")                 # empty piece
    patch(piece(100) + 4, "H", 0xFFFF, "ERR -7")            # longer than any piece
    patch(piece(100) + 6, "B", 9, "ERR -7")                 # unknown type
    patch(piece(100) + 6, "B", 2, "ERR -7")                 # a second UNKNOWN
    patch(piece(3) + 6, "B", 1, "ERR -7")                   # no UNKNOWN at all
    patch(piece(6) + 6, "B", 1, "ERR -7")                   # 255 byte pieces with byte fallback on
    patch(piece(101), "I", struct.unpack_from("<I", needle_payload, piece(100))[0], "ERR -8")  # duplicate text
    patch(h["hash_offset"] + 4 * next(s for s in range(h["hash_slots"]) if struct.unpack_from(
        "<I", needle_payload, h["hash_offset"] + 4 * s)[0]), "I", h["piece_count"] + 1, "ERR -8")
    patch(h["hash_offset"] + 4 * next(s for s in range(h["hash_slots"]) if struct.unpack_from(
        "<I", needle_payload, h["hash_offset"] + 4 * s)[0]), "I", 0, "ERR -8")  # a piece unreachable
    patch(h["bytes_offset"] + 4 * 0x41, "I", 100, "ERR -9")  # byte 0x41 mapped to a normal piece
    patch(h["bytes_offset"] + 4 * 0x41, "I", 0xFFFFFFFF, "ERR -9")
    patch(h["bytes_offset"] + 4 * 0x41, "I", 6 + 0x42, "ERR -9")  # <0x42> for byte 0x41
    patch(h["user_offset"], "I", 100, "ERR -10")
    patch(h["user_offset"], "I", 0xFFFFFFFF, "ERR -10")
    patch(h["user_offset"] + 4, "I", 4, "ERR -10")             # not increasing
    bufs, wants = zip(*cases)
    assert c_open(tok_checker, tmp_path, list(bufs)) == list(wants)
    for buf in bufs:
        with _maybe_raises():
            parse_payload(buf)


def test_payload_inside_a_thm_image(spm_models, tok_checker, tmp_path):
    """The image's TOKENIZER section carries the payload; the C image reader
    hands it to the C tokenizer, which encodes as sentencepiece does."""
    spm = need_module("sentencepiece")
    import numpy as np
    from thimble.image import Tensor, build_image, parse_image
    model = load_model(spm_models["needle"])
    payload = build_payload(model)
    config = dict(vocab_size=len(model.pieces), d_model=16, n_enc_layers=1, n_dec_layers=1, n_heads=2,
                  n_kv_heads=1, head_dim=8, max_enc_len=32, max_dec_len=16, rope_n_pos=32, pad_id=0,
                  eos_id=1, bos_id=2, unk_id=3, tool_call_id=4, tools_id=5, weight_bits=8)
    image = build_image(config, [Tensor("embedding", np.zeros((len(model.pieces), 16), np.int8))],
                        payload, b"model-id")
    assert parse_image(image).tokenizer == payload
    sp = spm.SentencePieceProcessor(model_file=str(spm_models["needle"]))
    text = "set a timer for ten minutes <tools> 明日 😀".encode()
    (enc,), _ = c_encode_decode(tok_checker, tmp_path, image, [text], image=True)
    assert enc[0] == sp.encode(text)


def test_device_code_needs_no_allocator(tmp_path):
    """The device files build for a Cortex-M4 with no libc beyond mem*."""
    cc, nm = need("arm-none-eabi-gcc", "arm-none-eabi-nm")
    src = ROOT / "runtime" / "device" / "tokenizer"
    # as the firmware is built: the compiler's own headers and the device's libc header only
    gcc_include = subprocess.run([cc, "-print-file-name=include"], capture_output=True, text=True,
                                 check=True).stdout.strip()
    undefined = set()
    for name in ("thm_tok_open", "thm_tok_encode", "thm_tok_decode"):
        obj = tmp_path / f"{name}.o"
        subprocess.run([cc, "-std=c11", "-mcpu=cortex-m4", "-mthumb", "-Os", "-Wall", "-Wextra", "-Werror",
                        "-ffreestanding", "-nostdinc", "-isystem", gcc_include,
                        f"-I{ROOT / 'runtime' / 'device' / 'libc' / 'include'}",
                        f"-I{ROOT / 'runtime' / 'device' / 'include'}", f"-I{src}",
                        "-c", str(src / f"{name}.c"), "-o", str(obj)], check=True)
        out = subprocess.run([nm, "-u", str(obj)], capture_output=True, text=True, check=True).stdout
        undefined |= {line.split()[-1] for line in out.splitlines() if line.strip()}
    assert undefined <= {"memcmp", "memcpy", "memmove", "memset", "thm_tok_lookup"}, undefined


def partial_utf8_model(spm):
    """spm with three pieces turned into USER_DEFINED pieces that are single
    bytes of multi-byte characters (0xE2 and 0x96 start U+2581, the space
    marker; 0xEF starts U+FFFD): the payload an outside pass used to make the
    device encoder split one input byte into three symbols, past its scratch."""
    from thimble.tokenizer.spm_model import NORMAL, USER_DEFINED
    pieces, types = list(spm.pieces), list(spm.types)
    normal = [i for i, k in enumerate(types) if k == NORMAL][-3:]
    for i, text in zip(normal, (b"\xe2", b"\x96", b"\xef")):
        pieces[i], types[i] = text, USER_DEFINED
    return dataclasses.replace(spm, pieces=tuple(pieces), types=tuple(types))


def test_pieces_that_are_not_whole_utf8_characters_are_refused(spm_models, tok_checker, tmp_path):
    bad = build_payload(partial_utf8_model(load_model(spm_models["needle"])))
    assert c_open(tok_checker, tmp_path, [bad]) == ["ERR -15"]      # THM_TOK_E_UTF8
    with pytest.raises(TokenizerModelError, match="not whole UTF-8 characters"):
        parse_payload(bad)
    # one such piece is enough; a whole multi-byte character is a fine piece
    spm = load_model(spm_models["needle"])
    for text, want in ((b"\xe2\x96", "ERR -15"), (b"\xed\xa0\x80", "ERR -15"), (b"\xe2\x96\x81\xe2\x96\x81", "OK")):
        pieces = list(spm.pieces)
        pieces[-1] = text
        p = build_payload(dataclasses.replace(spm, pieces=tuple(pieces)))
        assert c_open(tok_checker, tmp_path, [p]) == [want], text
