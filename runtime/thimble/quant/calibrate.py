"""Calibration: run the float reference over prompts and record the largest
magnitude seen at every point the integer model quantizes.

Points are named by FloatNeedle's observe hook (model/float_forward.py):
"enc.stream" / "dec.stream" (the residual streams), each norm by its weight
name, and per attention block p: p.q, p.k, p.v (projections), p.q_norm,
p.k_norm (after QK-norm and RoPE), p.mix (softmax . V), p.o (out projection).
"""
import numpy as np

from ..model.float_forward import FloatNeedle


class Calibration:
    """absmax[point] over every prompt seen."""

    def __init__(self):
        self.absmax = {}
        self.prompts = 0
        self.decoder_tokens = 0

    def observe(self, point, a):
        m = float(np.max(np.abs(a))) if a.size else 0.0
        if m > self.absmax.get(point, 0.0):
            self.absmax[point] = m

    def get(self, point):
        v = self.absmax.get(point)
        if v is None:
            raise KeyError(f"calibration saw nothing at {point!r}")
        return v


def calibrate(model, prompts, *, decode_tokens=16, start_id=1, progress=None):
    """prompts: iterable of token id sequences (encoder inputs). The decoder is
    run greedily (unconstrained) from start_id for decode_tokens steps, so its
    points see the kind of input it will see. Returns a Calibration."""
    fm = FloatNeedle(model, np.float32)
    cal = Calibration()
    fm.observe = cal.observe
    prompts = list(prompts)
    if not prompts:
        raise ValueError("calibration needs at least one prompt")
    for i, toks in enumerate(prompts):
        toks = np.asarray(toks, dtype=np.int64)
        if toks.ndim != 1 or toks.size == 0:
            raise ValueError(f"calibration prompt {i}: expected a non-empty 1-D token list")
        cache = fm.start_decoder(fm.encode(toks[None, :]))
        tok = start_id
        for _ in range(decode_tokens):
            logits = fm.decode_step(cache, [[tok]])
            tok = int(np.argmax(logits[0, -1]))
            cal.decoder_tokens += 1
        cal.prompts += 1
        if progress:
            progress(i + 1, len(prompts))
    return cal


def random_prompts(config, n=8, length=48, seed=0, reserved=6):
    """Token sequences for models without a tokenizer at hand (random weights):
    ids drawn from the non-special part of the vocabulary."""
    rng = np.random.default_rng(seed)
    lo = min(reserved, config.vocab_size - 1)
    return [rng.integers(lo, config.vocab_size, size=length) for _ in range(n)]
