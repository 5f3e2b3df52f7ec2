"""`thimble bench model --board NAME`: the whole model on an emulated board.

The model (Needle 26M's shape, random seeded weights, as the host bench) is
quantized, packed in the board's layout (thimble.quant.image.board_layout)
and factory-placed in slot 0 of the link firmware's flash
(thimble.link.factory): 25.8 MiB would take hours over the emulated UART.
One RUN over the link then answers a prompt of --prompt-tokens tokens, or
the longest that the board's arena holds (thimble.sim.plan.make_plan), with up
to --gen-tokens decode steps. QEMU runs under -icount: the device counts
instructions, not time, so the figures repeat run to run; tokens/s at the
board's real clock assume one instruction per cycle and are an ESTIMATE.
The host simulator (C backend) answers the same prompt from the same image:
tokens and CRC must be equal.

A board whose weights region or arena cannot hold the model is not run:
the result names the shortfall (watch_m4: a 2 MiB weights budget).

The tokenizer is watch-tiny's, padded with unreachable pieces up to the
model's vocabulary (random weights make any tokenizer as good as another);
the prompt is watch-tiny's query and tools, cut by the prompt builder to
exactly the encoder length the image allows.
"""
import dataclasses
import os
import struct
import sys
import tempfile
import time

from ..core.errors import UsageError
from .machine import machine_info
from .results import save

from ..core import resources

WATCH_TINY = resources.data_path("models", "watch-tiny")
QUERY = ("set a timer for ten minutes and then remind me to call my sister about the weekend trip "
         "to the mountains, and play some quiet music while I cook dinner")
SHAPES = ("needle-26m", "tiny", "needle2-base", "needle2-tiny")   # needle2-*: --board only (device_needle2.py)


def add_arguments(p):
    from ..boards.board import board_names
    p.add_argument("--board", choices=board_names(), default=None,
                   help="run the model on this emulated board instead of the host (QEMU -icount; "
                        "--gen-tokens up to 96; JSON: bench-results/model-NAME.json)")
    p.add_argument("--shape", choices=SHAPES, default=SHAPES[0],
                   help="the model's shape, on the host or a --board (tiny: a d_model-32 smoke-test model; "
                        "needle2-base / needle2-tiny: Needle 2, CQ2, on a --board only; default %(default)s)")
    p.add_argument("--weights", choices=("int8", "int4"), default="int8",
                   help="--board: the projections int8 (default) or int4 (thimble convert --weights)")
    p.add_argument("--embed", choices=("int8", "int4"), default="int8",
                   help="--board: the embedding and tied head int8 (default) or int4 (thimble convert --embed)")
    p.add_argument("--window", type=int, default=0, metavar="W",
                   help="--shape needle2-*: the attention window the image is built with (default: the prompt's "
                        "length; cut to what the board's arena holds)")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="S",
                   help="--board: seconds QEMU may take for the RUN (default %(default)g)")
    p.add_argument("--profile", action="store_true",
                   help="--board: run a firmware built with -DTHM_MODEL_PROFILE=1 (needle2 shapes: "
                        "-DTHM_N2_PROFILE=1) and print where the instructions go, per part of the model "
                        "(runtime/device/model/thm_model_prof.h, runtime/device/needle2/thm_n2_prof.h)")


def json_path(args):
    """--json as given, except the host bench's default becomes bench-results/model-BOARD.json."""
    if not args.json or os.path.basename(args.json) == "model-host.json":
        return os.path.join("bench-results", f"model-{args.board}.json")
    return args.json


def model_config(shape):
    """The float model's shape: the released Needle, or a d_model-32 one for smoke tests."""
    from ..model.config import RELEASED
    from ..model.synth import tiny_config
    if shape == "tiny":
        return tiny_config(vocab_size=768, d_model=32, num_heads=2, num_kv_heads=1, num_encoder_layers=1,
                           num_decoder_layers=1, max_seq_len=256)
    return dataclasses.replace(RELEASED, dtype="float32")


