"""The Python and C encoders/decoders give exactly sentencepiece's ids and
text, on models trained with Needle's settings and on variants of them."""
import random
import subprocess

import pytest

from tok_harness import DEV, VARIANTS, c_encode_decode
from tok_corpus import PROMPTS, RAW
from thimble.tokenizer import Tokenizer, load_model
from thimble.tokenizer.payload import build_payload
from toolchain import TEST_INCLUDE, component_args, need, need_module

spm = need_module("sentencepiece")


def processors(path):
    return spm.SentencePieceProcessor(model_file=str(path)), Tokenizer(load_model(path))


def random_texts(sp, n, seed):
    """Texts glued from pieces of the vocabulary, spaces and odd characters,
    so that merges across every kind of boundary are exercised."""
    rng = random.Random(seed)
    pieces = [sp.id_to_piece(i).replace("\u2581", " ") for i in range(sp.get_piece_size())
              if not sp.is_control(i) and not sp.is_unknown(i) and not sp.is_byte(i)]
    extra = [" ", "  ", "é", "😀", "中", "\u2581", "<tools>", "\n", "1", "ß"]
    return ["".join(rng.choice(pieces + extra) for _ in range(rng.randint(1, 12))) for _ in range(n)]


def random_bytes(n, seed):
    """Byte strings that are mostly not UTF-8: stray continuation bytes, cut
    sequences, spaces and U+2581 pieces."""
    rng = random.Random(seed)
    alphabet = [b" ", b"a", b"\xe2", b"\x96", b"\x81", b"\xc3", b"\xa9", b"\xf0", b"\x9f", b"\xff", b"<tools>"]
    return [b"".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16))) for _ in range(n)]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_python_encoder_matches_sentencepiece(spm_models, variant):
    sp, tok = processors(spm_models[variant])
    for text in PROMPTS + random_texts(sp, 150, seed=1):
        assert tok.encode(text) == sp.encode(text), repr(text)
    for raw in RAW + random_bytes(100, seed=8):
        assert tok.encode_bytes(raw) == sp.encode(raw), raw


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_python_decoder_matches_sentencepiece(spm_models, variant):
    sp, tok = processors(spm_models[variant])
    for text in PROMPTS:
        ids = sp.encode(text)
        assert tok.decode(ids) == sp.decode(ids), repr(text)
    rng = random.Random(2)
    for _ in range(200):
        # any id sequence, byte pieces and control ids included (malformed UTF-8 runs)
        ids = [rng.randrange(sp.get_piece_size()) for _ in range(rng.randint(0, 10))]
        assert tok.decode(ids) == sp.decode(ids), ids


def test_needle_special_ids(spm_models):
    sp, tok = processors(spm_models["needle"])
    assert [sp.id_to_piece(i) for i in range(6)] == ["<pad>", "</s>", "<s>", "<unk>", "<tool_call>", "<tools>"]
    # user-defined symbols are matched in text, as Needle's tokenizer does
    assert tok.encode("<tools>") == sp.encode("<tools>") and 5 in tok.encode("<tools>")
    assert 4 in tok.encode("a<tool_call>b")
    # characters outside the vocabulary fall back to their UTF-8 bytes
    assert tok.encode("\U0010FFFF")[-4:] == [6 + b for b in "\U0010FFFF".encode()]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_c_encoder_and_decoder_match_sentencepiece(spm_models, tok_checker, tmp_path, variant):
    sp, tok = processors(spm_models[variant])
    texts = [t.encode() for t in PROMPTS + random_texts(sp, 100, seed=3)] + RAW + random_bytes(100, seed=9)
    rng = random.Random(4)
    id_lists = [[rng.randrange(sp.get_piece_size()) for _ in range(rng.randint(0, 10))] for _ in range(100)]
    enc, dec = c_encode_decode(tok_checker, tmp_path, build_payload(tok.model), texts, id_lists)
    for raw, (ids, decoded) in zip(texts, enc):
        want = sp.encode(raw)
        assert ids == want, raw
        assert decoded == sp.decode(want).encode(), raw
    for ids, decoded in zip(id_lists, dec):
        assert decoded == sp.decode(ids).encode(), ids


