"""`thimble bench model --board B --shape needle2-base`: Needle 2 (random
weights, CQ2, the integer model of needle2/int_forward.py) on an emulated
board, instructions per token under QEMU -icount.

The board runs the model as one conformance job case (THM_K_N2_RUN,
runtime/device/conformance/thm_job_n2.c): the image in its weights region,
the arena in its arena region, prompt + generated tokens through
thm_n2_step one at a time (a prompt is a run of steps: the C model has no
batched prefill yet), the counter read between tokens. The argmax after
every token and the last logits are compared with the host's C model
(runtime/thimble/needle2/c_model.py, bit-exact with IntNeedle2 by
tests/needle2/test_needle2_c_model.py). Only the board's fastest ISA runs.

Counts: instructions = ticks x instructions per tick, calibrated in the same
job with a loop of exactly two instructions (as bench kernels does)."""
import sys
import time

import numpy as np

from ..core.errors import UsageError
from .results import save

SHAPES = ("needle2-base", "needle2-tiny")
CALIB_ITERS = 1_000_000
# runtime/device/needle2/thm_n2_prof.h, in its order
PROFILE_PARTS = ("embed", "engram", "norm", "rotate", "proj", "mix", "lanes", "attn", "mlp", "head")


def profile_firmware(board):
    """The conformance firmware with per-part counters (THM_N2_PROFILE) in its own build folder:
    the counter reads cost instructions, so the default build never has them."""
    import os
    from ..core import resources
    from ..firmware.build import build_firmware
    bd = os.path.join(resources.build_root(), "profile-needle2", board.name)
    return build_firmware(board.name, bd, target="thm_conformance", defines=["THM_N2_PROFILE=1"])


def int_model(shape, seed, log):
    """IntNeedle2 of a random Needle 2, CQ2, calibrated on one random prompt."""
    from ..needle2 import cact_format as F, config as C
    from ..needle2.int_forward import IntNeedle2, calibrate, cq_model
    t0 = time.perf_counter()
    if shape == "needle2-base":
        cfg = C.preset("base")
    else:
        cfg = C.validate(C.Needle2Config(vocab_size=512, d_model=64, num_heads=4, num_kv_heads=2, num_layers=4,
                                         engram_layers=(1, 3), engram_slots=64, max_seq_len=512))
    rng = np.random.default_rng(seed)
    params = {name: rng.standard_normal(shape) * (0.1 if kind == "matrix" else 0.3)
              for name, shape, kind in F.tensor_order(cfg)}
    mats, fparams = cq_model(cfg, params, bits=2)
    cal = calibrate(cfg, fparams, [rng.integers(14, cfg.vocab_size, 64)])
    log(f"Needle 2 {shape}: {cfg.num_layers} layers, d {cfg.d_model}, CQ2, quantized and calibrated "
        f"in {time.perf_counter() - t0:.1f} s")
    return IntNeedle2(cfg, mats, fparams, cal)


def image_for(im, window, sinks):
    from ..needle2 import image as N2I
    im.window, im.sinks = window, sinks
    return N2I.build(im)


def arena_bytes(image, positions):
    from ..needle2.c_model import N2Model
    return N2Model(image, max_pos=1).arena_size(positions)


def largest_window(im, sinks, positions, budget):
    """The widest window <= positions whose arena for a sequence of `positions` fits budget (0: none)."""
    lo, hi = 0, positions
    while lo < hi:                         # the ring grows with the window: bisect
        mid = (lo + hi + 1) // 2
        size = arena_bytes(image_for(im, mid, sinks), positions)
        lo, hi = (mid, hi) if size and size <= budget else (lo, mid - 1)
    return lo


