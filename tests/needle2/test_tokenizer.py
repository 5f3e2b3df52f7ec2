"""Needle 2's tokenizer against the original exporter's reference encoder
(RefTokenizer, the engine's specification) on the tokenizer blob of a .cact
the original wrote: ids and decoded text of every golden case."""
import json
import pathlib

import pytest

from thimble.needle2 import read_cact
from thimble.needle2.tokenizer import Needle2Tokenizer

DATA = pathlib.Path(__file__).parent / "data"
CASES = json.loads((DATA / "tokenizer_golden.json").read_text())["cases"]


@pytest.fixture(scope="module")
def tok():
    return Needle2Tokenizer.from_cact(read_cact(DATA / "tiny_cq2.cact"))


@pytest.mark.parametrize("case", CASES, ids=[repr(c["text"])[:30] for c in CASES])
def test_the_originals_ids_and_text(tok, case):
    assert tok.encode(case["text"]) == case["ids"]
    assert tok.decode(case["ids"]) == case["decoded"]


def test_markers_are_one_id_and_bytes_fall_back(tok):
    im_start = tok.encode("<|im_start|>")
    assert len([i for i in im_start if tok.kind[i] == "user_defined"]) == 1
    rocket = tok.encode("🚀")
    assert all(tok.kind[i] == "byte" for i in rocket[1:]) and tok.decode(rocket) == "🚀"
    assert (tok.pad_id, tok.eos_id, tok.bos_id, tok.unk_id) == (0, 1, 2, 3)
