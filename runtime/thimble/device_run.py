"""`thimble run --port URL "query" --tools tools.json`: ask the board.

Sends a run-prompt request (device_prompt.py) over any pyserial URL (a
device path, socket://127.0.0.1:PORT for `thimble emulate`), reads the
answer, prints the tool calls (names mapped back to the tools file's) and
the device's counters: prompt and generated tokens, instructions for the
prefill and per decoded token (exact under QEMU -icount shift=0).

Two ways over the wire: --protocol link (the default) stages the request
and sends RUN over the serial link (thimble.link.client; runtime/device/link),
--protocol plain writes the request as it is to the app firmware (`thimble
emulate --firmware app`). Both take the app's whole request (8 KiB of tools
JSON, 4 KiB of wire form). Bytes before an answer (the boot banner) are
skipped.
"""
import json
import sys
import time

from .device_prompt import (ANS_HEADER, ANS_MAGIC, STATUS, DeviceAnswerError, answer_length, build_request,
                            parse_answer)
from .link.client import LinkError
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


def ask_link(ser, query, tools, *, max_new_tokens=96, timeout=120.0):
    """(DeviceAnswer, name_map, RUN_R counters) for one prompt over the serial link."""
    from .link.client import LinkClient
    _, name_map = build_request(query, tools, max_new_tokens)        # refuse bad input before sending
    counters, ans = LinkClient(ser, run_timeout=timeout).run(query, tools, max_new_tokens)
    return ans, name_map, counters


def add_parser(p):
    p.add_argument("query", help="what the user said")
    p.add_argument("--port", required=True, help="pyserial URL: /dev/ttyUSB0, socket://127.0.0.1:PORT, ...")
    p.add_argument("--tools", required=True, help="tools JSON file (a list of tool objects)")
    p.add_argument("--max-new-tokens", type=int, default=96, help="generated tokens, <tool_call> included (2..96)")
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
                ans, name_map, _ = ask_link(ser, args.query, tools, max_new_tokens=args.max_new_tokens,
                                            timeout=args.timeout)
            else:
                ans, name_map = ask(ser, args.query, tools, max_new_tokens=args.max_new_tokens,
                                    timeout=args.timeout)
    except (serial.SerialException, OSError, ValueError) as e:
        print(f"error: {args.port}: {e}", file=sys.stderr)
        return 1
    except (DeviceTimeout, DeviceAnswerError, PromptError, LinkError) as e:
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
