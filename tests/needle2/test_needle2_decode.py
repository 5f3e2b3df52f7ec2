"""Needle 2's constrained answer decoding (needle2/decode.py) with the tiny
.cact's tokenizer: a trained answer's tokens are accepted to the end and
parse; what breaks the format (a tool or key the prompt does not have, no
newline, a marker out of place) is refused; greedy decoding follows the
logits among the valid tokens only, and the C model's own answer keeps the
format however random its weights."""
import pathlib

import numpy as np
import pytest

from test_golden import tiny
from thimble.needle2 import chat, read_cact
from thimble.needle2 import image as N2I
from thimble.needle2.c_model import N2Model
from thimble.needle2.decode import DONE, AnswerGrammar, answer_greedy
from thimble.needle2.int_forward import IntNeedle2, calibrate, cq_model
from thimble.needle2.tokenizer import Needle2Tokenizer

DATA = pathlib.Path(__file__).parent / "data"
TOOLS = {"set_timer": ["minutes", "label"], "send_message": ["to", "text"]}
CALLS = [{"name": "set_timer", "arguments": {"minutes": 10, "label": "tea"}}]


@pytest.fixture(scope="module")
def tok():
    return Needle2Tokenizer.from_cact(read_cact(DATA / "tiny_cq2.cact"))


def answer_ids(tok, calls, reasoning="ok"):
    ids = tok.encode(chat.render_answer(calls, reasoning))
    return ids[1:] if tok.text[ids[0]] == "\u2581" else ids       # the encoder's dummy prefix


def run(g, ids):
    state = g.start()
    for i, t in enumerate(ids):
        state = g.feed(state, t)
        if state is None:
            return i
    return state


def test_a_trained_answer_is_accepted(tok):
    g = AnswerGrammar(tok, TOOLS)
    assert run(g, answer_ids(tok, CALLS))[0] == DONE
    two = CALLS + [{"name": "send_message", "arguments": {"to": "mom", "text": "late \u00e9"}}]
    assert run(g, answer_ids(tok, two, reasoning=""))[0] == DONE


@pytest.mark.parametrize("bad,why", [
    ([{"name": "set_alarm", "arguments": {}}], "an unknown tool"),
    ([{"name": "set_timer", "arguments": {"to": 1}}], "another tool's key"),
])
def test_what_breaks_the_format_is_refused(tok, bad, why):
    ids = answer_ids(tok, bad)
    stop = run(AnswerGrammar(tok, TOOLS), ids)
    assert isinstance(stop, int) and stop < len(ids), why


def test_markers_and_newline(tok):
    g = AnswerGrammar(tok, TOOLS)
    ids = answer_ids(tok, CALLS, reasoning="")
    think_end = tok.ids[chat.THINK_END]
    assert ids[:2] == [tok.ids[chat.THINK_START], think_end]
    assert run(g, ids[1:]) == 0                                # must open with <think>
    no_newline = ids[:2] + ids[3:]
    assert run(g, no_newline) == 2
    assert run(AnswerGrammar(tok, TOOLS, max_reasoning=1), answer_ids(tok, CALLS, "a long story")) == 2


def test_greedy_takes_the_best_valid_token(tok):
    """Logits that favour the trained answer give it back exactly; the same logits with an
    invalid token on top each step give it back too (the invalid one is never taken)."""
    want = answer_ids(tok, CALLS)
    V = len(tok.text)
    rng = np.random.default_rng(0)
    for trap in (False, True):
        pos = [0]

        def logits_at(k):
            z = rng.standard_normal(V)
            z[want[k]] = 50.0
            if trap:
                z[tok.ids[chat.TOOLS_START]] = 99.0            # never valid in an answer
            return z

        def step(t):
            assert t == want[pos[0]]
            pos[0] += 1
            return logits_at(pos[0])
        ans = answer_greedy(logits_at(0), step, tok, TOOLS)
        assert ans.tokens == want and ans.complete and ans.steps == len(want) - 1
        assert chat.parse_answer(ans.text) == ("ok", CALLS)


def test_the_c_models_answer_keeps_the_format(tok):
    cfg, params = tiny()
    mats, fparams = cq_model(cfg, params, bits=2)
    rng = np.random.default_rng(4)
    cal = calibrate(cfg, fparams, [rng.integers(14, cfg.vocab_size, 24)])
    m = N2Model(N2I.build(IntNeedle2(cfg, mats, fparams, cal)), max_pos=64)
    prompt = rng.integers(14, cfg.vocab_size, 8)
    logits = m.run(prompt)[-1]
    ans = answer_greedy(logits, m.step, tok, TOOLS, max_new_tokens=48, max_reasoning=3)
    g = AnswerGrammar(tok, TOOLS, max_reasoning=3)
    state = run(g, ans.tokens)
    assert not isinstance(state, int) and len(ans.tokens) <= 48 and m.length == 8 + ans.steps
    assert ans.tokens[0] == tok.ids[chat.THINK_START] and tok.ids[chat.TOOL_CALL_START] in ans.tokens
    if ans.complete:
        reasoning, calls = chat.parse_answer(ans.text)
        assert all(c["name"] in TOOLS for c in calls)