def test_c_decoder_rejects_bad_ids(spm_models, tok_checker, tmp_path):
    tok = Tokenizer(load_model(spm_models["needle"]))
    _, dec = c_encode_decode(tok_checker, tmp_path, build_payload(tok.model),
                             id_lists=[[1, -1], [tok.vocab_size], [2, 7, 2 ** 31 - 1]])
    assert dec == ["ERR -12"] * 3
    with pytest.raises(ValueError, match="out of range"):
        tok.decode([tok.vocab_size])


def test_round_trip_of_text(spm_models):
    sp, tok = processors(spm_models["needle"])
    for text in PROMPTS:
        # what SentencePiece gives back: spaces collapsed and trimmed, nothing else lost
        assert tok.decode(tok.encode(text)) == sp.decode(sp.encode(text))
    assert tok.decode(tok.encode("明日の天気 😀 réserve")) == "明日の天気 😀 réserve"


def test_c_tokenizer_on_aarch64_matches(spm_models, tmp_path):
    """The same C, cross-built for the glasses' AArch64 and run under
    qemu-aarch64 (user mode), gives the same ids (char signedness, word size)."""
    cc, qemu = need("aarch64-linux-gnu-gcc", "qemu-aarch64")
    src, exe = DEV / "tokenizer", tmp_path / "tok_check_a64"
    subprocess.run([cc, "-std=c11", "-O2", "-static", "-Wall", "-Wextra", "-Werror",
                    TEST_INCLUDE, str(src.parents[2] / "tests" / "tokenizer" / "tok_check.c"), *component_args("tokenizer"),
                    "-o", str(exe)], check=True)
    sp, tok = processors(spm_models["needle"])
    (tmp_path / "p.bin").write_bytes(build_payload(tok.model))
    texts = [t.encode() for t in PROMPTS] + RAW
    rec = b"".join(b"T" + len(t).to_bytes(4, "little") + t for t in texts)
    (tmp_path / "r.bin").write_bytes(rec)
    r = subprocess.run(["timeout", "120", qemu, str(exe), str(tmp_path / "p.bin"), str(tmp_path / "r.bin")],
                       capture_output=True, timeout=150)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    lines = r.stdout.decode().splitlines()
    assert [[int(x) for x in lines[2 * k].split()[1:]] for k in range(len(texts))] == [sp.encode(t) for t in texts]
    assert [bytes.fromhex(lines[2 * k + 1][2:]) for k in range(len(texts))] == \
        [sp.decode(sp.encode(t)).encode() for t in texts]


def test_a_text_encoded_again_gives_the_same_ids_in_a_list_of_its_own(spm_models):
    """encode keeps the ids of recent texts (a session's tool list is encoded
    for every request): a repeat gives the same ids, each call its own list,
    so a caller that changes one does not change the next; past the 8 kept
    texts the first is encoded afresh, to the same ids."""
    sp, tok = processors(spm_models["needle"])
    texts = list(dict.fromkeys(random_texts(sp, 40, seed=5)))[:12]
    assert len(texts) == 12
    first = [tok.encode(t) for t in texts]
    for t, ids in zip(texts, first):
        assert ids == sp.encode(t)
    again = tok.encode(texts[-1])
    assert again == first[-1] and again is not first[-1]
    again.append(-1)
    assert tok.encode(texts[-1]) == first[-1]
    assert len(tok._recent) == tok.RECENT == 8 and texts[0] not in tok._recent and texts[-1] in tok._recent
    assert tok.encode(texts[0]) == sp.encode(texts[0])
    assert texts[0] in tok._recent and len(tok._recent) == 8
