"""`thimble flash --board B --gdb HOST:PORT`: put the board's firmware on a
target through any GDB server (QEMU's gdbstub, OpenOCD, pyOCD, J-Link GDB
Server, probe-rs), as GDB's `load` does, over thimble's own remote-protocol
client (thimble.gdb).

Checked before anything is written: the ELF (its class and machine are the
board's, it carries thimble's firmware id for this board, every loadable
byte lies in the board's memory), the server (it answers the protocol and
the target is halted) and, where the server sends a memory map, that each
segment lies in it. Then each segment is written (flash through
vFlashErase/vFlashWrite/vFlashDone, RAM through X), with a progress bar;
--verify compares each segment's CRC (on the target with qCRC where the
server has it, else read back); --reset-run starts the firmware as a reset
would (optionally after the server's own `monitor` reset command) and
detaches. A per-segment report follows; --json prints it as one object.

    thimble emulate --board watch_m4 --gdb 3333 &        # QEMU halted, no firmware
    thimble flash --board watch_m4 --gdb 127.0.0.1:3333 --verify --reset-run
"""
import json
import time

from ..core.errors import CommandError, UsageError
from ..core.progress import progress_printer


def add_parser(p):
    from ..boards.board import board_names
    from ..firmware.build import FIRMWARE_TARGETS
    p.add_argument("--board", required=True, help=f"board name ({', '.join(board_names())})")
    p.add_argument("--gdb", required=True, metavar="HOST:PORT",
                   help="the GDB server: QEMU -gdb tcp::PORT (thimble emulate --gdb), OpenOCD (3333), "
                        "pyOCD gdbserver (3333), J-Link GDB Server (2331), probe-rs")
    p.add_argument("--elf", default=None,
                   help="firmware ELF (default: the board's link firmware, built on demand as `thimble build`)")
    p.add_argument("--target", default="thm_app_link", choices=FIRMWARE_TARGETS,
                   help="which firmware to build when --elf is not given (default: %(default)s)")
    p.add_argument("--verify", action="store_true",
                   help="compare each segment's CRC after writing (qCRC on the target, else read back)")
    p.add_argument("--reset-run", action="store_true",
                   help="start the firmware from its entry (SP/PC from the vector table on Cortex-M) and detach")
    p.add_argument("--monitor-reset", default=None, metavar="CMD",
                   help="with --reset-run: the server's reset command first, e.g. 'reset halt' (OpenOCD, pyOCD)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for each reply (default 5)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")


def _address(text):
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise UsageError(f"--gdb {text!r}: give HOST:PORT (e.g. 127.0.0.1:3333)")
    return host or "127.0.0.1", int(port)


def run(args):
    from ..boards import load_board
    from ..firmware.build import BuildError, build_firmware
    from ..firmware.elf import check_for_board, entry_state, read_elf
    from ..gdb.load import load
    from ..gdb.rsp import Rsp
    from ..gdb.target import Target
    host, port = _address(args.gdb)
    board = load_board(args.board)                     # BoardError: a usage error
    if args.monitor_reset and not args.reset_run:
        raise UsageError("--monitor-reset goes with --reset-run")
    if args.timeout <= 0:
        raise UsageError("--timeout must be positive")
    if args.elf is None:
        try:
            elf = build_firmware(board.name, target=args.target)
        except BuildError as e:
            raise CommandError(e) from None
    else:
        elf = args.elf
    fw = read_elf(elf)                                 # ElfError: exit 1, nothing written
    check_for_board(fw, board)
    start = entry_state(fw, board) if args.reset_run else None
    say = (lambda m: None) if args.json else (lambda m: print(m, flush=True))
    say(f"{board.name}: {elf}: {len(fw.segments)} segments, {fw.size:,} bytes, entry 0x{fw.entry:x}")
    t0 = time.monotonic()
    with Rsp.connect(host, port, timeout=args.timeout) as rsp:
        target = Target(rsp)
        target.handshake()
        say(f"GDB server {rsp.where}: packet size {target.packet_size}, "
            + (f"memory map of {len(target.memory_map)} regions" if target.memory_map else "no memory map (all RAM)"))
        prog = None if args.json else progress_printer(f"flash {board.name}", unit=" bytes")
        reports = load(target, fw, verify=args.verify, progress=prog)
        started = False
        if args.reset_run:
            if args.monitor_reset:
                said = target.monitor(args.monitor_reset)
                if said is None:
                    raise CommandError(f"{rsp.where} has no monitor command (qRcmd): leave out --monitor-reset")
                say(f"monitor {args.monitor_reset}: {said.strip() or 'done'}")
            target.set_registers(start)
            target.detach()
            started = True
    out = {"board": board.name, "elf": str(elf), "gdb": f"{host}:{port}", "bytes": fw.size,
           "seconds": round(time.monotonic() - t0, 3), "entry": fw.entry, "verified": args.verify,
           "started": started, "naks": rsp.naks, "bad_replies": rsp.bad_replies,
           "segments": [r.as_dict() for r in reports]}
    if args.json:
        print(json.dumps(out))
        return 0
    for r in reports:
        check = f", verified ({r.verified})" if r.verified else ""
        say(f"  0x{r.addr:08x}  {r.size:>9,} bytes  {r.memory:<5}  crc {r.crc:08x}  {r.seconds:.2f} s{check}")
    rate = fw.size / out["seconds"] / 1000 if out["seconds"] > 0 else 0
    say(f"wrote {fw.size:,} bytes in {out['seconds']:.2f} s ({rate:.1f} kB/s)"
        + ("; started at its entry and detached" if started else "; the target stays halted"))
    return 0

