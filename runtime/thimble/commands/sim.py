"""`thimble sim IMAGE "query" --tools tools.json`: the host simulator.

Runs the image exactly as a board does (integer kernels, constrained
decoding) and prints the tool calls as JSON. --backend picks where the
arithmetic runs; every backend gives the same tokens and hidden-state CRC.
"""
import json
import sys

from ..sim.engine import BACKENDS


def add_parser(p):
    p.add_argument("image", help="a .thm image (thimble convert)")
    p.add_argument("query", help="what the user said")
    p.add_argument("--tools", required=True, help="JSON list of tools, Needle's format")
    p.add_argument("--backend", default="c", choices=BACKENDS,
                   help="c: the C model runtime (default); numba, reference, c:<isa>: the integer "
                        "forward over that kernel backend")
    p.add_argument("--max-new-tokens", type=int, default=96, metavar="N",
                   help="give up after N generated tokens without a complete tool call (default 96)")
    p.add_argument("--truncate", action="store_true",
                   help="cut a prompt over the image's token limit as Needle does (the query keeps at most "
                        "limit - 2 tokens, the tools what is left) instead of refusing it")
    p.add_argument("--verbose", "-v", action="store_true",
                   help="also print tokens, CRC and timings (as one JSON object)")


def run(args):
    from ..app.request import build_request
    from ..core.errors import UsageError
    from ..image import ImageError
    from ..app.prompt import PromptError, load_tools
    from ..sim.session import Session
    try:
        tools = load_tools(args.tools)
        # the board's request limits (query bytes, tools, tokens to generate): what the
        # simulator answers, a board answers too
        build_request(args.query, tools, args.max_new_tokens, args.truncate)
    except PromptError as e:
        raise UsageError(e) from None
    try:
        session = Session(args.image, args.backend)
    except OSError as e:
        raise UsageError(f"{args.image}: {e.strerror or e}") from None
    except (ImageError, ValueError) as e:           # an image that does not validate: not what IMAGE takes
        raise UsageError(f"{args.image}: {e}") from None
    try:
        out = session.ask(args.query, tools, max_new_tokens=args.max_new_tokens, truncate=args.truncate)
    except PromptError as e:
        raise UsageError(e) from None
    except (ImageError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.verbose:
        print(json.dumps(out, ensure_ascii=False))
    elif out["complete"]:
        print(json.dumps(out["calls"], ensure_ascii=False))
    else:
        print(f"error: no complete answer within {args.max_new_tokens} tokens: {out['text']!r}",
              file=sys.stderr)
        return 1
    return 0
