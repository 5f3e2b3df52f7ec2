"""The tool-call grammar accepts exactly Needle's compact answers."""
import json

import numpy as np
import pytest

from thimble.sim.decode import constrained_greedy
from thimble.sim.grammar import ToolGrammar

TOOLS = {"set_timer": ["minutes", "label"], "send_message": ["to", "text"], "set": ["x"]}
G = ToolGrammar(TOOLS)


def accepts(text):
    s = G.feed(G.start(), text.encode("utf-8"))
    return s is not None and G.done(s)


@pytest.mark.parametrize("text", [
    '[]', ' []', '[{"name":"set_timer","arguments":{"minutes":10}}]',
    '[{"name":"set_timer","arguments":{}}]',
    '[{"name":"set","arguments":{"x":-0.5e+3}},{"name":"set_timer","arguments":{"label":"tea \\u00e9\\n","minutes":0}}]',
    '[{"name":"send_message","arguments":{"to":["a","b"],"text":{"k":[1,true,false,null,{}]}}}]',
    '[{"name":"send_message","arguments":{"text":"日本語 ✓ 😀"}}]',
])
def test_accepts_valid_answers(text):
    assert accepts(text), text
    json.loads(text)


@pytest.mark.parametrize("text", [
    '[{"name":"set_alarm","arguments":{}}]',                     # unknown tool
    '[{"name":"set_timer","arguments":{"hours":1}}]',            # unknown key
    '[{"name":"set_timer","arguments":{"minutes":1,"minutes":2}}]',   # repeated key
    '[{"name":"set","arguments":{"x":01}}]',                     # JSON numbers have no leading zeros
    '[{"name":"set","arguments":{"x":"a\x01"}}]',                # control character in a string
    '[ {"name":"set","arguments":{}}]',                          # compact: no spaces
    '[{"arguments":{},"name":"set"}]',                           # name first
    '[{"name":"set","arguments":{"x":tru}}]',
    '[{"name":"set","arguments":{"x":1}}]]',
    '  []',
])
def test_rejects_invalid_answers(text):
    assert not accepts(text), text


def test_rejects_invalid_utf8():
    s = G.feed(G.start(), b'[{"name":"set","arguments":{"x":"\xc3')
    assert s is not None and G.feed(s, b'"') is None
    assert G.feed(G.start(), b'[{"name":"set","arguments":{"x":"\xff') is None


def test_prefixes_of_valid_answers_stay_open():
    text = '[{"name":"set_timer","arguments":{"minutes":10,"label":"x"}}]'.encode()
    s = G.start()
    for i, b in enumerate(text):
        s = G.feed(s, bytes([b]))
        assert s is not None, text[:i + 1]
        assert G.done(s) == (i == len(text) - 1)


def test_constrained_greedy_always_yields_a_valid_call():
    """Random logits over a byte-level vocabulary: whatever the model says,
    the answer parses and names only given tools and keys."""
    vocab = [None] * 6 + [bytes([b]) for b in range(256)] + [b'"name":"', b'set_timer', b'","arguments":{']
    for trial in range(30):
        r = np.random.default_rng(trial)
        gen = constrained_greedy(lambda tok: r.normal(size=len(vocab)), vocab, G, start_id=1, eos_id=1,
                                 tool_call_id=4, max_new_tokens=400)
        assert gen.tokens[0] == 4
        if gen.complete:
            calls = json.loads(gen.text.decode("utf-8"))
            for call in calls:
                assert call["name"] in TOOLS and set(call["arguments"]) <= set(TOOLS[call["name"]])


def test_ties_go_to_the_lowest_id():
    vocab = [None] * 6 + [b"[", b"[", b"]"]
    fed = []
    gen = constrained_greedy(lambda tok: (fed.append(tok), np.zeros(len(vocab)))[1], vocab, G,
                             start_id=1, eos_id=1, tool_call_id=4, max_new_tokens=10)
    assert gen.tokens == [4, 6, 8] and gen.complete and gen.text == b"[]"
    assert fed == [1, 4, 6]
