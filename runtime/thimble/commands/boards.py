"""`thimble boards`: list the boards, or show one board's facts."""
import sys

from ..boards.board import BOARDS_DIR, BoardError, board_names, load_board


def add_parser(p):
    p.add_argument("name", nargs="?", help="a board to show (default: list them all)")


def _mib(n):
    return f"{n / (1 << 20):g} MiB"


def run(args):
    if not args.name:
        names = board_names()
        if not names:
            # an install without its package data: say so rather than list nothing
            print(f"error: no board files in {BOARDS_DIR} (reinstall thimble)", file=sys.stderr)
            return 1
        for name in names:
            b = load_board(name)
            print(f"{b.name:14s} {b.core:12s} {','.join(b.features):10s} "
                  f"{b.qemu_machine:12s} {b.description}")
        return 0
    try:
        b = load_board(args.name)
    except BoardError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{b.name}: {b.description}")
    print(f"  cpu {b.core} {' '.join(b.flags)}; features {', '.join(b.features) or 'none'}")
    print(f"  clock: real {b.real_clock_hz / 1e6:g} MHz, emulated counter {b.emulated_clock_hz / 1e6:g} MHz")
    for r in b.regions.values():
        real = "" if r.real_size == r.size else f" (real chip: {_mib(r.real_size)})"
        print(f"  {r.name:8s} 0x{r.base:08x} {_mib(r.size)}{real}")
    print(f"  uart {b.uart_kind} at 0x{b.uart_base:08x}; flash sector {b.flash_sector_bytes} B")
    print(f"  qemu {b.qemu_binary} -M {b.qemu_machine}"
          f"{' -cpu ' + b.qemu_cpu if b.qemu_cpu else ''} {' '.join(b.qemu_options)}")
    return 0
