"""Greedy decoding constrained by the tool-call grammar.

At each step the candidates are tried in order of logit (ties: lowest id)
and the first one whose bytes keep the answer valid is taken. That is the
argmax over the valid tokens, found without scoring the whole vocabulary
against the grammar; the device runs the same rule, so host and board pick
the same tokens.
"""
import dataclasses

import numpy as np


@dataclasses.dataclass
class Generation:
    tokens: list          # generated ids, <tool_call> first (eos not included)
    text: bytes           # the answer's bytes (after <tool_call>)
    complete: bool        # the JSON list was closed
    steps: int            # decoder steps run (one per fed token)


def constrained_greedy(step, piece_bytes, grammar, *, start_id, eos_id, tool_call_id, max_new_tokens):
    """step(token) -> logits [V] for the next position. piece_bytes[id]: the
    bytes a token adds to the answer, or None for tokens that never appear in
    it (control and special ids)."""
    if max_new_tokens < 2:
        raise ValueError("max_new_tokens must be at least 2 (<tool_call> and the answer)")
    step(start_id)                       # Needle's decoder starts from [eos]
    tokens, text, steps = [tool_call_id], b"", 1
    state = grammar.start()
    logits = step(tool_call_id)          # the answer always opens with <tool_call>
    steps += 1
    while len(tokens) < max_new_tokens:
        order = np.argsort(-np.asarray(logits, dtype=np.float64), kind="stable")
        chosen = None
        for cand in order:
            cand = int(cand)
            piece = piece_bytes[cand] if cand != eos_id else None
            if not piece:
                continue
            nxt = grammar.feed(state, piece)
            if nxt is not None:
                chosen, state = cand, nxt
                break
        if chosen is None:
            raise RuntimeError("no token of the vocabulary can continue the answer "
                               f"after {text[-40:]!r}: the vocabulary lacks byte pieces")
        tokens.append(chosen)
        text += piece_bytes[chosen]
        if grammar.done(state):
            return Generation(tokens, text, True, steps)
        if len(tokens) >= max_new_tokens:
            break
        logits = step(chosen)
        steps += 1
    return Generation(tokens, text, False, steps)
