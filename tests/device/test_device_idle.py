"""An idle emulated board does not spin a host core: the link firmware waits
for the UART with WFI, woken by the UART's receive interrupt (board data
[uart] rx_irq), and QEMU (-icount shift=0, sleep=on by default) sleeps while
the guest does. Measured from QEMU's own CPU time (/proc/PID/stat) while
it waits for its client, and idle after a link handshake; the link must
then still answer at once (a wrong interrupt would leave the firmware
asleep, or waking only on a timer)."""
import os
import time

import pytest

from thimble.firmware.emulator import Emulator
from thimble.link.client import LinkClient

IDLE_SECONDS = 2.0
MAX_SHARE = 0.20            # of one core; polling the UART costs ~100%


def _cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")    # utime + stime


def _cpu_share(pid, seconds):
    c0, t0 = _cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (_cpu_seconds(pid) - c0) / (time.monotonic() - t0)


@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads QEMU's CPU time from /proc")
def test_idle_board_sleeps_and_wakes_on_the_uart(board, link_elf):
    with Emulator(board, elf=link_elf) as emu:
        waiting = _cpu_share(emu.proc.pid, 1.0)          # QEMU waits for the UART's client
        with emu.connect() as ser:
            link = LinkClient(ser)
            assert link.hello()["board"] == board
            idle = _cpu_share(emu.proc.pid, IDLE_SECONDS)
            t0 = time.monotonic()
            for _ in range(3):
                assert link.hello()["board"] == board
            per_hello = (time.monotonic() - t0) / 3
    assert waiting < MAX_SHARE, f"{board}: QEMU used {waiting:.0%} of a core before the client connected"
    assert idle < MAX_SHARE, f"{board}: QEMU used {idle:.0%} of a core with the link idle"
    # one HELLO round trip takes ~50 ms; a receive interrupt that never
    # arrives leaves each byte to a timer wake-up (SysTick: ~0.6 s)
    assert per_hello < 1.0, f"{board}: a HELLO after idling took {per_hello:.2f} s"
