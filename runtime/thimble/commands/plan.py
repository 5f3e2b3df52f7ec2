"""`thimble plan IMAGE --board NAME`: will this image fit, and what does it cost.

    thimble plan model.thm --board watch_m55
    thimble plan model.thm --board watch_m4 --prompt-tokens 128 --gen-tokens 32
    thimble plan model.thm --arena-bytes 2097152 --flash-bytes 33554432
    thimble plan needle2.cact --board glasses_a55 --window 256     # Needle 2: weights, RAM, largest window

Exit 0 when it fits (or no budget was given), 1 with a message naming the
region and the shortfall when it does not, 2 on a bad image or argument.
"""
import json
import sys

from .args import input_file
from ..core.errors import UsageError
from ..sim.plan import make_plan, shortfalls


def add_parser(p):
    p.add_argument("image", help="a .thm image, or a Needle 2 .cact")
    p.add_argument("--board", help="board name (boards/NAME.toml): its arena and one model slot of its flash "
                                   "(the link keeps two, A/B) are the budget")
    p.add_argument("--prompt-tokens", type=int, default=256, metavar="N", help="encoder tokens (default 256)")
    p.add_argument("--gen-tokens", type=int, default=48, metavar="N", help="generated tokens (default 48)")
    p.add_argument("--arena-bytes", type=int, metavar="N", help="arena budget (overrides the board's)")
    p.add_argument("--flash-bytes", type=int, metavar="N", help="weights/flash budget (overrides the board's)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--window", type=int, metavar="N",
                   help="Needle 2: cached positions (default: the file's kv_window, else 256)")
    p.add_argument("--sinks", type=int, default=0, metavar="N", help="Needle 2: pinned sink positions (default 0)")
    p.add_argument("--chunk", type=int, default=1, metavar="N",
                   help="Needle 2: tokens run at once (1: decode; a prefill chunk costs more RAM; default 1)")


def _layout_note(plan, board_name):
    """What the image's weight layout means on the board (None when plain)."""
    if plan.weight_layout == "row_major":
        return None
    note = f"weights: projections packed {plan.weight_layout}"
    if board_name:
        from ..boards import load_board
        from ..quant.image import board_layout
        fast = board_layout(load_board(board_name)) == plan.weight_layout
        note += " (this board's fast path)" if fast else " (not this board's layout: its portable C runs them, slower)"
    return note


def _budgets(args):
    arena, flash, where = None, None, "given budgets"
    if args.board:
        from ..boards import load_board
        from ..link.factory import board_geometry, slot_layout
        b = load_board(args.board)          # BoardError: a usage error
        # a model reaches the board through one of the link's slots of its
        # model flash (A/B, or one): that slot, not the whole weights region, is the budget
        flash_size, sector, slots = board_geometry(b)
        arena, flash = b.regions["arena"].real_size, slot_layout(flash_size, sector, slots)[1]
        where = (f"board {b.name} (a model slot: one of 2 in its {flash_size:,}-byte model flash)" if slots == 2 else
                 f"board {b.name} (its one model slot, replaced by each deploy, in its {flash_size:,}-byte model flash)")
    if args.arena_bytes is not None:
        arena = args.arena_bytes
    if args.flash_bytes is not None:
        flash = args.flash_bytes
    for v, n in ((arena, "arena"), (flash, "flash")):
        if v is not None and v < 0:
            raise ValueError(f"--{n}-bytes must not be negative")
    return arena, flash, where


def _kib(n):
    return f"{n / 1024:,.1f} KiB"


