"""`thimble plan IMAGE --board NAME`: will this image fit, and what does it cost.

    thimble plan model.thm --board watch_m55
    thimble plan model.thm --board watch_m4 --prompt-tokens 128 --gen-tokens 32
    thimble plan model.thm --arena-bytes 2097152 --flash-bytes 33554432

Exit 0 when it fits (or no budget was given), 1 with a message naming the
region and the shortfall when it does not, 2 on a bad image or argument.
"""
import json
import sys

from .args import input_file
from ..core.errors import UsageError
from ..sim.plan import make_plan, shortfalls


def add_parser(p):
    p.add_argument("image", help="a .thm image")
    p.add_argument("--board", help="board name (boards/NAME.toml): its arena and one model slot of its flash "
                                   "(the link keeps two, A/B) are the budget")
    p.add_argument("--prompt-tokens", type=int, default=256, metavar="N", help="encoder tokens (default 256)")
    p.add_argument("--gen-tokens", type=int, default=48, metavar="N", help="generated tokens (default 48)")
    p.add_argument("--arena-bytes", type=int, metavar="N", help="arena budget (overrides the board's)")
    p.add_argument("--flash-bytes", type=int, metavar="N", help="weights/flash budget (overrides the board's)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")


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
