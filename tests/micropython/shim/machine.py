"""The test side's only code for the MicroPython client: `machine.UART` on
CPython, a pyserial port (socket:// to an emulated board's UART), and the
MicroPython `time` functions the client calls, added to CPython's `time`.
Like a real UART, a line whose far end went away (QEMU killed: a device
reset) reads as silence, not as an error."""
import time as _time

import serial

if not hasattr(_time, "ticks_ms"):
    _time.ticks_ms = lambda: int(_time.monotonic() * 1000)          # type: ignore[attr-defined]
    _time.ticks_add = lambda t, d: t + d                             # type: ignore[attr-defined]
    _time.ticks_diff = lambda a, b: a - b                            # type: ignore[attr-defined]
    _time.sleep_ms = lambda ms: _time.sleep(ms / 1000)               # type: ignore[attr-defined]


class UART:
    def __init__(self, url, baudrate=115200):
        self._s = serial.serial_for_url(url, baudrate=baudrate, timeout=0)
        self._dead = False

    def any(self):
        if self._dead:
            return 0
        try:
            return self._s.in_waiting
        except (serial.SerialException, OSError):
            self._dead = True
            return 0

    def read(self, n=-1):
        try:
            return self._s.read(n) or None
        except (serial.SerialException, OSError):
            self._dead = True
            return None

    def write(self, data):
        if self._dead:
            return 0
        try:
            return self._s.write(bytes(data))
        except (serial.SerialException, OSError):
            self._dead = True
            return 0

    def deinit(self):
        self._s.close()
