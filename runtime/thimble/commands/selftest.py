"""`thimble selftest --port URL`: the bring-up checklist over the serial
link, one PASS/FAIL line per check with its figure (thimble.link.selftest):
identity (board, link protocol, the firmware's source hash against this
thimble's), every kernel the firmware carries run on host-sent inputs and
checked bit-exact against the numpy reference under every ISA, instructions
per MAC as the board counts them, a march test of the arena not in use, a
flash test of the journal's idle log sector (never a model slot), UART
throughput both ways, the model slots re-hashed, the stack's high-water
mark after a model run. Exit 0 when every check passes, 1 otherwise (or
when the line fails); --json prints one object a CI system can read."""
import json


def add_parser(p):
    from ..boards.board import board_names
    p.add_argument("--port", required=True, help="pyserial URL: /dev/ttyUSB0, socket://127.0.0.1:PORT, ...")
    p.add_argument("--board", default=None,
                   help=f"the board it should be ({', '.join(board_names())}; default: the one HELLO names)")
    p.add_argument("--baud", type=int, default=115200, help="line speed for a device path (default 115200)")
    p.add_argument("--timeout", type=float, default=60.0,
                   help="seconds a check may take on the board (default 60: the arena's march test)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the lines")


def run(args):
    from ..boards.board import BoardError, load_board
    from ..core.errors import CommandError, UsageError
    from ..link.client import LinkClient, LinkError
    from ..link.port import open_port, port_line_rate
    from ..link.selftest import run_checks
    if args.board is not None:
        load_board(args.board)                      # BoardError: a usage error before the line is opened
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    say = None if args.json else (lambda line: print(line, flush=True))
    try:
        with open_port(args.port, baudrate=args.baud) as ser:
            rate, _ = port_line_rate(args.port, ser)
            link = LinkClient(ser, run_timeout=args.timeout)
            name = link.hello()["board"]
            if args.board is not None and name != args.board:
                raise CommandError(f"the board on {args.port} says it is {name}, not {args.board}")
            try:
                board = load_board(name)
            except BoardError:
                raise CommandError(f"the board on {args.port} says it is {name!r}: no such board file") from None
            checks = run_checks(link, board, rate, log=say)
    except LinkError as e:
        raise CommandError(f"{args.port}: {e}") from None
    ok = all(c.ok for c in checks)
    if args.json:
        print(json.dumps({"board": board.name, "port": args.port, "passed": ok,
                          "checks": [c.as_dict() for c in checks]}))
    else:
        print(f"{sum(c.ok for c in checks)} of {len(checks)} checks passed on {board.name}")
    return 0 if ok else 1