def padded_tokenizer(vocab_size):
    """watch-tiny's tokenizer payload with NORMAL pieces appended up to vocab_size.
    The new pieces score below every other and no two pieces concatenate to
    one of them, so BPE never produces them: encoding is watch-tiny's."""
    from ..tokenizer import load_model
    from ..tokenizer.payload import build_payload
    from ..tokenizer.spm_model import NORMAL
    m = load_model(str(WATCH_TINY / "tokenizer.model"))
    extra = vocab_size - len(m.pieces)
    if extra < 0:
        raise ValueError(f"the model's vocabulary ({vocab_size}) is smaller than watch-tiny's ({len(m.pieces)})")
    low = struct.unpack("<f", struct.pack("<f", min(m.scores) - 1.0))[0]
    m = dataclasses.replace(m, pieces=m.pieces + tuple(b"<unused%d>" % i for i in range(extra)),
                            scores=m.scores + (low,) * extra, types=m.types + (NORMAL,) * extra)
    return build_payload(m)


class Quantizer:
    """The random float model and its calibration, quantized per encoder length
    (the image's rope positions set how long a prompt the device plans for)."""

    def __init__(self, shape, seed, log):
        from ..model.synth import random_model
        from ..quant import calibrate, random_prompts
        self.cfg = model_config(shape)
        t0 = time.perf_counter()
        self.fm = random_model(self.cfg, seed=seed)
        self.cal = calibrate(self.fm, random_prompts(self.cfg, n=2, length=32, seed=seed), decode_tokens=4)
        self.tokenizer = padded_tokenizer(self.cfg.vocab_size)
        log(f"random {self.cfg.d_model}-wide {self.cfg.num_encoder_layers}+{self.cfg.num_decoder_layers}-layer "
            f"model calibrated in {time.perf_counter() - t0:.1f} s")

    def image(self, n_pos, layout, weights="int8", embed="int8", max_new=0):
        """max_new: the image's max_dec_len (thimble convert --max-new-tokens); 0: n_pos."""
        from ..quant import quantize, to_image
        qm = quantize(self.fm, self.cal, rope_n_pos=n_pos, int4="all" if weights == "int4" else (),
                      embed_int4=embed == "int4")
        qm = dataclasses.replace(qm, max_dec_len=max_new)
        return to_image(qm, self.tokenizer, layout=layout)


def app_arena_bytes(image, prompt_tokens):
    """What the app's loader reserves for an image whose encoder holds
    prompt_tokens (runtime/device/app/thm_app.c, thm_app_load): the model's
    arena planned for max_dec = min(prompt_tokens, the image's max_dec_len,
    THM_APP_MAX_NEW), then the app's own buffers (thimble.sim.plan.app_items)."""
    from ..sim.plan import make_plan
    from ..image.reader import parse_image
    from ..app import request
    k = parse_image(image, verify_hash=False).config
    dec = min(prompt_tokens, k["max_dec_len"], request.MAX_NEW)
    return make_plan(image, prompt_tokens, dec).board_arena_bytes


def longest_prompt(image, want, arena_budget):
    """The longest encoder length <= want whose app arena fits arena_budget, or 0."""
    lo, hi = 0, want
    while lo < hi:                         # arena grows with the prompt: bisect
        mid = (lo + hi + 1) // 2
        if mid >= 2 and app_arena_bytes(image, mid) <= arena_budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def budgets(board):
    """The board's budgets for the model: weights (real chip), link slot, arena (real chip)."""
    from ..link.factory import board_geometry, slot_layout
    _, slot = slot_layout(*board_geometry(board))
    return {"weights_bytes": board.regions["weights"].real_size, "slot_bytes": slot,
            "arena_bytes": min(board.regions["arena"].real_size, board.regions["arena"].size)}


def refusals(image_bytes, arena_needed, b):
    out = []
    if image_bytes > b["weights_bytes"]:
        out.append(f"image {image_bytes:,} bytes > weights region {b['weights_bytes']:,}")
    if image_bytes > b["slot_bytes"]:
        out.append(f"image {image_bytes:,} bytes > link slot {b['slot_bytes']:,}")
    if arena_needed > b["arena_bytes"]:
        out.append(f"arena {arena_needed:,} bytes > {b['arena_bytes']:,}")
    return out


PROFILE_PARTS = ("embed", "proj", "norm", "rope", "layout", "qk", "softmax", "pv", "self", "resid", "head")


def profile_firmware(board):
    """The link firmware with per-part counters (THM_MODEL_PROFILE), in its own
    build folder: the counter reads and prints cost instructions, so the
    default build never has them."""
    from ..firmware.build import build_firmware
    bd = os.path.join(resources.build_root(), "profile", board.name)
    return build_firmware(board.name, bd, target="thm_app_link", defines=["THM_MODEL_PROFILE=1"])


