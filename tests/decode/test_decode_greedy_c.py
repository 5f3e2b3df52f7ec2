"""The C decoder (runtime/device/decode/thm_decode.c) picks the same tokens
as constrained_greedy: random int32 logits with many ties over random small
vocabularies, for every scratch size, including dead ends."""
import numpy as np
import pytest

from decode_harness import pack_tools, run_checker
from thimble.sim.decode import constrained_greedy
from thimble.sim.grammar import ToolGrammar

TOOLS = {"set_timer": ["minutes", "label"], "send_message": ["to", "text"], "set": ["x"]}
FRAGMENTS = [b'[{"name":"', b'"name":"', b"set_timer", b"set", b"_timer", b'","arguments":{', b'"}', b"}}]",
             b'":', b'"minutes":', b"10", b"0", b"-", b".5", b"e+", b"true", b"tr", b"ue", b"null", b'"x', b"[]",
             b" [", b"[", b"]", b"{", b"}", b",", b'"', b"\\u00e9", b"\xc3", b"\xa9", b"\xe2\x9c\x93", b"send_message",
             b'"to":["a","b"]', b'{"k":', b"mes", b"sage", b"label", b"ab", b" ", b"\\", b"n"]
N_SPECIAL = 6


def rand_vocab(r):
    """Ids 0-5 are control ids (no bytes); then some byte pieces and fragments."""
    vocab = [None] * N_SPECIAL
    if r.random() < 0.7:
        vocab += [bytes([b]) for b in range(256)]
    else:   # only some bytes: decoding may reach a dead end, which both must report
        vocab += [bytes([b]) for b in r.choice(256, int(r.integers(10, 120)), replace=False)]
    picks = r.choice(len(FRAGMENTS), int(r.integers(0, len(FRAGMENTS))), replace=False)
    vocab += [FRAGMENTS[i] for i in picks]
    if r.random() < 0.3:
        vocab += [b""] * 3        # empty pieces are never candidates, like None
    order = r.permutation(len(vocab) - N_SPECIAL) + N_SPECIAL
    return vocab[:N_SPECIAL] + [vocab[i] for i in order]


def rand_logits(r, rows, V):
    kind = int(r.integers(0, 3))
    if kind == 0:       # a handful of values: ties everywhere
        return r.integers(-2, 3, (rows, V)).astype(np.int64)
    if kind == 1:       # the int32 extremes
        return r.choice(np.array([-2**31, -2**31 + 1, -1, 0, 1, 2**31 - 2, 2**31 - 1]), (rows, V))
    return r.integers(-2**31, 2**31, (rows, V))


def vocab_line(vocab):
    return f"V {len(vocab)} " + " ".join(p.hex() if p else "-" for p in vocab)


def py_decode(vocab, logits, g, start, eos, tc, max_new):
    fed, rows = [], iter(logits)

    def step(tok):
        fed.append(tok)
        return next(rows)
    try:
        gen = constrained_greedy(step, vocab, g, start_id=start, eos_id=eos, tool_call_id=tc, max_new_tokens=max_new)
    except RuntimeError:
        return -2, None, fed
    return 0, gen, fed


def c_answer(line):
    head, toks, fed = line.split("|")
    rc, complete, steps = (int(x) for x in head.split()[1:])
    return rc, complete, steps, [int(x) for x in toks.split()], [int(x) for x in fed.split()]


def test_c_decoder_matches_constrained_greedy(decode_check):
    g = ToolGrammar(TOOLS)
    lines, expected = ["T " + pack_tools(TOOLS).hex()], []
    for trial in range(160):
        r = np.random.default_rng(1000 + trial)
        vocab = rand_vocab(r)
        V = len(vocab)
        max_new = int(r.integers(2, 120))
        eos = 1 if r.random() < 0.8 else int(r.integers(N_SPECIAL, V))     # eos may even be a byte piece
        logits = rand_logits(r, max_new + 1, V)
        want = py_decode(vocab, logits, g, 1, eos, 4, max_new)
        lines.append(vocab_line(vocab))
        for scratch_n in (1, 3, 32):
            lines.append(f"D 1 {eos} 4 {max_new} {scratch_n} {max_new + 1} {V}")
            lines += [" ".join(str(int(x)) for x in row) for row in logits]
            expected.append((trial, scratch_n, want))
    got = run_checker(decode_check, lines)
    assert got[0] == "T 0"
    answers = [l for l in got if l.startswith("D")]
    assert len(answers) == len(expected)
    outcomes = {"complete": 0, "cut": 0, "dead end": 0}
    for line, (trial, scratch_n, (rc, gen, fed)) in zip(answers, expected):
        c_rc, c_complete, c_steps, c_tokens, c_fed = c_answer(line)
        ctx = f"trial {trial} scratch {scratch_n}: {line[:300]}"
        assert c_rc == rc, ctx
        assert c_fed == fed, ctx
        if rc == 0:
            assert (c_tokens, bool(c_complete), c_steps) == (gen.tokens, gen.complete, gen.steps), ctx
            outcomes["complete" if gen.complete else "cut"] += 1
        else:
            outcomes["dead end"] += 1
    assert all(v >= 15 for v in outcomes.values()), outcomes


def test_ties_and_a_full_size_vocabulary(decode_check):
    """V = 8192, every logit equal, the only valid pieces at the top ids: the
    decoder walks the whole vocabulary in id order without sorting it."""
    V = 8192
    vocab = [None] * N_SPECIAL + [b"q"] * (V - N_SPECIAL - 2) + [b"[", b"]"]
    logits = np.zeros((8, V), dtype=np.int64)
    rc, gen, fed = py_decode(vocab, logits, ToolGrammar(TOOLS), 1, 1, 4, 7)
    assert rc == 0 and gen.tokens == [4, V - 2, V - 1] and gen.complete
    lines = ["T " + pack_tools(TOOLS).hex(), vocab_line(vocab)]
    for scratch_n in (1, 32, 10000):
        lines += [f"D 1 1 4 7 {scratch_n} 8 {V}"] + [" ".join("0" for _ in range(V))] * 8
    for line in run_checker(decode_check, lines)[1:]:
        assert c_answer(line) == (0, 1, gen.steps, gen.tokens, fed)


@pytest.mark.parametrize("cmd", ["D 1 1 4 1 32 4 10", "D 1 1 4 5 0 6 10", "D 1 1 40 5 32 6 10", "D 1 1 4 5 32 6 11"])
def test_bad_parameters_are_refused(decode_check, cmd):
    """max_new_tokens < 2, no scratch, <tool_call> outside V, V past the vocabulary."""
    vocab = [None] * N_SPECIAL + [b"[", b"]", b"{", b"}"]
    V = int(cmd.split()[-1])
    got = run_checker(decode_check, ["T " + pack_tools(TOOLS).hex(), vocab_line(vocab), cmd] +
                      [" ".join("0" for _ in range(V))] * int(cmd.split()[-2]))
    assert c_answer(got[1])[0] == -1
