"""Opening the serial line a command was given (--port URL), with errors a
user can act on: pyserial's own say what failed, not what to do about it."""
from ..core.errors import CommandError, UsageError

HINT = "is the board (or `thimble emulate`, which prints its URL) running, and is this its port?"


def open_port(url, **kwargs):
    """serial.serial_for_url(url, **kwargs), or a UsageError for a URL pyserial
    does not take and a CommandError (with a hint) for a line that will not open."""
    import serial
    try:
        return serial.serial_for_url(url, **kwargs)
    except ValueError as e:                       # an unknown protocol, a malformed URL
        raise UsageError(f"--port {url}: {e}") from None
    except (serial.SerialException, OSError) as e:
        why = str(e)
        if "refused" in why.lower():
            why = "nothing listens there (connection refused)"
        elif "timed out" in why.lower():
            why = "no answer to the connection (timed out)"
        raise CommandError(f"cannot open {url}: {why}; {HINT}") from None


def port_line_rate(url, ser):
    """(bytes/s or None, words): the port's line rate when it has one."""
    scheme = url.split("://", 1)[0] if "://" in url else None
    if scheme is None and getattr(ser, "baudrate", None):
        return ser.baudrate / 10, f"{ser.baudrate} baud"
    return None, f"line rate unknown ({scheme})"
