"""The `thimble` command. Each verb is one module in thimble/commands/ with an
`add_parser(parser)` / `run(args)` pair, so this file only lists them."""
import argparse
import importlib
import sys

from . import __version__
from .core.errors import ThimbleError, report
from .core.lifecycle import EXIT_SIGTERM, Terminated, sigterm_raises

# (verb, one-line help): the module is thimble.commands.<verb>
COMMANDS = [
    ("demo", "the main job: an emulated watch receives a model over serial and answers a prompt"),
    ("convert", "checkpoint -> calibrated int8 .thm image (with its tokenizer)"),
    ("sim", "run an image on the host, bit-exact with the boards; prints the tool calls"),
    ("eval", "fidelity of an image to its float checkpoint: per-layer cosine, top-1, tool calls"),
    ("bench", "measure kernels, the model or the link; writes JSON and a table"),
    ("plan", "flash and arena an image needs on a board, per layer; refuses what does not fit"),
    ("boards", "list the boards (boards/*.toml) or show one board's facts"),
    ("build", "build a board's firmware with CMake (kernels, HAL, conformance firmware)"),
    ("emulate", "boot the watch's firmware in QEMU, its UART on a local TCP port"),
    ("flash", "load a board's firmware through a GDB server (QEMU, OpenOCD, pyOCD, J-Link), verify, run"),
    ("selftest", "the bring-up checklist over the serial link: kernels bit-exact, memory, flash, UART, slots"),
    ("run", "ask a board (serial port or emulator) a question; prints the tool call and counters"),
    ("deploy", "send a .thm image to a board over the serial link (resumes, verifies, A/B commit)"),
    ("pack-tools", "tools JSON -> the packed tools a MicroPython client sends (clients/micropython)"),
]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="thimble",
        description="thimble: int8 inference of Needle-class tool-calling models on ARM "
                    "watches and glasses (host tools, simulator, boards under QEMU).")
    parser.add_argument("--version", action="version", version=f"thimble {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS:
        mod = importlib.import_module(f"thimble.commands.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=help_text, description=help_text)
        mod.add_parser(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        # SIGTERM as an exception: the commands' `with`/`finally` blocks then stop QEMU and
        # remove temp folders, which the default SIGTERM (exit at once) never lets them do
        with sigterm_raises():
            return args._run(args) or 0
    except Terminated:
        print("terminated", file=sys.stderr)
        return EXIT_SIGTERM
    except ThimbleError as e:
        return report(e, e.exit_code)
    except OSError as e:
        # the last line of defence: a file or socket the command did not check itself
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        return report(f"{where}{e.strerror or e}", 1)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
