"""`thimble run --port URL "query" --tools tools.json`: ask the board.

Stages the app's run-prompt request (thimble.app.request: up to 8 KiB of tools
JSON, 4 KiB of wire form) with REQ frames of the serial link and sends RUN
(thimble.link.client; runtime/device/link), over any pyserial URL (a device
path, socket://127.0.0.1:PORT for `thimble emulate`). Prints the tool calls
(names mapped back to the tools file's) and the device's counters: prompt
and generated tokens, instructions for the prefill and per decoded token
(exact under QEMU -icount shift=0).
"""
import json
import sys

from ..app.request import E_PROMPT, STATUS, DeviceAnswerError, build_request
from ..link.client import LinkClient, LinkError
from ..core.errors import EXIT_USAGE
from ..link.port import open_port
from ..app.prompt import PromptError, load_tools


def ask(ser, query, tools, *, max_new_tokens=96, timeout=120.0, truncate=False):
    """(DeviceAnswer, name_map, RUN_R counters) for one prompt over an open pyserial port."""
    _, name_map = build_request(query, tools, max_new_tokens, truncate)   # refuse bad input before sending
    counters, ans = LinkClient(ser, run_timeout=timeout).run(query, tools, max_new_tokens, truncate)
    return ans, name_map, counters


def add_parser(p):
    p.add_argument("query", help="what the user said")
    p.add_argument("--port", required=True, help="pyserial URL: /dev/ttyUSB0, socket://127.0.0.1:PORT, ...")
    p.add_argument("--tools", required=True, help="tools JSON file (a list of tool objects)")
    p.add_argument("--max-new-tokens", type=int, default=96, help="generated tokens, <tool_call> included (2..96)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the answer")
    p.add_argument("--json", action="store_true", help="print one JSON object (calls, text, counters)")
    p.add_argument("--truncate", action="store_true",
                   help="let the device cut a prompt over its model's token limit as Needle does "
                        "(default: it refuses the prompt)")


def run(args):
    import serial
    try:
        tools = load_tools(args.tools)
        build_request(args.query, tools, args.max_new_tokens, args.truncate)   # refuse bad input before connecting
    except PromptError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        with open_port(args.port, timeout=min(args.timeout, 5.0)) as ser:
            ans, name_map, _ = ask(ser, args.query, tools, max_new_tokens=args.max_new_tokens, timeout=args.timeout,
                                   truncate=args.truncate)
    except (DeviceAnswerError, PromptError, LinkError) as e:      # before ValueError: some are ValueErrors
        print(f"error: {e}", file=sys.stderr)
        return 1
    except (serial.SerialException, OSError, ValueError) as e:
        print(f"error: {args.port}: {e}", file=sys.stderr)
        return 1
    if not ans.ok:
        hint = " (pass --truncate to cut it as Needle does)" if ans.status == E_PROMPT else ""
        print(f"error: the device says: {STATUS.get(ans.status, ans.status)}: {ans.text}{hint}", file=sys.stderr)
        return EXIT_USAGE if ans.status == E_PROMPT else 1       # a prompt over the limit: the input's fault
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
