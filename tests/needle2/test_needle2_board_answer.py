"""Needle 2's answer decoded on each board (runtime/device/needle2/thm_n2_answer.c,
as a conformance job case, THM_K_N2_ANSWER) gives the host specification's
tokens (needle2/decode.py answer_greedy over the host C model): the tiny golden
model, CQ2, the tiny .cact's tokenizer, a random prompt."""
import json
import pathlib

import numpy as np
import pytest

from test_golden import tiny
from thimble.app.request import tools_wire
from thimble.boards import load_board
from thimble.firmware import build_firmware, run_job
from thimble.firmware import job as J
from thimble.needle2 import image as N2I
from thimble.needle2 import read_cact
from thimble.needle2.c_model import N2Model
from thimble.needle2.decode import answer_greedy, marker_ids, vocab_table
from thimble.needle2.int_forward import IntNeedle2, calibrate, cq_model
from thimble.needle2.tokenizer import Needle2Tokenizer
from toolchain import need_board

DATA = pathlib.Path(__file__).parent / "data"
TOOLS = {"set_timer": ["minutes", "label"], "send_message": ["to", "text"]}
BEST = {"glasses_a55": "arm_neon_dot", "watch_m55": "arm_mve", "watch_m4": "arm_dsp"}


@pytest.fixture(scope="module")
def setup():
    cfg, params = tiny()
    mats, fparams = cq_model(cfg, params, bits=2)
    rng = np.random.default_rng(4)
    cal = calibrate(cfg, fparams, [rng.integers(14, cfg.vocab_size, 24)])
    image = N2I.build(IntNeedle2(cfg, mats, fparams, cal))
    tok = Needle2Tokenizer.from_cact(read_cact(DATA / "tiny_cq2.cact"))
    return image, tok, cfg.vocab_size


# (prompt seed, prompt tokens, max_reasoning, complete): seed 1's answer closes its call list within
# 40 tokens ('{"name":"set_timer","arguments":{}}', then </tool_call><|im_end|>), seed 9's does not
CASES = [(1, 6, 1, True), (9, 8, 0, False), (9, 8, 3, False)]


@pytest.mark.parametrize("board", sorted(BEST))
@pytest.mark.parametrize("seed,n_prompt,max_reasoning,complete", CASES)
def test_the_board_answers_as_the_host(setup, board, seed, n_prompt, max_reasoning, complete):
    need_board(board)
    image, tok, V = setup
    prompt = np.random.default_rng(seed).integers(14, V, n_prompt).astype(np.int32)
    m = N2Model(image, max_pos=64)
    want = answer_greedy(m.run(prompt)[-1], m.step, tok, TOOLS, max_new_tokens=40, max_reasoning=max_reasoning)
    assert want.complete == complete and len(want.tokens) > 12
    offsets, pieces = vocab_table(tok)
    wire = tools_wire(json.dumps([{"name": n, "parameters": {k: {} for k in ks}} for n, ks in TOOLS.items()]))
    case = J.Case("n2 answer", J.N2_ANSWER, [len(prompt), 64, *marker_ids(tok), max_reasoning, 40],
                  [np.frombuffer(image, np.uint8), prompt, offsets, np.frombuffer(pieces, np.uint8),
                   np.frombuffer(wire, np.uint8)], np.int32, (3 + 40,))
    b = load_board(board)
    best = {v: k for k, v in J.ISA_NAMES.items()}[BEST[board]]
    (rec,) = run_job(b, build_firmware(b.name), [case], isa_mask=1 << best, timeout=300)
    out = np.frombuffer(rec.out, np.int32)
    assert rec.status == 0
    n, complete, steps = out[:3]
    assert list(out[3:3 + n]) == want.tokens and bool(complete) == want.complete and steps == want.steps
