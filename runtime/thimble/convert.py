"""`thimble convert CHECKPOINT -o IMAGE`: checkpoint -> calibrated int8 .thm image.

    thimble convert models/watch-tiny/needle.pkl --tokenizer models/watch-tiny/tokenizer.model \\
        --calib models/watch-tiny/calib.jsonl --tools models/watch-tiny/tools.json -o watch.thm
"""
import hashlib
import json
import os
import sys
import time

import numpy as np

from .args import input_file, output_file
from .errors import CommandError, UsageError


def max_positions():
    """RoPE positions the C runtime binds (THM_MODEL_MAX_POSITIONS, config_ok in
    thm_model_bind.c), read from the runtime itself so the two never differ."""
    from ._kernels import lib
    return int(lib.THM_MODEL_MAX_POSITIONS)


def add_parser(p):
    p.add_argument("checkpoint", nargs="?", help="Needle pickle (.pkl), .safetensors, or a Cactus export folder")
    p.add_argument("-o", "--output", required=True, help="the .thm image to write")
    p.add_argument("--tokenizer", help="SentencePiece .model to carry in the image (needed by sim and the device)")
    p.add_argument("--calib", help="calibration prompts, JSON lines {\"query\": ..., \"tools\": [names or tool objects]}")
    p.add_argument("--tools", help="tools JSON list; resolves tool names used in --calib")
    p.add_argument("--calib-random", type=int, default=8, metavar="N",
                   help="without --calib: calibrate on N random token prompts (default 8)")
    p.add_argument("--max-len", type=int, help="encoder/decoder positions the image supports "
                   "(default: the checkpoint's max_seq_len)")
    p.add_argument("--decode-tokens", type=int, default=16, help="decoder steps per calibration prompt")
    add_layout_args(p)


