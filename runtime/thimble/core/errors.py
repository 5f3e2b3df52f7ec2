"""The two ways a thimble command fails, and how the CLI reports them.

Every command reports a failure the same way: one `error: ...` line on
stderr (more lines only where they carry a tool's own output, such as QEMU's
or the compiler's) and an exit status that says whose the fault is:

  2  the command line cannot be used as given: a bad option or argument, an
     unknown board, a file it names that is missing, unreadable or not what
     the option takes (an image that does not validate, a tools file that is
     not a tools list), a prompt over a limit, an output folder that is not
     there. Checked before any work starts, so nothing was done.
  1  the work failed: a build, QEMU, the serial line, the device's answer,
     writing the output.

argparse's own errors (unknown option, missing argument) exit 2 as well. Commands raise these (or
return the status after printing with `report`); `thimble.cli.main` turns
them into the line and the status, so no user error ends in a traceback.
"""
import sys

EXIT_RUNTIME = 1
EXIT_USAGE = 2


class ThimbleError(Exception):
    """A failure a user can act on; its message says what was wrong."""
    exit_code = EXIT_RUNTIME


class UsageError(ThimbleError):
    """The command line asks for something that cannot be: exit 2."""
    exit_code = EXIT_USAGE


class CommandError(ThimbleError):
    """The work failed (build, QEMU, link, device): exit 1."""
    exit_code = EXIT_RUNTIME


def report(message, code=EXIT_RUNTIME):
    """Print `error: message` on stderr and return `code` (for `return report(...)`)."""
    print(f"error: {message}", file=sys.stderr)
    return code
