"""`thimble build --board NAME`: build a board's firmware (CMake)."""
import sys

from ..boards.board import BoardError, board_names
from ..firmware.build import FIRMWARE_TARGETS, BuildError, build_firmware


def add_parser(p):
    p.add_argument("--board", required=True, metavar="NAME",
                   help=f"board to build for ({', '.join(board_names())})")
    p.add_argument("--build-dir", metavar="DIR", help="CMake build folder (default: build/boards/NAME)")
    p.add_argument("--target", default="thm_conformance", choices=FIRMWARE_TARGETS,
                   help="firmware: thm_conformance (kernel tests), thm_app_link (the serial link app), "
                        "thm_flash_test (the flash driver's tests) (default: %(default)s)")


def run(args):
    try:
        elf = build_firmware(args.board, args.build_dir, args.target)
    except BoardError:
        raise                                   # a usage error (exit 2)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(elf)
    return 0
