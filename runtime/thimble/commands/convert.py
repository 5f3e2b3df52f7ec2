"""`thimble convert CHECKPOINT -o IMAGE`: checkpoint -> calibrated int8 .thm image
(thimble.quant.pipeline does the work).

    thimble convert models/watch-tiny/needle.pkl --tokenizer models/watch-tiny/tokenizer.model \\
        --calib models/watch-tiny/calib.jsonl --tools models/watch-tiny/tools.json -o watch.thm
"""
import sys
import time

from ..core.errors import UsageError
from ..core.progress import progress_printer
from ..quant import pipeline
from .args import input_file, output_file


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
    p.add_argument("--max-new-tokens", type=int, metavar="N",
                   help="the most tokens a request may generate with this image (2..positions; default: as "
                        "many as its positions, at most 96 on a board): a board's arena holds the decoder's "
                        "K/V cache for N steps, so a smaller N leaves room for a longer prompt "
                        "(`thimble plan` shows the cost per token)")
    p.add_argument("--decode-tokens", type=int, default=16, help="decoder steps per calibration prompt")
    p.add_argument("--board", help="pack the projection weights in this board's fast-path layout "
                   "(the image then runs fastest there; any board and the host still run it)")
    p.add_argument("--layout", choices=pipeline.LAYOUTS,
                   help="pack in this layout instead of a board's (default row_major: plain)")
    p.add_argument("--weights", choices=pipeline.WEIGHTS, default="int8",
                   help="projection weights: int8 (default), int4 (half the bytes; docs/numerics.md has "
                   "what it costs), or mixed: int4 where it fits --budget, int8 where int4 costs most. "
                   "The embedding (also the tied head) stays int8")
    p.add_argument("--embed", choices=("int8", "int4"), default="int8",
                   help="the embedding, which is also the tied output head: int8 (default; int4 costs it "
                   "20 times the cosine int4 projections cost, docs/numerics.md) or int4 (the smallest image)")
    p.add_argument("--budget", type=int, metavar="BYTES",
                   help="with --weights mixed: the largest image to write, in bytes")
    p.add_argument("--repack", metavar="IMAGE", help="no checkpoint: rewrite IMAGE in the layout of "
                   "--board/--layout (same model, tokenizer and answers)")


def _layout(args):
    """The layout name from --board or --layout (row_major when neither)."""
    if args.board and args.layout:
        raise UsageError("give --board or --layout, not both")
    return pipeline.board_layout(args.board) if args.board else args.layout or "row_major"


def run(args):
    layout = _layout(args)
    output_file(args.output)
    if args.repack:
        if args.checkpoint:
            raise UsageError("give a CHECKPOINT or --repack IMAGE, not both")
        input_file(args.repack, "image")
        data = pipeline.repack(args.repack, layout)
        pipeline.write_image(args.output, data)
        print(f"wrote {args.output}: {len(data)} bytes, projections {layout}, sha256 {data[32:64].hex()[:16]}...")
        return 0
    if not args.checkpoint:
        raise UsageError("give a CHECKPOINT to convert (or --repack IMAGE)")
    input_file(args.checkpoint, "folder or file")
    for opt in ("tokenizer", "calib", "tools"):
        if getattr(args, opt):
            input_file(getattr(args, opt), f"--{opt} file")
    t0 = time.perf_counter()
    out = pipeline.convert(args.checkpoint, tokenizer=args.tokenizer, calib=args.calib, tools=args.tools,
                           calib_random=args.calib_random, max_len=args.max_len,
                           decode_tokens=args.decode_tokens, layout=layout, weights=args.weights,
                           budget=args.budget, embed=args.embed, max_new=args.max_new_tokens,
                           progress=progress_printer("calibrating"),
                           note=lambda text: print(f"note: {text}", file=sys.stderr))
    for line in out.choices:
        print(line)
    pipeline.write_image(args.output, out.data)
    data = out.data
    params = out.int8_params + out.int4_params
    print(f"wrote {args.output}: {len(data)} bytes, {out.tensors} tensors, {out.int8_params} int8 and "
          f"{out.int4_params} int4 weights, {len(data) / params:.3f} bytes per weight, "
          f"sha256 {data[32:64].hex()[:16]}...")
    print(f"calibrated on {out.prompts} prompts ({out.source}), {out.decoder_tokens} decoder steps; "
          f"{time.perf_counter() - t0:.1f} s")
    return 0
