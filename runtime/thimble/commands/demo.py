"""`thimble demo`: the main job, end to end on this machine.

An emulated watch (QEMU, the board's real firmware: the serial link server
and the model runtime) receives a model over its UART and answers a prompt
with a tool call; the host simulator answers the same prompt through the
same integer pipeline and the two are compared bit for bit.

    1. convert models/watch-small (thimble's own trained Needle) to a .thm image
       with int8 weights, or int4 projections with --weights int4 (two-thirds
       the bytes to send)
    2. build the board's link firmware (CMake, cross gcc; cached in build/,
       or the per-user cache when installed: thimble.core.resources)
    3. boot it in QEMU under -icount, its UART on a local TCP port
    4. deploy the image over the serial link (windowed frames, SHA-256
       checked on the device, atomic commit to a flash slot)
    5. ask "set a timer for ten minutes" with the model's tools; print the
       tool call, the device's counters, and the host simulator's verdict

Exit status 0 only when the device answered a complete tool call whose
tokens and hidden-state checksum equal the host simulator's.
"""
import json
import pathlib
import sys
import tempfile
import time

from ..core import resources
from ..core.errors import CommandError, ThimbleError, UsageError
from ..core.progress import progress_printer

MODEL = resources.model_path()
DEFAULT_QUERY = "set a timer for ten minutes"


def add_parser(p):
    from ..boards.board import board_names
    p.add_argument("query", nargs="?", default=DEFAULT_QUERY, help=f"what the user says (default: {DEFAULT_QUERY!r})")
    p.add_argument("--board", default="watch_m55", help=f"board to emulate ({', '.join(board_names())}; default watch_m55)")
    p.add_argument("--tools", default=str(MODEL / "tools.json"), help=f"tools JSON (default: {MODEL.name}'s 9 tools)")
    p.add_argument("--image", default=None, help=f"deploy this .thm image instead of converting {MODEL.name}")
    p.add_argument("--weights", choices=("int8", "int4"), default="int8",
                   help="weights of the converted model: int8, or int4 projections (0.68x the image, "
                        "0.68x the deploy time; default int8)")
    p.add_argument("--truncate", action="store_true",
                   help="cut a prompt over the model's token limit as Needle does, instead of refusing it")
    p.add_argument("--flash", default=None,
                   help="keep the board's flash in this file: a second run finds the model installed "
                        "and sends nothing (default: a fresh, erased flash)")


def _step(n, text):
    print(f"[{n}/5] {text}", flush=True)


def _convert(weights="int8"):
    """The demo's model -> image bytes, as `thimble convert` makes it (quietly)."""
    from ..quant import pipeline
    try:
        return pipeline.convert(str(MODEL / "needle.pkl"), tokenizer=str(MODEL / "tokenizer.model"),
                                calib=str(MODEL / "calib.jsonl"), tools=str(MODEL / "tools.json"),
                                weights=weights).data
    except ThimbleError as e:
        raise CommandError(f"converting {MODEL.name} failed: {e}") from None


def _described():
    """models/<name> (N-parameter Needle, trained by thimble), N from its training log."""
    try:
        with open(MODEL / "train_log.json", encoding="utf-8") as f:
            n = json.load(f)["parameters"]
        size = f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}k"
    except (OSError, ValueError, KeyError, TypeError):
        size = "a"
    return f"models/{MODEL.name} ({size}-parameter Needle, trained by thimble)"


