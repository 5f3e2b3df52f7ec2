"""The watch's application firmware (the
app behind the serial link server, thm_app_link) in QEMU, its UART on a
local TCP port (pyserial URL socket://127.0.0.1:PORT): `thimble deploy` and
`thimble run` talk to it.

The board's model flash is a host file (thm_flash.bin semantics in
runtime/device/flash/thm_flash.h): QEMU's loader places it in the weights
region at reset and the firmware writes every erase and program through to
it, so the flash survives a restart of QEMU, and a QEMU killed mid-write
leaves it as a power cut leaves real flash.

    with Emulator("watch_m4", image="watch.thm") as emu:   # image: factory-programmed
        ser = emu.connect()                                  # a pyserial port

The factory places an image committed in slot 0 behind a journal that says
so, as a finished deploy leaves it (runtime/thimble/link/factory.py).
"""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

from ..boards.board import BoardError, load_board
from ..core.errors import CommandError
from .build import LINK_TARGET, build_firmware
from .qemu import qemu_command, qemu_exit_message, start_qemu


class EmulatorError(CommandError, RuntimeError):
    """QEMU could not start, or the flash file or image is unusable."""


def free_port():
    """A TCP port free right now on 127.0.0.1 (another process may still take it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_flash(path, board, image=None):
    """Create an erased flash file (0xFF) of the board's flash size if missing
    and check its size; or, given `image`, factory-program it: the whole file
    rewritten (a factory starts from erased flash) with the image committed
    in slot 0."""
    size = board.flash_bytes
    if image is not None:
        from ..link.factory import FactoryError, write_board_flash
        with open(image, "rb") as f:
            data = f.read()
        try:
            write_board_flash(path, data, board)
        except FactoryError as e:
            raise EmulatorError(f"{image}: {board.name}'s flash: {e}") from None
        return
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(b"\xff" * size)
    have = os.path.getsize(path)
    if have != size:
        raise EmulatorError(f"{path} is {have} bytes; {board.name}'s model flash is {size}")


class Emulator:
    """One board in QEMU under -icount shift=0, UART on 127.0.0.1:port,
    running the link firmware (deploy, then RUN); elf: another build of it,
    or a test-only firmware that shares its flash (thm_flash_test).
    flash: the flash file (kept; created erased if missing); None: a fresh
    one in a temporary folder. image: factory-programmed before boot,
    committed in slot 0 of the journaled slots (a deploy of it then says
    "same"). firmware: "link", the only one (kept for callers that name it).

    The Emulator owns its QEMU and its temporary folder (the fresh flash,
    the log): leaving the `with` block, or close(), stops QEMU and removes
    the folder whatever ended the block, and QEMU dies with this process if
    it is killed outright. An error leaving the block while QEMU has died
    on its own becomes EmulatorError("QEMU exited (rc N): <its output>"),
    since the socket error its death caused says nothing useful."""

    def __init__(self, board, *, port=None, flash=None, image=None, elf=None, log=None, firmware="link",
                 gdb_port=None):
        # set first, so close() works whatever point __init__ reached
        self._tmp = None
        self._log = None
        self._killed = False
        self.proc = None
        if firmware != "link":
            raise EmulatorError(f"firmware must be 'link' (the serial link server), not {firmware!r}")
        try:
            self.board = load_board(board)
        except BoardError as e:
            raise EmulatorError(str(e)) from None
        self.port = port or free_port()
        self.url = f"socket://127.0.0.1:{self.port}"
        # gdb_port: QEMU starts halted behind its gdbstub with no firmware loaded
        # (`thimble flash` puts one there), as a board on a debug probe
        self.gdb_port = gdb_port
        self._tmp = tempfile.mkdtemp(prefix="thm_emu_")
        try:
            self.flash = os.path.abspath(flash) if flash else os.path.join(self._tmp, "flash.bin")
            if "," in self.flash:
                raise EmulatorError(f"flash path may not contain ',' (QEMU option syntax): {self.flash}")
            prepare_flash(self.flash, self.board, image)
            # the firmware opens thm_flash.bin in QEMU's working folder
            os.symlink(self.flash, os.path.join(self._tmp, "thm_flash.bin"))
            self.elf = None if gdb_port else (elf or build_firmware(self.board.name, target=LINK_TARGET))
            self.log_path = log or os.path.join(self._tmp, "qemu.log")
        except BaseException:
            # no `with` block owns the folder yet: a failed build or a bad image would leak it
            # (a fresh flash is the board's full size, up to 64 MiB)
            self.close()
            raise

    def argv(self):
        # wait=on: the guest starts when the UART's client connects, so no byte it
        # prints is lost. Behind the gdbstub the debugger starts it instead, and
        # QEMU must not block before the gdbstub listens.
        serial = f"tcp:127.0.0.1:{self.port},server=on,wait={'off' if self.gdb_port else 'on'}"
        return qemu_command(self.board, self.elf, [(self.flash, self.board.regions["weights"].base)],
                            icount=True, serial=serial, gdb_port=self.gdb_port)

    def start(self):
        if shutil.which(self.board.qemu_binary) is None:
            raise EmulatorError(f"{self.board.qemu_binary} not found (tools/bootstrap.sh installs it)")
        self._killed = False
        try:
            self._log = open(self.log_path, "ab")
            self.proc = start_qemu(self.argv(), cwd=self._tmp, stdin=subprocess.DEVNULL,
                                   stdout=self._log, stderr=subprocess.STDOUT)
            self._wait_listening()
        except BaseException:
            self.stop()
            raise
        return self

    def _listening(self):
        if not self.gdb_port:
            return "waiting for connection" in self.log()
        try:                  # the gdbstub opens after the UART: a connection to it means both are up
            with socket.create_connection(("127.0.0.1", self.gdb_port), timeout=0.2):
                return True
        except OSError:
            return False

    def _wait_listening(self, timeout=20.0):
        """Until QEMU says it waits for the UART's client (connecting earlier is
        refused), or, behind the gdbstub, until the gdbstub accepts."""
        deadline = time.monotonic() + timeout
        while not self._listening():
            if self.proc.poll() is not None:
                raise EmulatorError(qemu_exit_message(self.proc.returncode, self.log()))
            if time.monotonic() > deadline:
                raise EmulatorError(f"QEMU did not open 127.0.0.1:{self.port} within {timeout:g} s")
            time.sleep(0.02)

    def connect(self, timeout=10.0, read_timeout=120.0):
        """A pyserial port on the UART (QEMU starts the guest when it connects)."""
        import serial
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise EmulatorError(qemu_exit_message(self.proc.returncode, self.log()))
            try:
                return serial.serial_for_url(self.url, timeout=read_timeout)
            except serial.SerialException:
                if time.monotonic() > deadline:
                    raise EmulatorError(f"no UART at {self.url} after {timeout:g} s") from None
                time.sleep(0.05)

    def exited(self, wait=0.0):
        """EmulatorError("QEMU exited (rc N): ...") if QEMU ended by itself (not by
        kill() or stop()), else None. wait: seconds to give a QEMU that is
        still dying (its socket closes before its process ends)."""
        if self.proc is None or self._killed:
            return None
        try:
            rc = self.proc.wait(wait) if wait else self.proc.poll()
        except subprocess.TimeoutExpired:
            return None
        return None if rc is None else EmulatorError(qemu_exit_message(rc, self.log()))

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def kill(self):
        """Power cut: SIGKILL, no chance to finish a write."""
        self._killed = True
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout=5.0):
        """Stop QEMU (SIGTERM, SIGKILL after `timeout` s) and close the log; the
        folder stays, so start() can boot the same flash again."""
        proc = self.proc
        try:
            if proc is not None and proc.poll() is None:
                self._killed = True
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            # also reached when a second Ctrl-C interrupts the wait above
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            if self._log is not None:
                self._log.close()
                self._log = None

    def close(self):
        """stop(), then remove the temporary folder (the flash too, unless it is a --flash file)."""
        try:
            self.stop()
        finally:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.close()            # __exit__ does not run when __enter__ fails
            raise

    def __exit__(self, exc_type, exc, tb):
        died = None
        try:
            if isinstance(exc, Exception) and not isinstance(exc, EmulatorError):
                died = self.exited(wait=1.0)
        finally:
            self.close()
        if died is not None:
            raise died from exc