def run(args):
    input_file(args.image, "image")
    try:
        with open(args.image, "rb") as f:
            data = f.read()
        arena_budget, flash_budget, where = _budgets(args)
        from ..needle2.cact_format import TAG
        if data[:4] == TAG.to_bytes(4, "little"):
            return _needle2(args, data, arena_budget, flash_budget, where)
        from ..image.reader import parse_image
        if parse_image(data, verify_hash=False).family == "needle2":
            return _needle2_image(args, data, arena_budget, flash_budget, where)
        plan = make_plan(data, args.prompt_tokens, args.gen_tokens)
    except OSError as e:
        raise UsageError(f"{args.image}: {e.strerror or e}") from None
    except ValueError as e:          # BoardError is one: its message names the board
        raise UsageError(e) from None
    short = shortfalls(plan, arena_budget, flash_budget)
    if args.json:
        out = dict(plan.__dict__, arena_budget=arena_budget, flash_budget=flash_budget,
                   fits=not short, shortfalls=[dict(region=r, needed=n, available=a) for r, n, a in short])
        print(json.dumps(out, indent=1))
    else:
        k = plan.config
        print(f"{args.image}: d_model {k['d_model']}, {k['n_enc_layers']}+{k['n_dec_layers']} layers, "
              f"vocab {k['vocab_size']}; prompt {plan.prompt_tokens} tokens, {plan.gen_tokens} generated")
        print(f"flash (image, read in place): {plan.image_bytes:>12,} bytes ({plan.image_bytes / 2**20:.2f} MiB)"
              + (f"  budget {flash_budget:,}" if flash_budget is not None else ""))
        if _layout_note(plan, args.board):
            print(_layout_note(plan, args.board))
        wv = plan.weight_variants
        fits = (lambda n: "" if flash_budget is None else ("  fits" if n <= flash_budget else "  does not fit"))
        print(f"  projections as int8 rows: {wv['int8']:>12,} bytes{fits(wv['int8'])}; as int4 rows: "
              f"{wv['int4']:,} bytes{fits(wv['int4'])} (thimble convert --weights int8|int4)")
        print(f"arena (peak):                 {plan.board_arena_bytes:>12,} bytes "
              f"({plan.board_arena_bytes / 2**20:.2f} MiB): the model's {plan.arena_bytes:,} and the app's "
              f"{plan.app_bytes:,}" + (f"  budget {arena_budget:,}" if arena_budget is not None else ""))
        print(f"longer prompt: +{plan.bytes_per_prompt_token:,.0f} arena bytes per encoder token "
              f"(image allows {plan.max_enc_len}); +{plan.bytes_per_gen_token:,.0f} per generated token "
              f"(allows {plan.max_dec_len})")
        print(f"\n{'layer':8}{'weights':>14}{'arena':>14}  arena items")
        for r in plan.layers:
            print(f"{r['layer']:8}{_kib(r['weights_bytes']):>14}{_kib(r['arena_bytes']):>14}  {r['arena_items']}")
        print(f"\n{'arena buffer':58}{'bytes':>12}")
        for r in plan.buffers + plan.app_buffers:
            print(f"{r['buffer']:58}{r['bytes']:>12,}")
    if short:
        for region, need, have in short:
            print(f"error: does not fit {where}: the {region} region needs {need:,} bytes, "
                  f"has {have:,} (short by {need - have:,})", file=sys.stderr)
        return 1
    if arena_budget is not None or flash_budget is not None:
        print(f"\nfits {where}: arena {plan.board_arena_bytes:,} of {arena_budget if arena_budget is not None else '-'}, "
              f"flash {plan.image_bytes:,} of {flash_budget if flash_budget is not None else '-'}")
    return 0


