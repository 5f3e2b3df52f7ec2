"""Ending thimble in any way leaves no QEMU and no temp files behind.

`thimble emulate` and `thimble demo` run as real processes with TMPDIR set
to a folder of the test's own, so leftovers can be counted: QEMU found by
its pid (read from /proc while thimble ran) and by its command line (the
flash file in that TMPDIR), temp files by listing the folder. And when QEMU
itself dies, the user reads QEMU's own words, not the socket error that
its death caused."""
import os
import select
import signal
import subprocess
import sys
import time

import pytest

from device_harness import ROOT
from toolchain import need_board
from thimble.firmware import emulator as emulate
from thimble.firmware import LINK_TARGET, build_firmware
from thimble.cli import main as thimble
from thimble.firmware.emulator import Emulator, EmulatorError
from thimble.core.lifecycle import child_processes
from thimble.link.client import LinkClient

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def qemus(pids=(), mentioning=None):
    """Live QEMU processes among `pids`, or whose command line mentions `mentioning`."""
    found = {p for p in pids if "qemu-system" in _cmdline(p)}
    if mentioning:
        found |= {int(d) for d in os.listdir("/proc")
                  if d.isdigit() and "qemu-system" in (c := _cmdline(d)) and mentioning in c}
    return sorted(found)


def leftovers(folder):
    return sorted(os.path.relpath(os.path.join(r, n), folder)
                  for r, ds, fs in os.walk(folder) for n in ds + fs)


