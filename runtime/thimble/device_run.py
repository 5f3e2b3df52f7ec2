"""`thimble run --port URL "query" --tools tools.json`: ask the board.

Sends a run-prompt request (device_prompt.py) over any pyserial URL (a
device path, socket://127.0.0.1:PORT for `thimble emulate`), reads the
answer, prints the tool calls (names mapped back to the tools file's) and
the device's counters: prompt and generated tokens, instructions for the
prefill and per decoded token (exact under QEMU -icount shift=0).

Two ways over the wire: --protocol link (the default) sends a RUN frame of
the serial link (runtime/device/link; thimble.link.codec), --protocol plain
writes the request as it is to the app firmware (`thimble emulate
--firmware app`), which takes larger tools (8 KiB of JSON against the
link's 480 bytes). Bytes before an answer (the boot banner) are skipped.
"""
import json
import sys
import time

from .device_prompt import (ANS_HEADER, ANS_MAGIC, STATUS, DeviceAnswerError, answer_length, build_request,
                            parse_answer)
from .prompt import PromptError, load_tools

MAX_SKIP = 4096          # bytes of banner or noise tolerated before an answer


class DeviceTimeout(RuntimeError):
    """The device did not answer in time."""


def _read_exact(ser, n, deadline):
    buf = b""
    while len(buf) < n:
        if time.monotonic() > deadline:
            raise DeviceTimeout(f"device answer: {len(buf)} of {n} bytes before the timeout")
        buf += ser.read(n - len(buf))
    return buf


def read_answer(ser, timeout=120.0):
    """Skip to the answer magic, then read one whole answer (bounded)."""
    deadline = time.monotonic() + timeout
    window, skipped = b"", 0
    while window != ANS_MAGIC:
        window = (window + _read_exact(ser, 1, deadline))[-4:]
        skipped += 1
        if skipped > MAX_SKIP + 4:
            raise DeviceAnswerError(f"no answer magic in the first {MAX_SKIP} bytes from the device")
    head = window + _read_exact(ser, ANS_HEADER - 4, deadline)
    n = answer_length(head)
    return parse_answer(head + _read_exact(ser, n - ANS_HEADER, deadline))


def ask(ser, query, tools, *, max_new_tokens=96, timeout=120.0):
    """(DeviceAnswer, name_map) for one prompt over an open pyserial port."""
    req, name_map = build_request(query, tools, max_new_tokens)
    ser.write(req)
    ser.flush()
    return read_answer(ser, timeout), name_map


def ask_link(ser, query, tools, *, timeout=120.0):
    """(DeviceAnswer, name_map, RUN_R fields) for one prompt as a RUN frame of the serial link."""
    from .device_prompt import link_run_fields
    from .link import codec
    from .link import format as F
    q, blob, name_map = link_run_fields(query, tools)
    if len(q) > F.MAX_PROMPT or len(blob) > F.MAX_TOOLS:
        raise PromptError(f"the link's RUN takes {F.MAX_PROMPT} bytes of query and {F.MAX_TOOLS} of tools; "
                          f"this prompt has {len(q)} and {len(blob)} (fewer tools, or --protocol plain)")
    ser.write(codec.encode(F.COMMANDS["RUN"], 1, codec.pack("RUN", len(q), len(blob), tail=q + blob)))
    ser.flush()
    dec, deadline = codec.Decoder(), time.monotonic() + timeout
    while True:
        for cmd, seq, body in dec.feed(_read_exact(ser, 1, deadline)):
            if cmd == F.COMMANDS["RUN"] | F.REPLY and seq == 1:
                head, out = codec.unpack("RUN_R", body)
                return parse_answer(out[:head["out_len"]]), name_map, head
            if cmd == F.COMMANDS["ERROR"] | F.REPLY or cmd == F.COMMANDS["ERROR"]:
                st, _ = codec.unpack("ERROR", body)
                names = {v: k for k, v in F.STATUS.items()}
                raise DeviceAnswerError(f"the link refused RUN: {names.get(st['status'], st['status'])}")


def add_parser(p):
    p.add_argument("query", help="what the user said")
    p.add_argument("--port", required=True, help="pyserial URL: /dev/ttyUSB0, socket://127.0.0.1:PORT, ...")
    p.add_argument("--tools", required=True, help="tools JSON file (a list of tool objects)")
    p.add_argument("--max-new-tokens", type=int, default=96, help="generated tokens, <tool_call> included (2..96; plain protocol only, the link's RUN takes 96)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the answer")
    p.add_argument("--protocol", choices=("link", "plain"), default="link",
                   help="link: a RUN frame of the serial link; plain: the app firmware's own request path")
    p.add_argument("--json", action="store_true", help="print one JSON object (calls, text, counters)")


def run(args):
    import serial
    try:
        tools = load_tools(args.tools)
        req_check = build_request(args.query, tools, args.max_new_tokens)   # refuse bad input before connecting
        del req_check
    except PromptError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        with serial.serial_for_url(args.port, timeout=min(args.timeout, 5.0)) as ser:
            if args.protocol == "link":
                ans, name_map, _ = ask_link(ser, args.query, tools, timeout=args.timeout)
            else:
                ans, name_map = ask(ser, args.query, tools, max_new_tokens=args.max_new_tokens,
                                    timeout=args.timeout)
    except (serial.SerialException, OSError, ValueError) as e:
        print(f"error: {args.port}: {e}", file=sys.stderr)
        return 1
    except (DeviceTimeout, DeviceAnswerError, PromptError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not ans.ok:
        print(f"error: the device says: {STATUS.get(ans.status, ans.status)}: {ans.text}", file=sys.stderr)
        return 1
    calls = ans.calls(name_map)
    c = ans.counters()
    if args.json:
        print(json.dumps({"calls": calls, "complete": ans.complete, "text": ans.text, "tokens": ans.tokens,
                          "crc": ans.crc, **c}))
    else:
        print(json.dumps(calls) if calls is not None else f"(incomplete answer) {ans.text}")
        print(f"prompt tokens {c['prompt_tokens']}, generated tokens {c['generated_tokens']}, "
              f"instructions: prefill {c['instructions_prefill']:,}, per token {c['instructions_per_token']:,} "
              f"(tokenize {c['instructions_tokenize']:,})", file=sys.stderr)
    return 0 if ans.complete else 1
