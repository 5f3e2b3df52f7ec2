"""Greedy decoding of Needle 2's answer, constrained to its chat format
(chat.py): `<think>REASONING</think>\\n<tool_call>CALLS</tool_call><|im_end|>`.

The markers are single user-defined pieces and are taken whole, by id; the
reasoning is any text of ordinary and byte pieces (at most max_reasoning
tokens, then `</think>` is forced); the newline is the one byte; CALLS is
the tool-call grammar v1 decodes with (sim/grammar.py ToolGrammar: compact
JSON, only the prompt's tool names and each tool's own argument keys). As
in v1 (sim/decode.py), each free step takes the first candidate in order of
logit (ties: the lowest id) that keeps the answer valid: the argmax over the
valid tokens, without scoring the whole vocabulary against the grammar.

    ans = answer_greedy(first_logits, model.step, tokenizer, {"set_timer": ["minutes"]})
    chat.parse_answer(ans.text)      # never fails for a complete answer
"""
import dataclasses

import numpy as np

from ..sim.grammar import ToolGrammar
from . import chat
from .tokenizer import SPACE

THINK, REASON, NEWLINE, CALL, CALLS, CLOSE, END, DONE = range(8)


@dataclasses.dataclass
class Answer:
    tokens: list          # the generated ids, <think> first
    text: str             # their text (the markers included): chat.parse_answer reads it
    complete: bool        # <|im_end|> was reached
    steps: int            # model steps run (one per generated token but the last)


def piece_bytes(tok):
    """[bytes or None] per id: what a piece adds to the answer's text; None for markers,
    control and unknown pieces (never free text)."""
    out = []
    for text, kind in zip(tok.text, tok.kind):
        if kind == "byte":
            out.append(bytes([int(text[3:5], 16)]))
        elif kind == "normal" and text:
            out.append(text.replace(SPACE, " ").encode("utf-8"))
        else:
            out.append(None)
    return out


def vocab_table(tok):
    """The device's form of piece_bytes (thm_vocab_table): offsets uint32 [V + 1] into one byte
    string; a piece with no bytes is empty."""
    pieces = [b or b"" for b in piece_bytes(tok)]
    offsets = np.zeros(len(pieces) + 1, np.uint32)
    offsets[1:] = np.cumsum([len(b) for b in pieces])
    return offsets, b"".join(pieces)


def marker_ids(tok):
    """(think, think_end, tool_call, tool_call_end, im_end): the device's answer parameters."""
    return tuple(tok.ids[m] for m in (chat.THINK_START, chat.THINK_END, chat.TOOL_CALL_START,
                                      chat.TOOL_CALL_END, chat.IM_END))


class AnswerGrammar:
    """The answer's phases over token ids; the calls' bytes through ToolGrammar."""

    def __init__(self, tok, tools, max_reasoning=64):
        missing = [m for m in chat.MARKERS if m not in tok.ids]
        if missing:
            raise ValueError(f"the tokenizer has no piece for {', '.join(missing)}")
        self.ids = {m: tok.ids[m] for m in chat.MARKERS}
        self.pieces = piece_bytes(tok)
        self.calls = ToolGrammar(tools)
        self.max_reasoning = max_reasoning
        self.newline = [i for i, b in enumerate(self.pieces) if b == b"\n"]
        if not self.newline:
            raise ValueError("the tokenizer has no piece for a newline")

    def start(self):
        return (THINK, 0, None)

    def forced(self, state):
        """The one id the phase allows, or None where the model chooses."""
        phase, n, _ = state
        if phase == THINK:
            return self.ids[chat.THINK_START]
        if phase == REASON and n >= self.max_reasoning:
            return self.ids[chat.THINK_END]
        return {CALL: self.ids[chat.TOOL_CALL_START], CLOSE: self.ids[chat.TOOL_CALL_END],
                END: self.ids[chat.IM_END]}.get(phase)

    def feed(self, state, tid):
        """The state after token tid, or None when tid cannot continue the answer."""
        phase, n, calls = state
        forced = self.forced(state)
        if forced is not None:
            if tid != forced:
                return None
            return {THINK: (REASON, 0, None), REASON: (NEWLINE, 0, None), CALL: (CALLS, 0, self.calls.start()),
                    CLOSE: (END, 0, None), END: (DONE, 0, None)}[phase]
        piece = self.pieces[tid]
        if phase == REASON:
            if tid == self.ids[chat.THINK_END]:
                return (NEWLINE, 0, None)
            return (REASON, n + 1, None) if piece else None
        if phase == NEWLINE:
            return (CALL, 0, None) if piece == b"\n" else None
        if phase == CALLS and piece:
            nxt = self.calls.feed(calls, piece)
            if nxt is None:
                return None
            return (CLOSE, 0, None) if self.calls.done(nxt) else (CALLS, 0, nxt)
        return None


def answer_greedy(logits, step, tok, tools, *, max_new_tokens=256, max_reasoning=64):
    """logits: the model's logits after the prompt's last token; step(token) -> the next
    logits. tools: {name: [argument keys]}. Stops at <|im_end|> or max_new_tokens."""
    if max_new_tokens < 1:
        raise ValueError("max_new_tokens must be at least 1")
    g = AnswerGrammar(tok, tools, max_reasoning)
    state, tokens, steps = g.start(), [], 0
    while len(tokens) < max_new_tokens:
        chosen = g.forced(state)
        if chosen is not None:
            state = g.feed(state, chosen)
        else:
            for cand in np.argsort(-np.asarray(logits, dtype=np.float64), kind="stable"):
                nxt = g.feed(state, int(cand))
                if nxt is not None:
                    chosen, state = int(cand), nxt
                    break
            if chosen is None:
                raise RuntimeError("no token of the vocabulary can continue the answer")
        tokens.append(chosen)
        if state[0] == DONE or len(tokens) >= max_new_tokens:
            break
        logits = step(chosen)
        steps += 1
    return Answer(tokens, _text(tok, g, tokens), state[0] == DONE, steps)


def _text(tok, g, tokens):
    """The answer's text, markers included (Needle2Tokenizer.decode drops the leading space
    of a whole text; an answer is a continuation, so pieces are joined as they are)."""
    out = bytearray()
    for t in tokens:
        out += tok.text[t].encode("utf-8") if tok.kind[t] == "user_defined" else (g.pieces[t] or b"")
    return out.decode("utf-8", "replace")