def parse_profile(log_text, board, counters):
    """THMPROF lines -> {"prefill": {part: instructions}, "decode_per_token": {...}};
    "other" is what the app's own counters hold beyond the parts (the
    tokenizer is outside prefill; the grammar and the pick are in decode)."""
    sums = {"prefill": dict.fromkeys(PROFILE_PARTS, 0), "decode": dict.fromkeys(PROFILE_PARTS, 0)}
    for line in log_text.splitlines():
        f = line.split()
        if len(f) < 2 or f[0] != "THMPROF" or f[1] not in sums:
            continue
        for kv in f[2:]:
            k, _, v = kv.partition("=")
            if k in sums[f[1]]:
                sums[f[1]][k] += int(v)
    ipt, steps = board.instructions_per_tick, max(1, counters["gen_tokens"])
    out = {}
    for key, phase, n, total in (("prefill", "prefill", 1, counters["prefill_insns"]),
                                 ("decode_per_token", "decode", steps, counters["insns_per_token"])):
        t = {k: round(v * ipt / n) for k, v in sums[phase].items()}
        t["other"] = total - sum(t.values())
        out[key] = t
    return out


def run_on_board(board, image_path, query, tools, gen_tokens, timeout, elf=None, log=None):
    """Factory-place the image, one RUN over the link -> (counters, answer, wall seconds)."""
    from ..firmware.emulator import Emulator
    from ..link.client import LinkClient
    t0 = time.perf_counter()
    with Emulator(board.name, image=image_path, firmware="link", elf=elf, log=log) as emu:
        with emu.connect(read_timeout=timeout) as ser:
            link = LinkClient(ser, run_timeout=timeout)
            info = link.hello()
            if info["active"] != 0:
                raise RuntimeError(f"{board.name}: the factory-placed image is not active: {info['slots']}")
            counters, ans = link.run(query, tools, max_new_tokens=gen_tokens, truncate=True)
    return counters, ans, time.perf_counter() - t0


def bench_board(args, log):
    import json
    from ..boards.board import load_board
    from ..quant.image import board_layout
    from ..sim.session import Session
    board = load_board(args.board)
    layout = board_layout(board)
    tools = json.loads((WATCH_TINY / "tools.json").read_text())
    q = Quantizer(args.shape, args.seed, log)
    b = budgets(board)
    # the image decodes at most --gen-tokens: its K/V cache is planned for that (watch_m55 holds a
    # 256-token prompt with 48, not with the app's 96)
    w = dict(weights=args.weights, embed=args.embed, max_new=max(2, args.gen_tokens))
    res = {"board": board.name, "layout": layout, "budgets": b, "real_clock_hz": board.real_clock_hz, **w}
    full = q.image(args.prompt_tokens, layout, **w)
    prompt = longest_prompt(full, args.prompt_tokens, b["arena_bytes"])
    res["prompt_tokens_asked"] = args.prompt_tokens
    res["prompt_tokens_arena_allows"] = prompt
    image = full if prompt in (0, args.prompt_tokens) else q.image(prompt, layout, **w)
    need = app_arena_bytes(image, prompt or 2)          # no prompt fits: what the shortest would need
    res.update(image_bytes=len(image), app_arena_bytes=need)
    why = refusals(len(image), need, b)
    if why:
        res["refused"] = why
        log(f"{board.name}: refused: {'; '.join(why)}")
        return res
    gen = min(args.gen_tokens, prompt)
    with tempfile.TemporaryDirectory(prefix="thm_bench_") as tmp:
        path = os.path.join(tmp, "model.thm")
        with open(path, "wb") as f:
            f.write(image)
        t0 = time.perf_counter()
        want = Session(path, "c").ask(QUERY, tools, max_new_tokens=gen, truncate=True)
        res["host_seconds"] = time.perf_counter() - t0
        log(f"{board.name}: {len(image) / 2**20:.1f} MiB image ({layout}), {prompt}-token prompt, "
            f"up to {gen} tokens: QEMU ...")
        prof_log = os.path.join(tmp, "qemu.log") if args.profile else None
        elf = profile_firmware(board) if args.profile else None
        counters, ans, wall = run_on_board(board, path, QUERY, tools, gen, args.timeout, elf=elf, log=prof_log)
        if args.profile:
            with open(prof_log, errors="replace") as f:
                res["profile"] = parse_profile(f.read(), board, counters)
    if not ans.ok:
        raise RuntimeError(f"{board.name}: the device refused the prompt: {ans.text}")
    c = {k: counters[k] for k in ("prompt_tokens", "gen_tokens", "prefill_insns", "insns_per_token")}
    hz = board.real_clock_hz
    res.update(device=c, qemu_wall_s=wall, tokens=list(ans.tokens), crc=ans.crc,
               bit_exact=(list(ans.tokens), ans.crc) == (list(want["tokens"]), want["crc"])
               and c["prompt_tokens"] == want["prompt_tokens"],
               host={"tokens": list(want["tokens"]), "crc": want["crc"], "prompt_tokens": want["prompt_tokens"]},
               estimate={"assumes": "1 instruction per cycle at real_clock_hz (an ESTIMATE, not a measurement)",
                         "prefill_s": c["prefill_insns"] / hz,
                         "prefill_tok_s": c["prompt_tokens"] * hz / c["prefill_insns"],
                         "decode_tok_s": hz / c["insns_per_token"] if c["insns_per_token"] else None})
    return res


