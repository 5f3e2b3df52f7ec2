"""Reading SentencePiece .model files without sentencepiece: settings thimble
does not implement are refused with a clear message, and a malformed file
gives TokenizerModelError, never another exception."""
import random
import struct

import pytest

from tok_spm_train import train
from thimble.tokenizer import TokenizerModelError, load_model, parse_model
from toolchain import need_module


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number, wire, payload):
    key = varint(number << 3 | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    if wire == 0:
        return key + varint(payload)
    return key + payload


def piece(text, score=0.0, kind=1):
    return field(1, 2, field(1, 2, text.encode()) + field(2, 5, struct.pack("<f", score)) + field(3, 0, kind))


def handmade(pieces, model_type=2, byte_fallback=False, normalizer=b""):
    body = b"".join(piece(*p) for p in pieces)
    body += field(2, 2, field(3, 0, model_type) + field(35, 0, int(byte_fallback)))
    body += field(3, 2, field(1, 2, b"identity") + normalizer)
    return body


BASE = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("\u2581a", -1.0, 1), ("a", -2.0, 1), ("\u2581", -3.0, 1)]


def test_handmade_model_parses():
    m = parse_model(handmade(BASE))
    assert m.pieces[2] == "\u2581a".encode() and m.unk_id == 0 and not m.byte_fallback
    assert m.add_dummy_prefix and m.remove_extra_whitespaces


@pytest.mark.parametrize("data,message", [
    (handmade(BASE, model_type=1), "not BPE"),
    (handmade(BASE + [("u", 0.0, 5)]), "UNUSED"),
    (handmade(BASE + [("a", -5.0, 1)]), "defined twice"),
    (handmade(BASE[1:]), "exactly one UNKNOWN"),
    (handmade(BASE + [("<unk2>", 0.0, 2)]), "exactly one UNKNOWN"),
    (handmade(BASE, byte_fallback=True), "256 pieces"),
    (handmade(BASE + [("<0x41>", 0.0, 6)]), "byte_fallback is false"),
    (handmade(BASE, normalizer=field(2, 2, b"\x01\x02\x03")), "only identity"),
    (handmade(BASE, normalizer=field(5, 0, 0)), "escape_whitespaces"),
    (handmade(BASE + [("", 0.0, 1)]), "empty"),
    (handmade(BASE + [("x" * 300, 0.0, 1)]), "limit"),
    (handmade(BASE + [("!", 0.0, 3)]), "single character"),
    (handmade(BASE + [("q", 0.0, 9)]), "unknown type"),
    (b"\x0a\xff\xff\xff\xff\x0f", "runs past the end"),
    (b"\x0b", "wire type"),
    (b"\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", "varint"),
    (b"", "no pieces"),
])
def test_refusals_say_why(data, message):
    with pytest.raises(TokenizerModelError, match=message):
        parse_model(data)


def test_unigram_and_nfkc_models_are_refused(tmp_path):
    need_module("sentencepiece")
    with pytest.raises(TokenizerModelError, match="not BPE"):
        load_model(train(tmp_path, model_type="unigram", vocab_size=500))
    with pytest.raises(TokenizerModelError, match="only identity"):
        load_model(train(tmp_path, normalization_rule_name="nmt_nfkc"))


def test_damaged_model_files_fail_cleanly(spm_models):
    data = spm_models["needle"].read_bytes()
    rng = random.Random(7)
    damaged = [data[:c] for c in rng.sample(range(len(data)), 200)]
    for _ in range(300):
        buf = bytearray(data)
        buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
        damaged.append(bytes(buf))
    refused = 0
    for buf in damaged:
        try:
            parse_model(buf)
        except TokenizerModelError:
            refused += 1
    assert refused > 100