def start(argv, tmp, marker, timeout=25.0):
    """thimble ARGV in its own TMPDIR, read until a stdout line holds `marker`
    -> (Popen, lines, {child pid: command line} at that moment)."""
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONUNBUFFERED="1")
    # unbuffered: select() must see every line that is not read yet
    p = subprocess.Popen([sys.executable, "-m", "thimble.cli", *argv], cwd=ROOT, env=env, bufsize=0,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines, deadline = [], time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
                raise AssertionError(f"no {marker!r} line within {timeout:g} s: {lines}")
            line = p.stdout.readline().decode(errors="replace")
            if not line:
                raise AssertionError(f"thimble ended before {marker!r}: {lines} {p.stderr.read().decode()}")
            lines.append(line)
            if marker in line:
                return p, lines, child_processes(p.pid)
    except BaseException:
        p.kill()
        p.communicate()
        raise


def finish(p, timeout=20.0):
    """(status, stderr) of a thimble that was signalled; killed if it does not end in time."""
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError(f"thimble did not end within {timeout:g} s of the signal")
    return p.returncode, err.decode(errors="replace")


def assert_clean(kids, tmp):
    time.sleep(0.2)                      # a QEMU that dies with its parent needs a moment to go
    left = qemus(kids, mentioning=str(tmp))
    for pid in left:                     # do not let a failure here keep a core busy
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"QEMU still running: {left}"
    assert leftovers(tmp) == []


@pytest.fixture(scope="module")
def cli_m4():
    """watch_m4's link firmware where the CLI looks for it (not THIMBLE_DEVICE_BUILD), built
    before the clock starts: a first build takes longer than these tests wait for a line."""
    need_board("watch_m4")
    return build_firmware("watch_m4", target=LINK_TARGET)


# (command, what to wait for before the signal): emulate once it serves, demo in the middle of the deploy
EMULATE = (["emulate", "--board", "watch_m4"], "Ctrl-C stops it")
DEMO = (["demo", "--board", "watch_m4"], " bytes (")


@pytest.mark.parametrize("what,sig,status", [
    ("emulate", signal.SIGTERM, 143),
    ("demo", signal.SIGTERM, 143),
    ("emulate", signal.SIGINT, 0),       # Ctrl-C is how `thimble emulate` is meant to be stopped
    ("demo", signal.SIGINT, 130),
])
def test_a_signal_leaves_no_qemu_and_no_temp_files(cli_m4, watch_image, tmp_path, what, sig, status):
    argv, marker = EMULATE if what == "emulate" else DEMO
    if what == "demo":
        argv = argv + ["--image", str(watch_image)]     # skip the conversion: the deploy starts sooner
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    p, _, kids = start(argv, tmp, marker)
    assert qemus(kids), f"no QEMU child of thimble to watch: {kids}"
    assert leftovers(tmp), "the emulator's temp folder should exist while it runs"
    t0 = time.monotonic()
    p.send_signal(sig)
    rc, err = finish(p)
    assert rc == status, err
    assert time.monotonic() - t0 < 15, "thimble took too long to stop"
    assert "Traceback" not in err, err
    assert_clean(kids, tmp)


@pytest.mark.parametrize("sig,status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_while_the_demo_converts_is_a_signal_not_a_failed_conversion(cli_m4, tmp_path, sig, status):
    """Step 1 (watch-tiny -> image) runs in-process: a signal there must end the
    demo as a signal does, with its temp folder removed."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    p, _, kids = start(["demo", "--board", "watch_m4"], tmp, "thimble demo: an emulated")
    p.send_signal(sig)
    rc, err = finish(p)
    assert rc == status and "converting watch-tiny failed" not in err and "Traceback" not in err, err
    assert_clean(kids, tmp)


def test_kill_9_of_thimble_takes_qemu_with_it(cli_m4, tmp_path):
    """No Python runs after SIGKILL; QEMU must still not outlive thimble
    (PR_SET_PDEATHSIG). The temp folder cannot be removed then."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    p, _, kids = start(EMULATE[0], tmp, EMULATE[1])
    p.kill()
    finish(p)
    deadline = time.monotonic() + 5
    while qemus(kids, mentioning=str(tmp)) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = qemus(kids, mentioning=str(tmp))
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []


def test_emulate_says_so_when_its_qemu_dies(cli_m4, tmp_path):
    """`thimble deploy`/`run` talk to `thimble emulate` over a socket and only
    see it close; the emulate window is where the user learns why."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    p, _, kids = start(EMULATE[0], tmp, EMULATE[1])
    (qemu,) = qemus(kids)
    os.kill(qemu, signal.SIGKILL)
    rc, err = finish(p)
    assert rc == 1 and "error: QEMU exited (rc -9): " in err and "Traceback" not in err, err
    assert_clean(kids, tmp)


@pytest.fixture
def own_tmp(tmp_path, monkeypatch):
    """tempfile's folder for an in-process thimble: only this test's files in it."""
    import tempfile
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def qemu_with(monkeypatch, extra):
    """Every QEMU the emulator starts gets `extra` options."""
    real = emulate.qemu_command
    monkeypatch.setattr(emulate, "qemu_command", lambda *a, **k: real(*a, **k) + extra)


MISSING_FILE = (["-device", "loader,file=/nonexistent/thimble.rom,addr=0x0,force-raw=on"],
                "Cannot load specified image /nonexistent/thimble.rom")
BAD_OPTION = (["-no-such-option"], "-no-such-option: invalid option")


@pytest.mark.parametrize("command,extra,says", [
    # QEMU dies after opening its UART socket, as QEMU `virt` does without its ROM: the case
    # users saw as `Connection reset by peer` (emulate itself never gets there: it waits for a client)
    ("demo", *MISSING_FILE),
    ("demo", *BAD_OPTION),              # QEMU dies before opening it
    ("emulate", *BAD_OPTION),
])
def test_qemu_exiting_early_says_why(cli_m4, watch_image, own_tmp, monkeypatch, capsys, command, extra, says):
    qemu_with(monkeypatch, extra)
    argv = ["demo", "--board", "watch_m4", "--image", str(watch_image)] if command == "demo" \
        else ["emulate", "--board", "watch_m4"]
    assert thimble(argv) == 1
    err = capsys.readouterr().err
    assert "error: QEMU exited (rc 1): " in err and says in err, err
    assert "Connection reset" not in err and "Traceback" not in err, err
    assert leftovers(own_tmp) == []


def test_qemu_dying_mid_session_is_reported_as_qemu(m4_elf, own_tmp):
    """Whatever a `with Emulator` block was doing when QEMU died (here: a
    handshake), what comes out says QEMU exited, with its status."""
    with pytest.raises(EmulatorError, match=r"QEMU exited \(rc -9\)"):
        with Emulator("watch_m4", elf=m4_elf) as emu, emu.connect(read_timeout=5) as ser:
            os.kill(emu.proc.pid, signal.SIGKILL)           # not emu.kill(): that is a power cut we asked for
            LinkClient(ser, timeout=1.0).hello()
    assert leftovers(own_tmp) == []


def test_a_failing_emulator_leaves_no_temp_folder(m4_elf, own_tmp, tmp_path):
    bad = tmp_path / "bad.thm"
    bad.write_bytes(b"THMB" + bytes(200))
    with pytest.raises(EmulatorError, match="not a deployable image"):
        Emulator("watch_m4", image=bad, elf=m4_elf)                 # fails in __init__, after its mkdtemp
    with pytest.raises(KeyboardInterrupt):
        with Emulator("watch_m4", elf=m4_elf):                       # Ctrl-C inside the block
            raise KeyboardInterrupt
    assert leftovers(own_tmp) == []
