"""Bring-up through a debug probe, on every board: QEMU starts halted with
only its gdbstub (`thimble emulate --gdb`: no firmware, as a new board on a
probe); `thimble flash` loads the link firmware through the GDB remote
protocol, verifies it and starts it; then `thimble deploy` and `thimble run`
answer bit-exact with the host simulator."""
import json

import pytest

from device_harness import TOOLS, tiny_image
from thimble.cli import main as thimble
from thimble.firmware.emulator import Emulator, free_port
from thimble.sim.session import Session

QUERY = "set a timer for ten minutes"


def test_flash_through_the_gdbstub_then_deploy_and_run(board, link_elf, tmp_path, capsys):
    image = tiny_image(tmp_path / "tiny.thm")
    want = Session(image, "c:portable").ask(QUERY, TOOLS[:3])
    gdb = free_port()
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(TOOLS[:3]))
    with Emulator(board, flash=tmp_path / "flash.bin", gdb_port=gdb) as emu, emu.connect(read_timeout=30) as ser:
        assert emu.elf is None                       # QEMU holds no firmware until the probe loads one
        assert thimble(["flash", "--board", board, "--elf", str(link_elf), "--gdb", f"127.0.0.1:{gdb}",
                        "--verify", "--reset-run", "--json"]) == 0
        rep = json.loads(capsys.readouterr().out)
        assert rep["started"] and all(s["verified"] for s in rep["segments"]), rep
        assert ser.read_until(b"\r\n") == f"thimble app {board}: link ready\r\n".encode()
        url = emu.url
        ser.close()                                  # the UART's one client: deploy and run open their own
        assert thimble(["deploy", str(image), "--port", url]) == 0
        capsys.readouterr()
        rc = thimble(["run", "--port", url, "--tools", str(tools), "--json", QUERY])
        got = json.loads(capsys.readouterr().out)
    assert rc == (0 if got["complete"] else 1)            # a random model: its answer may not close
    assert (got["tokens"], got["crc"], got["text"]) == (want["tokens"], want["crc"], want["text"]), got


def test_thimble_emulate_gdb_waits_halted_for_the_probe(tmp_path, capsys):
    """The command line a person types: `thimble emulate --gdb PORT` prints
    where the gdbstub is and waits; `thimble flash` against it starts the
    firmware; Ctrl-C stops it with exit 0."""
    import signal
    import subprocess
    import sys

    import serial
    from toolchain import need_board
    need_board("watch_m4")
    gdb, uart = free_port(), free_port()
    p = subprocess.Popen([sys.executable, "-m", "thimble", "emulate", "--board", "watch_m4", "--gdb", str(gdb),
                          "--port", str(uart), "--flash", str(tmp_path / "flash.bin")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = p.stdout.readline()
        assert f"halted with no firmware, gdbstub on 127.0.0.1:{gdb}" in first, first
        with serial.serial_for_url(f"socket://127.0.0.1:{uart}", timeout=30) as ser:
            assert thimble(["flash", "--board", "watch_m4", "--gdb", f"127.0.0.1:{gdb}", "--reset-run"]) == 0
            assert "started at its entry and detached" in capsys.readouterr().out
            assert ser.read_until(b"\r\n") == b"thimble app watch_m4: link ready\r\n"
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert p.returncode == 0