def print_report(res, out=None):
    out = out or sys.stdout
    r = res["result"]
    s = res["settings"]
    print(f"thimble bench model --board {r['board']}: {s['model']}, {r['layout']} image "
          f"{r['image_bytes']:,} bytes (projections {r.get('weights', 'int8')}, embedding "
          f"{r.get('embed', 'int8')})", file=out)
    if "refused" in r:
        print(f"refused: {'; '.join(r['refused'])}", file=out)
        return
    d, e = r["device"], r["estimate"]
    if r["prompt_tokens_arena_allows"] < r["prompt_tokens_asked"]:
        print(f"prompt cut to {r['prompt_tokens_arena_allows']} tokens: the app arena for "
              f"{r['prompt_tokens_asked']} exceeds {r['budgets']['arena_bytes']:,} bytes", file=out)
    print(f"prompt {d['prompt_tokens']} tokens: {d['prefill_insns']:,} instructions "
          f"({d['prefill_insns'] / d['prompt_tokens']:,.0f} per token)", file=out)
    print(f"decode {d['gen_tokens']} tokens: {d['insns_per_token']:,} instructions per token", file=out)
    print(f"ESTIMATE at {r['real_clock_hz'] / 1e6:.0f} MHz, 1 instruction/cycle: prefill {e['prefill_s']:.2f} s "
          f"({e['prefill_tok_s']:.0f} tok/s), decode {e['decode_tok_s']:.1f} tok/s", file=out)
    print(f"bit-exact with the host simulator (c): {'yes' if r['bit_exact'] else 'NO'}; "
          f"QEMU wall {r['qemu_wall_s']:.0f} s", file=out)
    if "profile" in r:
        pre, dec = r["profile"]["prefill"], r["profile"]["decode_per_token"]
        tp, td = sum(pre.values()) or 1, sum(dec.values()) or 1
        print(f"\n{'part':8s} {'prefill':>15s} {'share':>6s} {'per decode token':>17s} {'share':>6s}  "
              "(a profiling build: counts include its counter reads)", file=out)
        for k in sorted(pre, key=lambda k: -pre[k]):
            print(f"{k:8s} {pre[k]:>15,} {100 * pre[k] / tp:5.1f}% {dec[k]:>17,} {100 * dec[k] / td:5.1f}%", file=out)


def run(args):
    """`bench model --board`: -> exit status (1 when the board's tokens differ from the host's)."""
    from ..app.request import MAX_NEW
    if not 2 <= args.gen_tokens <= MAX_NEW or not 2 <= args.prompt_tokens <= 4096:
        raise UsageError(f"--gen-tokens must be 2..{MAX_NEW}, "
                         "--prompt-tokens 2..4096")
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    t0 = time.perf_counter()
    res = {"benchmark": "thimble bench model --board", "machine": machine_info(),
           "settings": {"model": "Needle 26M shape (RELEASED), random weights" if args.shape == "needle-26m"
                        else "tiny smoke-test shape, random weights", "shape": args.shape,
                        "prompt_tokens": args.prompt_tokens, "gen_tokens": args.gen_tokens, "seed": args.seed,
                        "counting": "instructions retired under QEMU -icount (exact, repeatable)"}}
    res["result"] = bench_board(args, log)
    res["elapsed_s"] = time.perf_counter() - t0
    print_report(res)
    save(res, json_path(args))
    if getattr(args, "plot", None):
        from . import plot
        plot.plot(res, args.plot)
    return 0 if res["result"].get("bit_exact", True) else 1