def step_progress(label, stream):
    """progress(i, n) for a loop of n slow steps: a counter redrawn in place on
    a terminal; elsewhere (a log, CI, a pipe) one plain line at each quarter,
    so the log shows the work moving without a line per step."""
    tty = stream.isatty()
    state = {"next": 25}

    def progress(i, n):
        if tty:
            print(f"\r{label} {i}/{n}", end="" if i < n else "\n", file=stream, flush=True)
            return
        pct = 100 * i // max(n, 1)
        if pct >= state["next"]:
            print(f"{label} {i}/{n} ({pct}%)", file=stream, flush=True)
            state["next"] = (pct // 25 + 1) * 25
    return progress


def _calib_prompts(args, tokenizer, max_len):
    from .prompt import PromptError, build_encoder_input, load_tools
    by_name = {}
    if args.tools:
        by_name = {t["name"]: t for t in load_tools(args.tools)}
    prompts = []
    with open(args.calib, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                tools = [t if isinstance(t, dict) else by_name[t] for t in row.get("tools", [])]
                # calibration measures activation ranges: a long prompt is cut as Needle
                # cuts it (what the model would see with --truncate), not refused
                ids, _ = build_encoder_input(tokenizer, row["query"], tools, max_len, truncate=True)
            except KeyError as e:
                what = (f"names the tool {e} that --tools does not define" if args.tools else
                        f"names the tool {e}: pass --tools FILE with the tools' definitions")
                if not isinstance(row, dict) or "query" not in row:
                    what = f"has no field {e}"
                raise UsageError(f"{args.calib}:{n}: {what}") from None
            except (ValueError, PromptError, TypeError, AttributeError) as e:
                raise UsageError(f"{args.calib}:{n}: {e}") from None
            prompts.append(ids)
    if not prompts:
        raise UsageError(f"{args.calib}: no prompts")
    return prompts


def run(args):
    from .image import ImageError
    from .model import CheckpointError, load_checkpoint
    from .quant import QuantizeError, calibrate, quantize, random_prompts, to_image
    from .tokenizer import TokenizerModelError, load_model
    from .tokenizer.bpe import Tokenizer
    from .tokenizer.payload import build_payload
    from .sim.device_checks import check_image as check_like_device

    layout = _layout(args)
    output_file(args.output)
    if args.repack:
        if args.checkpoint:
            raise UsageError("give a CHECKPOINT or --repack IMAGE, not both")
        return _repack(args, layout)
    if not args.checkpoint:
        raise UsageError("give a CHECKPOINT to convert (or --repack IMAGE)")
    input_file(args.checkpoint, "folder or file")
    for opt in ("tokenizer", "calib", "tools"):
        if getattr(args, opt):
            input_file(getattr(args, opt), f"--{opt} file")
    if args.calib and not args.tokenizer:
        raise UsageError("--calib needs --tokenizer to turn queries into tokens")
    t0 = time.perf_counter()
    try:
        model = load_checkpoint(args.checkpoint)
    except CheckpointError as e:    # the file is there but its content is refused: exit 1
        raise CommandError(e) from None
    c = model.config
    max_len = args.max_len or c.max_seq_len
    # the C runtime binds at most 2^20 RoPE positions (config_ok in thm_model_bind.c);
    # refused here, before a 100 MB image every runtime would refuse is built
    top = max_positions()
    if not 2 <= max_len <= top:
        raise UsageError(f"--max-len {max_len}: an image supports 2..{top} positions"
                         if args.max_len else
                         f"{args.checkpoint}: max_seq_len {max_len} is outside 2..{top} (give --max-len)")
    blob, tok = None, None
    if args.tokenizer:
        try:
            spm = load_model(args.tokenizer)
        except OSError as e:
            raise UsageError(f"{args.tokenizer}: {e.strerror or e}") from None
        except TokenizerModelError as e:
            raise UsageError(f"{args.tokenizer}: {e}") from None
        if len(spm.pieces) != c.vocab_size:
            raise UsageError(f"{args.tokenizer} has {len(spm.pieces)} pieces but the model's vocabulary is "
                             f"{c.vocab_size}")
        blob, tok = build_payload(spm), Tokenizer(spm)
    if args.calib:
        prompts = _calib_prompts(args, tok, max_len)
        source = args.calib
    else:
        prompts = random_prompts(c, n=args.calib_random, length=min(48, max_len))
        source = f"{args.calib_random} random token prompts"
        print("note: no --calib: calibrating on random tokens (real prompts calibrate better)", file=sys.stderr)

    try:
        cal = calibrate(model, prompts, decode_tokens=args.decode_tokens,
                        progress=step_progress("calibrating", sys.stderr))
        qm = quantize(model, cal, rope_n_pos=max_len)
        data = to_image(qm, blob, _checkpoint_id(args.checkpoint), layout=layout)
        check_like_device(data)     # never write an image the boards' runtime refuses
    except (QuantizeError, ImageError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    _write(args.output, data)
    params = sum(int(np.prod(a.shape)) for n, a in qm.tensors.items() if a.dtype == np.int8)
    print(f"wrote {args.output}: {len(data)} bytes, {len(qm.tensors)} tensors, "
          f"{len(data) / params:.3f} bytes per int8 weight, sha256 {data[32:64].hex()[:16]}...")
    print(f"calibrated on {len(prompts)} prompts ({source}), {cal.decoder_tokens} decoder steps; "
          f"{time.perf_counter() - t0:.1f} s")
    return 0


def _write(path, data):
    """Write through a temporary file, so a failed write never leaves half an image at path."""
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _checkpoint_id(path):
    """SHA-256 of the checkpoint's bytes (of every file, by name, for a folder)."""
    h = hashlib.sha256()
    files = [path] if not os.path.isdir(path) else \
        [os.path.join(path, n) for n in sorted(os.listdir(path)) if os.path.isfile(os.path.join(path, n))]
    for fn in files:
        h.update(os.path.basename(fn).encode() + b"\0")
        with open(fn, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.digest()


# --- weight layout: pack the projections for a board's fast path ---

def add_layout_args(p):
    p.add_argument("--board", help="pack the projection weights in this board's fast-path layout "
                   "(the image then runs fastest there; any board and the host still run it)")
    p.add_argument("--layout", choices=["row_major", "s8_r8k64", "s16_r4k16"],
                   help="pack in this layout instead of a board's (default row_major: plain)")
    p.add_argument("--repack", metavar="IMAGE", help="no checkpoint: rewrite IMAGE in the layout of "
                   "--board/--layout (same model, tokenizer and answers)")


def _layout(args):
    """The layout name from --board or --layout (row_major when neither)."""
    if args.board and args.layout:
        raise UsageError("give --board or --layout, not both")
    if not args.board:
        return args.layout or "row_major"
    from .boards.board import load_board
    from .quant.image import board_layout
    return board_layout(load_board(args.board))       # an unknown board: BoardError, a usage error


def _repack(args, layout):
    from .image import ImageError
    from .quant.image import repack
    input_file(args.repack, "image")
    try:
        data = repack(args.repack, layout)
    except OSError as e:
        raise UsageError(f"{args.repack}: {e.strerror or e}") from None
    except (ImageError, ValueError) as e:
        raise UsageError(f"{args.repack}: {e}") from None
    _write(args.output, data)
    print(f"wrote {args.output}: {len(data)} bytes, projections {layout}, sha256 {data[32:64].hex()[:16]}...")
    return 0
