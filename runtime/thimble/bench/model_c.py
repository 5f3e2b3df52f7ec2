"""The C runtime's side of `thimble bench model` (bench/model.py) and of its
peers (bench/peers.py): the model's shape, the prompt, the random model
quantized and loaded, one timed round, and the figures a side reports."""
import dataclasses
import statistics
import time

import numpy as np


def _config(args):
    """The float model's shape (--shape: the released Needle, or the tiny smoke-test one)."""
    from .device_model import model_config
    base = model_config(getattr(args, "shape", "needle-26m"))
    n = max(base.max_seq_len, args.prompt_tokens, args.gen_tokens)
    return dataclasses.replace(base, dtype="float32", max_seq_len=n)


def _prompt(cfg, n, seed):
    return np.random.default_rng(seed + 1).integers(6, cfg.vocab_size, n).astype(np.int32)


def _summary(samples):
    return {"best_s": min(samples), "median_s": statistics.median(samples), "samples": len(samples)}


def c_model(args, log, fm=None):
    """The random model quantized and loaded in the C runtime -> (CModel, image bytes)."""
    from ..model.synth import random_model
    from ..quant import calibrate, quantize, random_prompts, to_image
    from ..sim.c_model import CModel
    cfg = _config(args)
    t0 = time.perf_counter()
    fm = random_model(cfg, seed=args.seed) if fm is None else fm
    cal = calibrate(fm, random_prompts(cfg, n=2, length=min(32, args.prompt_tokens), seed=args.seed),
                    decode_tokens=4)
    image = to_image(quantize(fm, cal))
    log(f"quantized the {cfg.vocab_size}x{cfg.d_model} {cfg.num_encoder_layers}+{cfg.num_decoder_layers}-layer "
        f"model in {time.perf_counter() - t0:.1f} s ({len(image) / 2**20:.1f} MiB image)")
    return CModel(image, max_enc=args.prompt_tokens, max_dec=args.gen_tokens, isa=args.isa), image


def timed_round(prefill, step, tokens, gen_tokens):
    """One prefill(tokens) and gen_tokens greedy step(token) -> next token calls -> (prefill s, decode s);
    the same clock for thimble and for a peer."""
    t = time.perf_counter()
    prefill(tokens)
    pre = time.perf_counter() - t
    tok = 1
    t = time.perf_counter()
    for _ in range(gen_tokens):
        tok = step(tok)
    return pre, time.perf_counter() - t


def c_round(cm, tokens, gen_tokens):
    """One prefill of `tokens` and gen_tokens greedy steps in the C runtime -> (prefill s, decode s)."""
    return timed_round(cm.encode, cm.decode_argmax, tokens, gen_tokens)


def c_result(cm, image, pre, dec):
    return {"image_bytes": len(image), "arena_bytes": cm.arena_bytes, "isa": cm.isa,
            "prefill": _summary(pre), "decode": _summary(dec), "crc": cm.crc}


def _rates(side, args):
    side["prefill_tok_s"] = args.prompt_tokens / side["prefill"]["best_s"]
    side["decode_tok_s"] = args.gen_tokens / side["decode"]["best_s"]
    return side
