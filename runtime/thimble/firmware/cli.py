"""`thimble build --board NAME`: build a board's firmware (CMake)."""
import sys

from ..boards.board import BoardError, board_names
from .build import BuildError, build_firmware


def add_parser(p):
    p.add_argument("--board", required=True, metavar="NAME",
                   help=f"board to build for ({', '.join(board_names())})")
    p.add_argument("--build-dir", metavar="DIR", help="CMake build folder (default: build/boards/NAME)")
    p.add_argument("--target", default="thm_conformance", help="firmware target (default: %(default)s)")


def run(args):
    try:
        elf = build_firmware(args.board, args.build_dir, args.target)
    except (BoardError, BuildError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(elf)
    return 0
