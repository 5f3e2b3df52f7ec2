"""QEMU command lines from board data, and running firmware under a timeout."""
import os
import shutil
import subprocess
from dataclasses import dataclass

from ..core.errors import CommandError
from ..core.lifecycle import die_with_parent

EXIT_FAULT = 0x7F              # THM_HAL_EXIT_FAULT: the firmware took an unexpected exception


class QemuError(CommandError, RuntimeError):
    """QEMU is missing, timed out, or the firmware failed."""


def qemu_command(board, elf, loads=(), icount=True, serial="none", gdb_port=None):
    """argv for running `elf` on `board`. loads: (path, address) pairs placed raw
    in guest memory (-device loader, force-raw). icount: one virtual ns per
    instruction, so the board's counter counts instructions exactly.
    gdb_port: the CPU starts halted (-S) behind QEMU's gdbstub on
    127.0.0.1:gdb_port; elf may then be None (a debugger loads one)."""
    argv = [board.qemu_binary, "-M", board.qemu_machine]
    if board.qemu_cpu:
        argv += ["-cpu", board.qemu_cpu]
    argv += list(board.qemu_options)
    # No network: the firmware uses none, and QEMU's default NIC needs a boot
    # ROM on some machines (virt: efi-virtio.rom from ipxe-qemu, which a
    # --no-install-recommends install lacks) and a user-mode network backend.
    argv += ["-nic", "none"]
    argv += ["-nographic", "-monitor", "none", "-serial", serial,
             "-semihosting-config", "enable=on,target=native"]
    if elf is not None:
        argv += ["-kernel", elf]
    elif gdb_port is None:
        raise QemuError("no firmware and no gdbstub: nothing would ever run")
    if gdb_port is not None:
        argv += ["-S", "-gdb", f"tcp:127.0.0.1:{int(gdb_port)}"]
    if icount:
        argv += ["-icount", "shift=0"]
    for path, addr in loads:
        if "," in path:
            raise QemuError(f"loader paths may not contain ',': {path!r}")
        argv += ["-device", f"loader,file={path},addr=0x{addr:x},force-raw=on"]
    return argv


def qemu_exit_message(returncode, output, lines=20):
    """What to tell a user whose QEMU died: its exit status and the last lines
    it printed (a missing ROM, a bad option), not the socket error its
    death caused on our side."""
    tail = [l for l in (output or "").strip().splitlines() if l.strip()][-lines:]
    text = "\n".join(tail)[-2000:] or "(it printed nothing)"
    return f"QEMU exited (rc {returncode}): {text}"


def start_qemu(argv, **popen_kwargs):
    """Popen for a long-running QEMU that dies with thimble even when thimble
    is killed outright (see thimble.core.lifecycle); its owner still stops it."""
    return subprocess.Popen(argv, preexec_fn=die_with_parent(), **popen_kwargs)


@dataclass
class QemuRun:
    argv: list
    returncode: int
    stdout: str
    stderr: str


def run_qemu(board, elf, loads=(), timeout=60.0, icount=True, cwd=None, serial="stdio"):
    """Run firmware to its semihosting exit; the exit code comes back as returncode.
    UART 0 goes to stdout (serial="stdio"). Raises QemuError if QEMU is missing
    or the run exceeds `timeout` seconds."""
    if shutil.which(board.qemu_binary) is None:
        raise QemuError(f"{board.qemu_binary} not found (tools/bootstrap.sh installs it)")
    if not os.path.isfile(elf):
        raise QemuError(f"no firmware at {elf} (run `thimble build --board {board.name}`)")
    argv = qemu_command(board, elf, loads, icount=icount, serial=serial)
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           errors="replace", timeout=timeout, cwd=cwd,
                           preexec_fn=die_with_parent())
    except subprocess.TimeoutExpired as e:
        raise QemuError(f"{board.name}: QEMU ran past {timeout:g} s: {' '.join(argv)}") from e
    return QemuRun(argv, p.returncode, p.stdout, p.stderr)
