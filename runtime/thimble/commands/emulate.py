"""`thimble emulate --board NAME`: the board's link firmware in QEMU, its UART
on a local TCP port (thimble.firmware.emulator), until Ctrl-C.

`--gdb PORT`: no firmware; QEMU starts halted behind its gdbstub on
127.0.0.1:PORT, as a new board waits on a debug probe, and `thimble flash
--gdb 127.0.0.1:PORT --reset-run` puts the firmware there and starts it."""
import os
import sys

from ..boards.board import board_names, load_board
from ..core.errors import UsageError
from ..firmware.build import BuildError
from ..firmware.emulator import Emulator, EmulatorError
from ..firmware.qemu import QemuError, qemu_exit_message
from .args import input_file, output_file


def add_parser(p):
    p.add_argument("--board", required=True, help=f"board name ({', '.join(board_names())})")
    p.add_argument("--port", type=int, default=None, help="TCP port for the UART (default: a free one)")
    p.add_argument("--flash", default=None,
                   help="model flash file, kept across runs (created erased if missing; default: a fresh one)")
    p.add_argument("--gdb", type=int, default=None, metavar="PORT",
                   help="start halted with no firmware, QEMU's gdbstub on 127.0.0.1:PORT: `thimble flash` loads it")
    p.add_argument("--image", default=None,
                   help="factory-program this .thm image into the flash first: the whole flash rewritten "
                        "with it committed in slot 0, as a finished `thimble deploy` leaves it")


def run(args):
    check_emulator_args(args)
    try:
        emu = Emulator(args.board, port=args.port, flash=args.flash, image=args.image,
                       gdb_port=getattr(args, "gdb", None))
    except (EmulatorError, BuildError, QemuError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    try:
        return _serve(emu)
    except (EmulatorError, QemuError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        emu.close()         # on any exit: an error, Ctrl-C, or SIGTERM (thimble.cli raises Terminated)


def check_emulator_args(args):
    """Usage errors (exit 2) of the options emulate and demo share, before anything starts."""
    board = load_board(args.board)                        # BoardError: a usage error
    for opt in ("port", "gdb"):
        v = getattr(args, opt, None)
        if v is not None and not 1 <= v <= 65535:
            raise UsageError(f"--{opt} must be 1..65535, not {v}")
    if args.image is not None:
        from ..link.client import LinkError, check_image
        input_file(args.image, "image")
        try:
            with open(args.image, "rb") as f:
                check_image(f.read())
        except LinkError as e:
            raise UsageError(f"{args.image}: {e}") from None
    if args.flash is not None and not os.path.exists(args.flash):
        output_file(args.flash, "--flash")
    elif args.flash is not None:
        if not os.path.isfile(args.flash):
            raise UsageError(f"--flash {args.flash}: not a file")
        have, size = os.path.getsize(args.flash), board.flash_bytes
        if have != size and args.image is None:          # --image rewrites the whole file
            raise UsageError(f"--flash {args.flash} is {have:,} bytes; {board.name}'s model flash is {size:,}")


def _serve(emu):
    emu.start()
    if emu.gdb_port:
        print(f"{emu.board.name}: UART on 127.0.0.1:{emu.port}; halted with no firmware, gdbstub on "
              f"127.0.0.1:{emu.gdb_port} (thimble flash --board {emu.board.name} --gdb 127.0.0.1:{emu.gdb_port} "
              "--verify --reset-run)")
    else:
        print(f"{emu.board.name}: UART on 127.0.0.1:{emu.port}, the serial link (the board starts when you connect)")
    print(f"pyserial URL: {emu.url}")
    print(f"flash: {emu.flash}")
    try:
        # inside the try: a Ctrl-C that follows the line at once is still a stop, not an error
        print("Ctrl-C stops it", flush=True)
        emu.proc.wait()
    except KeyboardInterrupt:
        return 0            # Ctrl-C is how an emulator is meant to be stopped
    raise emu.exited() or EmulatorError(qemu_exit_message(emu.proc.returncode, emu.log()))