def _needle2_image(args, data, arena_budget, flash_budget, where):
    """A Needle 2 .thm image: the C model's arena for prompt + generated tokens (thm_n2_arena_size)."""
    from ..needle2.c_model import N2Model
    from ..sim.c_model import CModelError
    try:
        m = N2Model(data, max_pos=1)
    except CModelError as e:
        raise UsageError(f"{args.image}: {e}") from None
    n = args.prompt_tokens + args.gen_tokens
    ram = m.arena_size(n)
    if not ram:
        raise UsageError(f"--prompt-tokens + --gen-tokens is {n}; the image has {m.image_positions} positions")
    k = m.config
    flash = len(data)
    short = [(r, need, a) for r, need, a in (("arena", ram, arena_budget), ("flash", flash, flash_budget))
             if a is not None and need > a]
    items = m.arena_items(n)
    if args.json:
        print(json.dumps({"model": "needle2", "image_bytes": flash, "arena_bytes": ram, "positions": n,
                          "window": k["kv_window"], "sinks": k["kv_sinks"], "arena_budget": arena_budget,
                          "buffers": [dict(buffer=b, bytes=v) for b, v in items],
                          "flash_budget": flash_budget, "fits": not short}, indent=1))
    else:
        ring = (f"window {k['kv_window']} + {k['kv_sinks']} sinks (a ring: RAM stops growing past them)"
                if k["kv_window"] else "no window (every position cached)")
        print(f"{args.image}: Needle 2 image, d_model {k['d_model']}, {k['n_layers']} layers, vocab "
              f"{k['vocab_size']}; {n} positions, {ring}")
        _sizes(("flash (image, read in place):", flash, flash_budget), ("arena (the C model's):", ram, arena_budget))
        print(f"\n{'arena buffer':58}{'bytes':>12}")
        for b, v in items:
            print(f"{b:58}{v:>12,}")
    return _shortfalls(short, where)


def _sizes(*rows):
    """Lines of (label, bytes, budget or None), the numbers aligned."""
    width = max(len(label) for label, _, _ in rows)
    for label, n, budget in rows:
        print(f"{label:{width}} {n:>12,} bytes ({n / 2**20:.2f} MiB)"
              + (f"  budget {budget:,}" if budget is not None else ""))


def _shortfalls(short, where):
    for region, need, have in short:
        print(f"error: does not fit {where}: the {region} region needs {need:,} bytes, has {have:,} "
              f"(short by {need - have:,})", file=sys.stderr)
    return 1 if short else 0


def _needle2(args, data, arena_budget, flash_budget, where):
    """A Needle 2 .cact: its weights read in place, the integer model's RAM for a window."""
    from ..model.params import CheckpointError
    from ..needle2 import parse_cact
    from ..needle2.plan import buffers, largest_window
    try:
        c = parse_cact(data, args.image)
    except CheckpointError as e:
        raise UsageError(e) from None
    cfg = c.config
    window = args.window if args.window is not None else (min(cfg.kv_window, cfg.max_seq_len) or 256)
    for v, n in ((window, "window"), (args.sinks, "sinks"), (args.chunk, "chunk")):
        if v < (1 if n != "sinks" else 0) or v > cfg.max_seq_len:
            raise UsageError(f"--{n} {v} is outside {1 if n != 'sinks' else 0}..{cfg.max_seq_len}")
    bufs = buffers(cfg, window, args.sinks, args.chunk)
    ram = sum(b for _, b in bufs)
    flash = len(data)
    most = (min(largest_window(cfg, arena_budget, args.sinks, args.chunk), cfg.max_seq_len)
            if arena_budget is not None else None)
    short = [(r, n, a) for r, n, a in (("arena", ram, arena_budget), ("flash", flash, flash_budget))
             if a is not None and n > a]
    if args.json:
        print(json.dumps({"model": "needle2", "d_model": cfg.d_model, "layers": cfg.num_layers,
                          "vocab_size": cfg.vocab_size, "window": window, "sinks": args.sinks, "chunk": args.chunk,
                          "flash_bytes": flash, "ram_bytes": ram, "buffers": [dict(buffer=n, bytes=b) for n, b in bufs],
                          "arena_budget": arena_budget, "flash_budget": flash_budget, "largest_window": most,
                          "fits": not short}, indent=1))
    else:
        print(f"{args.image}: Needle 2, d_model {cfg.d_model}, {cfg.num_layers} layers, vocab {cfg.vocab_size}; "
              f"window {window} + {args.sinks} sinks, {args.chunk} token(s) at a time")
        _sizes(("flash (the .cact's weights, read in place):", flash, flash_budget), ("RAM:", ram, arena_budget))
        if most is not None:
            print(f"largest window this RAM holds: {most} positions (+{args.sinks} sinks; "
                  f"the model has {cfg.max_seq_len})")
        print(f"\n{'buffer':84}{'bytes':>12}")
        for n, b in bufs:
            print(f"{n:84}{b:>12,}")
    return _shortfalls(short, where)
