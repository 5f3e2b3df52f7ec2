"""The emulated model flash (runtime/device/flash), driven byte by byte
through the test-only firmware thm_flash_test (runtime/device/app/
thm_flash_test.c): NOR semantics, bounds, persistence across a restart of
QEMU, and a power cut in the middle of a stream of writes leaving the file
as real flash would be left: everything acknowledged is there, then at most
a partly written chunk, then erased bytes."""
import os

import numpy as np

from device_harness import FL_ERASE, FL_PROGRAM, FL_READ, flash_cmd, flash_reply, flash_request
from thimble.boards.board import load_board
from thimble.firmware.emulator import Emulator


def test_flash_is_nor_bounded_and_persists(board, flash_elf, tmp_path):
    sector = load_board(board).flash_sector_bytes
    size = load_board(board).flash_bytes
    path = tmp_path / "flash.bin"
    pattern = bytes(np.random.default_rng(1).integers(0, 255, 4096, dtype=np.uint8))
    with Emulator(board, flash=path, elf=flash_elf) as emu:
        assert os.path.getsize(path) == size and path.read_bytes()[:16] == b"\xff" * 16   # created erased
        ser = emu.connect()
        assert flash_cmd(ser, FL_PROGRAM, sector, pattern) == (0, b"")
        assert flash_cmd(ser, FL_READ, sector, 4096) == (0, pattern)
        assert flash_cmd(ser, FL_PROGRAM, 0, b"\xf0\x0f") == (0, b"")
        assert flash_cmd(ser, FL_PROGRAM, 0, b"\x0f\x0f") == (0, b"")      # programming only clears bits
        assert flash_cmd(ser, FL_READ, 0, 2) == (0, b"\x00\x0f")
        assert flash_cmd(ser, FL_ERASE, 1, sector)[0] == -1                 # not on a sector boundary
        assert flash_cmd(ser, FL_ERASE, size, sector)[0] == -1              # past the end
        assert flash_cmd(ser, FL_PROGRAM, size - 1, b"ab")[0] == -1
        assert flash_cmd(ser, FL_READ, size - 1, 2)[0] == -1
        assert flash_cmd(ser, 99, 0, 0)[0] == -10
        assert flash_cmd(ser, FL_PROGRAM, 0, bytes(4097))[0] == -10          # over the service's chunk
        ser.close()
    disk = path.read_bytes()
    assert disk[sector:sector + 4096] == pattern and disk[:2] == b"\x00\x0f"
    with Emulator(board, flash=path, elf=flash_elf) as emu:                  # a new QEMU on the same flash
        ser = emu.connect()
        assert flash_cmd(ser, FL_READ, sector, 4096) == (0, pattern)
        assert flash_cmd(ser, FL_ERASE, 0, sector) == (0, b"")
        assert flash_cmd(ser, FL_READ, 0, 2) == (0, b"\xff\xff")
        ser.close()
    assert path.read_bytes()[:sector] == b"\xff" * sector


def test_power_cut_mid_stream_leaves_a_prefix(board, flash_elf, tmp_path):
    path = tmp_path / "flash.bin"
    chunk, n = 1024, 48
    sector = load_board(board).flash_sector_bytes
    span = (chunk * n + sector - 1) // sector * sector
    data = bytes(np.random.default_rng(2).integers(0, 255, chunk * n, dtype=np.uint8))   # never 0xFF
    with Emulator(board, flash=path, elf=flash_elf) as emu:
        ser = emu.connect()
        assert flash_cmd(ser, FL_ERASE, 0, span)[0] == 0
        ser.write(b"".join(flash_request(FL_PROGRAM, i * chunk, data[i * chunk:(i + 1) * chunk]) for i in range(n)))
        acked = 0
        while acked < 3:
            assert flash_reply(ser)[0] == 0
            acked += 1
        emu.kill()                                   # power cut while the rest is still arriving
        ser.close()
    disk = path.read_bytes()[:chunk * n]
    done = next((i for i in range(len(disk)) if disk[i] != data[i]), len(disk))
    assert done >= acked * chunk, "an acknowledged write was lost"
    assert done < len(disk), "the cut came after every write: the test proved nothing"
    assert disk[done:] == b"\xff" * (len(disk) - done), "bytes after the cut are not erased"