def run(args):
    from ..boards.board import load_board
    from ..app.request import DeviceAnswerError, build_request
    from ..firmware.emulator import Emulator, EmulatorError
    from .emulate import check_emulator_args
    from ..firmware.build import BuildError
    from ..firmware.qemu import QemuError
    from ..link.client import LinkClient, LinkError
    from ..app.prompt import PromptError, load_tools
    from ..sim.session import Session

    check_emulator_args(args)                    # unknown board, missing --image: usage errors
    board = load_board(args.board)
    tools = load_tools(args.tools)               # PromptError: a usage error
    build_request(args.query, tools, truncate=args.truncate)   # the board's request limits, before any work
    print(f"thimble demo: an emulated {board.name} receives a model over serial and answers a prompt")
    with tempfile.TemporaryDirectory(prefix="thimble_demo_") as tmp:
        t0 = time.perf_counter()
        if args.image:
            image_path = pathlib.Path(args.image)
            what = str(image_path)
        else:
            from ..link.factory import board_geometry, slot_layout
            image_path = pathlib.Path(tmp) / f"{MODEL.name}.thm"
            data = _convert(args.weights)
            what = f"{_described()} converted to " + ("int8" if args.weights == "int8" else "int4 projections")
            slot = slot_layout(*board_geometry(board))[1]
            if len(data) > slot:
                hint = " (--weights int4 halves its projections)" if args.weights == "int8" else ""
                raise UsageError(f"the {args.weights} image is {len(data):,} bytes, over {board.name}'s "
                                 f"{slot:,}-byte model slot{hint}")
            image_path.write_bytes(data)
        try:
            image = image_path.read_bytes()
            host = Session(str(image_path), "c")
        except OSError as e:
            raise UsageError(f"{image_path}: {e.strerror or e}") from None
        except ValueError as e:
            raise UsageError(f"{image_path}: {e}") from None
        # the model's token limit, the same on the board: refused here, before the board boots
        host.encoder_input(args.query, tools, args.truncate)
        _step(1, f"model: {what}: {len(image):,} bytes, sha256 {image[32:64].hex()[:16]}... "
                 f"({time.perf_counter() - t0:.1f} s)")

        t0 = time.perf_counter()
        print(f"[2/5] firmware: building the link firmware for {board.name} (first run ~1 min, then cached)...",
              flush=True)
        try:
            emu = Emulator(board.name, flash=args.flash, firmware="link")
        except (EmulatorError, BuildError, QemuError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        try:
            print(f"      {resources.shown(emu.elf)} ({time.perf_counter() - t0:.1f} s)")
            with emu:
                _step(3, f"board: {' '.join(emu.argv()[:3])} ... -icount shift=0, UART on {emu.url}")
                with emu.connect() as ser:
                    link = LinkClient(ser)
                    hello = link.hello()
                    slots = ", ".join(f"slot {i} {s['state'].lower()}" for i, s in enumerate(hello["slots"]))
                    print(f"      handshake: board {hello['board']}, link v{hello['version']}, "
                          f"window {hello['window']} frames, {slots}")
                    res = link.deploy(image, progress=progress_printer("      sent", sys.stdout, unit=" bytes", every=10))
                    if res.status == "same":
                        _step(4, f"deploy: the board already holds this image (slot {res.slot}): nothing sent")
                    else:
                        rate = res.bytes_sent / res.seconds if res.seconds else 0
                        resumed = f", resumed at byte {res.resumed_from:,}" if res.resumed_from else ""
                        _step(4, f"deploy: {res.bytes_sent:,} bytes in {res.seconds:.1f} s ({rate / 1000:.1f} kB/s, "
                                 f"QEMU's UART{resumed}), {res.retransmits} retransmitted frames; "
                                 f"SHA-256 verified on the device, slot {res.slot} active")
                    _step(5, f"ask: {args.query!r} with {len(tools)} tools")
                    counters, ans = link.run(args.query, tools, truncate=args.truncate)
        except (EmulatorError, LinkError, PromptError, DeviceAnswerError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        want = host.ask(args.query, tools, truncate=args.truncate)
    if not ans.ok:
        print(f"error: the device says: {ans.text}", file=sys.stderr)
        return 1
    calls = ans.calls(ans_name_map(args.query, tools))
    c = ans.counters()
    print()
    print(json.dumps(calls, separators=(",", ":"), ensure_ascii=False) if calls is not None
          else f"(incomplete answer) {ans.text}")
    print()
    print(f"device: {c['prompt_tokens']} prompt tokens, {c['generated_tokens']} generated; "
          f"{c['instructions_prefill'] / 1e6:.1f}M instructions to prefill, "
          f"{c['instructions_per_token'] / 1e6:.2f}M per decoded token (QEMU -icount: exact, repeatable)")
    same = (ans.tokens, ans.crc) == (want["tokens"], want["crc"])
    print(f"host simulator: {'the same' if same else 'DIFFERENT'} {len(want['tokens'])} tokens and hidden-state "
          f"CRC {want['crc']} (device {ans.crc}): {'bit-exact' if same else 'MISMATCH'}")
    return 0 if same and ans.complete else 1


def ans_name_map(query, tools):
    from ..app.prompt import normalize_tools
    return normalize_tools(tools)[1]