def run(args):
    from ..boards import load_board
    from ..firmware import build_firmware, run_job
    from ..firmware import job as J
    from ..needle2.c_model import N2Model
    from .device_model import json_path
    from .machine import machine_info
    if not 1 <= args.prompt_tokens <= 4096 or not 1 <= args.gen_tokens <= 4096 or args.window < 0:
        raise UsageError("--prompt-tokens and --gen-tokens must be 1..4096, --window >= 0")
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.perf_counter()
    board = load_board(args.board)
    im = int_model(args.shape, args.seed, log)
    cfg = im.cfg
    region = board.regions["arena"]
    budget = region.real_size or region.size
    prompt, gen, sinks = args.prompt_tokens, args.gen_tokens, 4
    n = prompt + gen
    if n > cfg.max_seq_len:
        raise UsageError(f"--prompt-tokens + --gen-tokens is {n}; the model has {cfg.max_seq_len} positions")
    window = args.window or prompt
    image = image_for(im, window, sinks)
    if not arena_bytes(image, n) or arena_bytes(image, n) > budget:
        window = largest_window(im, sinks, min(window, n), budget)
        if window < 1:
            raise UsageError(f"{board.name}: no window of {args.shape} fits its {budget:,}-byte arena")
        log(f"{board.name}: the arena ({budget:,} bytes) holds a window of {window} (+ {sinks} sinks)")
        image = image_for(im, window, sinks)
    res = {"board": board.name, "shape": args.shape, "image_bytes": len(image), "window": window, "sinks": sinks,
           "window_asked": args.window or prompt, "arena_budget": budget}
    host = N2Model(image, max_pos=n)
    res.update(prompt_tokens=prompt, gen_tokens=gen, arena_bytes=host.arena_bytes,
               arena_for_window_256=arena_bytes(image_for(im, 256, sinks), max(n, 260)) if window != 256 else None)
    tokens = np.random.default_rng(args.seed + 1).integers(14, cfg.vocab_size, n).astype(np.int32)
    want = host.run(tokens)
    elf = profile_firmware(board) if args.profile else build_firmware(board.name)
    best = _best_isa(board)
    V = cfg.vocab_size
    cases = [J.Case("empty", J.EMPTY, [], []), J.Case("spin", J.SPIN2, [CALIB_ITERS], []),
             J.Case(f"needle2 {n}", J.N2_RUN, [n, n], [np.frombuffer(image, np.uint8), tokens], np.int32,
                    (3 * n + V + 2 * len(PROFILE_PARTS),))]
    log(f"{board.name}: {n} tokens through the model under QEMU ...")
    t1 = time.perf_counter()
    recs = run_job(board, elf, cases, isa_mask=1 << best, timeout=args.timeout)
    wall = time.perf_counter() - t1
    r = {rec.case_index: rec for rec in recs}
    if r[2].status != 0:
        raise RuntimeError(f"{board.name}: the model case failed with status {r[2].status}")
    per_tick = 2 * CALIB_ITERS / (r[1].ticks - r[0].ticks)
    out = np.frombuffer(r[2].out, np.int32)
    argmax, ticks = out[:n], out[n:3 * n].view(np.uint64)
    logits = out[3 * n:3 * n + V]
    parts = out[3 * n + V:3 * n + V + 2 * len(PROFILE_PARTS)].view(np.uint64).astype(np.float64) * per_tick
    instr = ticks.astype(np.float64) * per_tick
    bit_exact = bool(np.array_equal(argmax, want.argmax(-1)) and np.array_equal(logits, want[-1]))
    prefill = float(instr[:prompt].sum())
    decode = float(instr[prompt:].mean()) if gen else None
    res.update(isa=_isa_name(best), instructions_per_tick=per_tick, qemu_wall_s=wall, bit_exact=bit_exact,
               setup_instructions=round(r[2].ticks * per_tick - instr.sum()),
               prefill_instructions=round(prefill), prefill_per_token=prefill / prompt,
               decode_per_token=decode, last_token_instructions=float(instr[-1]),
               per_token_instructions=[round(x) for x in instr],
               estimate={"assumes": "1 instruction per cycle at real_clock_hz (an ESTIMATE, not a measurement)",
                         "decode_tok_s": board.real_clock_hz / decode if decode else None})
    if args.profile:            # the counts include the profile's own counter reads
        per = {k: round(v / n) for k, v in zip(PROFILE_PARTS, parts)}
        per["other"] = round(instr.sum() / n) - sum(per.values())
        res["profile_per_token"] = per
    doc = {"benchmark": "thimble bench model --board (Needle 2)", "machine": machine_info(),
           "settings": {"model": f"Needle 2 {args.shape.split('-')[1]} shape, random weights, CQ2",
                        "prompt_tokens": prompt, "gen_tokens": gen,
                        "shape": args.shape, "seed": args.seed, "window": window, "sinks": sinks,
                        "counting": "instructions retired under QEMU -icount (exact, repeatable)"},
           "result": res, "elapsed_s": time.perf_counter() - t0}
    _report(doc)
    save(doc, json_path(args))
    return 0 if bit_exact else 1


# the fastest ISA a board feature gives, best first (the board files' feature names)
FEATURE_ISAS = (("neon", "arm_neon_dot"), ("mve", "arm_mve"), ("dsp", "arm_dsp"))


def _best_isa(board):
    from ..firmware.job import ISA_NAMES
    ids = {v: k for k, v in ISA_NAMES.items()}
    for feature, isa in FEATURE_ISAS:
        if feature in board.features:
            return ids[isa]
    return ids["portable"]


def _isa_name(isa_id):
    from ..firmware.job import ISA_NAMES
    return ISA_NAMES.get(isa_id, str(isa_id))


def _report(doc, out=None):
    out = out or sys.stdout
    r = doc["result"]
    print(f"thimble bench model --board {r['board']}: {doc['settings']['model']}, image {r['image_bytes']:,} bytes, "
          f"ISA {r['isa']}", file=out)
    print(f"window {r['window']} + {r['sinks']} sinks (asked {r['window_asked']}): arena {r['arena_bytes']:,} bytes "
          f"of the board's {r['arena_budget']:,}", file=out)
    if r.get("arena_for_window_256"):
        print(f"a 256-token window would need {r['arena_for_window_256']:,} bytes", file=out)
    print(f"prompt {r['prompt_tokens']} tokens, one step each: {r['prefill_instructions']:,} instructions "
          f"({r['prefill_per_token']:,.0f} per token)", file=out)
    if r["decode_per_token"]:
        print(f"decode {r['gen_tokens']} tokens: {r['decode_per_token']:,.0f} instructions per token "
              f"(the last {r['last_token_instructions']:,.0f})", file=out)
        print(f"ESTIMATE at 1 instruction/cycle: {r['estimate']['decode_tok_s']:.1f} tok/s decode", file=out)
    print(f"bit-exact with the host C model: {'yes' if r['bit_exact'] else 'NO'}; QEMU wall {r['qemu_wall_s']:.0f} s",
          file=out)
    if "profile_per_token" in r:
        p = r["profile_per_token"]
        total = sum(p.values()) or 1
        print(f"\n{'part':8} {'per token (all tokens)':>24} {'share':>6}  (a profiling build: its counter reads "
              "included)", file=out)
        for k in sorted(p, key=lambda k: -p[k]):
            print(f"{k:8} {p[k]:>24,} {100 * p[k] / total:5.1f}%", file=out)

