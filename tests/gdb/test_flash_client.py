"""thimble's GDB remote-protocol client and `thimble flash` against a
scripted server (fake_gdb.py) for what QEMU's gdbstub never sends: a memory
map with flash (vFlashErase / vFlashWrite / vFlashDone), qCRC, qRcmd; and
the faults: a NAK, a reply with a bad checksum, a lost connection, a target
that refuses a write, a server that is not there or answers garbage. Every
refusal is checked to have written nothing. The whole path on the three
emulated boards is tests/device/test_device_gdb_flash.py."""
import json
import socket
import struct

import pytest

from elf_file import fake_board_toml, make_elf
from fake_gdb import FLASH, RAM, FakeGdb, xcrc32
from thimble.cli import main as thimble
from thimble.gdb.load import LoadError, load
from thimble.gdb.rsp import Rsp, RspError, decode, escape, frame
from thimble.gdb.target import Target, TargetError, crc32_gdb
from thimble.firmware.elf import parse_elf

BOARD = "fakewatch"
SP, RESET = RAM[0] + 0x8000, FLASH[0] + 0x101


def firmware(board=BOARD, flash_bytes=20000, ram_bytes=300, **kw):
    """A Cortex-M firmware image: vector table + code in flash, .data's load image in RAM."""
    code = bytearray(struct.pack("<II", SP, RESET) + bytes(range(256)) * (flash_bytes // 256 + 1))[:flash_bytes]
    ident = f"thimble-firmware;board={board};\0".encode()
    code[512:512 + len(ident)] = ident
    code[1000:1010] = b"$#}*$#}*}}"                         # bytes the binary packets must escape
    data = bytes((i * 7) & 0xFF for i in range(ram_bytes))
    return make_elf([(FLASH[0], bytes(code), None), (RAM[0] + 0x100, data, ram_bytes + 64)], RESET, **kw)


@pytest.fixture
def board_file(tmp_path):
    p = tmp_path / f"{BOARD}.toml"
    p.write_text(fake_board_toml(BOARD, FLASH[0], FLASH[1], RAM[0], RAM[1]))
    return str(p)


@pytest.fixture
def elf(tmp_path):
    p = tmp_path / "fw.elf"
    p.write_bytes(firmware())
    return p


def target_for(fake):
    rsp = Rsp.connect("127.0.0.1", fake.port, timeout=2.0)
    t = Target(rsp)
    t.handshake()
    return t


def test_framing_escapes_and_run_length():
    assert frame(b"OK") == b"$OK#9a"
    assert escape(b"a#b$c}d*") == b"a}\x03b}\x04c}]d}\x0a"
    assert decode(escape(b"a#b$c}d*")) == b"a#b$c}d*"
    assert decode(b"0* ") == b"0000"                       # ' ' is 32: 3 more copies
    with pytest.raises(RspError):
        decode(b"*!")
    assert crc32_gdb(b"123456789") == xcrc32(b"123456789") == 0x0376E6E7


def test_load_writes_flash_through_vflash_and_ram_through_x_then_verifies_with_qcrc(elf):
    fw = parse_elf(elf.read_bytes())
    with FakeGdb() as fake:
        t = target_for(fake)
        assert t.memory_map == [("flash", FLASH[0], FLASH[1], FLASH[2]), ("ram", RAM[0], RAM[1], 0)]
        assert t.registers["pc"] == (15, 32) and t.registers["xpsr"] == (25, 32)
        reports = load(t, fw, verify=True)
        t.rsp.close()
    assert [(r.memory, r.verified) for r in reports] == [("flash", "qCRC"), ("ram", "qCRC")]
    for s in fw.segments:
        assert fake.read(s.addr, len(s.data)) == s.data
    erases = [p for p in fake.packets if p.startswith(b"vFlashErase")]
    assert erases == [b"vFlashErase:%x,%x" % (FLASH[0], 2 * FLASH[2])]    # whole blocks over 20,000 bytes
    assert b"vFlashDone" in fake.packets and any(p.startswith(b"X") for p in fake.packets)


def test_a_nak_and_a_reply_with_a_bad_checksum_are_sent_again(elf):
    fw = parse_elf(elf.read_bytes())
    with FakeGdb(nak_first=(b"vFlashWrite", b"X", b"qCRC"), bad_reply=(b"qCRC", b"?")) as fake:
        t = target_for(fake)
        load(t, fw, verify=True)
        assert t.rsp.naks >= 3 and t.rsp.bad_replies >= 2
        t.rsp.close()
    for s in fw.segments:
        assert fake.read(s.addr, len(s.data)) == s.data


def test_hex_writes_where_the_server_has_no_binary_ones_and_read_back_without_qcrc(elf):
    fw = parse_elf(elf.read_bytes())
    with FakeGdb(memory_map=False, x_packets=False, qcrc=False) as fake:
        t = target_for(fake)
        # no memory map: everything is RAM to the client, and the fake's RAM
        # refuses the flash segment: keep only the RAM one here
        fw = fw.__class__(fw.path, fw.elf_class, fw.machine, fw.entry, fw.segments[1:], fw.ident)
        reports = load(t, fw, verify=True)
        t.rsp.close()
    assert reports[0].verified == "read back" and any(p.startswith(b"M") for p in fake.packets)
    assert fake.read(fw.segments[0].addr, len(fw.segments[0].data)) == fw.segments[0].data


def test_a_lost_connection_is_an_error_not_a_hang(elf):
    fw = parse_elf(elf.read_bytes())
    with FakeGdb(close_on=b"vFlashWrite") as fake:
        t = target_for(fake)
        with pytest.raises(RspError, match="closed the connection|connection failed"):
            load(t, fw)
        t.rsp.close()


def test_a_target_that_refuses_a_write(elf):
    fw = parse_elf(elf.read_bytes())
    with FakeGdb(refuse=(b"vFlashErase",)) as fake:
        t = target_for(fake)
        with pytest.raises(TargetError, match="refused erasing flash 0x8000000.*E01"):
            load(t, fw)
        t.rsp.close()
    assert fake.writes == 0


def test_verify_finds_a_flash_that_drops_a_bit(elf):
    fw = parse_elf(elf.read_bytes())
    with FakeGdb(flash_drops_bit=FLASH[0] + 9) as fake:          # a byte whose low bit is 1 in the image
        t = target_for(fake)
        with pytest.raises(LoadError, match="verify: 20,000 bytes at 0x8000000 read back with CRC"):
            load(t, fw, verify=True)
        t.rsp.close()


def test_a_segment_outside_the_memory_map_writes_nothing(tmp_path):
    fw = parse_elf(make_elf([(FLASH[0], b"\x01" * 64, None), (0x30000000, b"\x02" * 64, None)], FLASH[0] + 1))
    with FakeGdb() as fake:
        t = target_for(fake)
        with pytest.raises(LoadError, match="outside the target's memory map.*nothing written"):
            load(t, fw)
        t.rsp.close()
    assert fake.writes == 0 and not any(p[:1] in b"XM" or p.startswith(b"vFlash") for p in fake.packets)


def test_thimble_flash_verifies_resets_through_the_monitor_starts_and_reports(board_file, elf, capsys):
    with FakeGdb() as fake:
        rc = thimble(["flash", "--board", board_file, "--elf", str(elf), "--gdb", f"127.0.0.1:{fake.port}",
                      "--verify", "--reset-run", "--monitor-reset", "reset halt", "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    rep = json.loads(out)
    assert rep["started"] and rep["verified"] and [s["verified"] for s in rep["segments"]] == ["qCRC", "qCRC"]
    assert rep["segments"][0]["memory"] == "flash" and rep["bytes"] == 20300
    assert any(p.startswith(b"qRcmd,") and bytes.fromhex(p[6:].decode()) == b"reset halt" for p in fake.packets)
    assert fake.regs == {13: SP, 15: RESET & ~1, 25: 1 << 24} and fake.detached


def test_thimble_flash_prints_a_report_and_progress(board_file, elf, capsys):
    with FakeGdb() as fake:
        assert thimble(["flash", "--board", board_file, "--elf", str(elf), "--gdb", f"127.0.0.1:{fake.port}"]) == 0
    cap = capsys.readouterr()
    assert "0x08000000" in cap.out and "flash" in cap.out and "the target stays halted" in cap.out
    assert "100%" in cap.err and not fake.detached


def _refused(argv, capsys, fake=None, match=""):
    rc = thimble(argv)
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert match in err, err
    if fake is not None:
        assert fake.writes == 0 and not any(p[:1] in b"XM" or p.startswith(b"vFlash") for p in fake.packets)
    return err


@pytest.mark.parametrize("make, match", [
    (lambda: firmware(board="watch_m55"), "firmware built for watch_m55, not fakewatch"),
    (lambda: firmware(cls=2, machine=183), "a 64-bit AArch64 ELF; fakewatch (cortex-m4) runs 32-bit ARM"),
    (lambda: firmware()[:3000], "runs past the end of the file (3,000 bytes; truncated?)"),
    (lambda: firmware()[:40], "shorter than an ELF header"),
    (lambda: b"MZ" + bytes(100), "not an ELF file"),
    (lambda: make_elf([(FLASH[0], b"\x00" * 64, None)], FLASH[0] + 1), "not a thimble firmware"),
    (lambda: make_elf([(0x30000000, b"thimble-firmware;board=fakewatch;\0", None)], 0), "outside fakewatch's memory"),
    (lambda: firmware(e_type=1), "not an executable"),
])
def test_a_bad_elf_is_refused_before_the_server_is_asked_anything(board_file, tmp_path, capsys, make, match):
    p = tmp_path / "bad.elf"
    p.write_bytes(make())
    with FakeGdb() as fake:
        _refused(["flash", "--board", board_file, "--elf", str(p), "--gdb", f"127.0.0.1:{fake.port}"],
                 capsys, fake, match)
    assert fake.packets == []


def test_a_gdb_server_that_is_not_there(board_file, elf, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]                  # bound, not listening: connection refused
        _refused(["flash", "--board", board_file, "--elf", str(elf), "--gdb", f"127.0.0.1:{port}"], capsys,
                 match=f"no GDB server at 127.0.0.1:{port}")


@pytest.mark.parametrize("garbage, match", [(b"hello", "not a stop reason"), (b"E01", "refused qSupported")])
def test_a_gdb_server_that_answers_garbage(board_file, elf, capsys, garbage, match):
    with FakeGdb(garbage=garbage) as fake:
        _refused(["flash", "--board", board_file, "--elf", str(elf), "--gdb", f"127.0.0.1:{fake.port}",
                  "--timeout", "1"], capsys, fake, match)


def test_a_server_that_never_speaks_the_protocol(board_file, elf, capsys):
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        port = ls.getsockname()[1]
        import threading

        def babble():
            c, _ = ls.accept()
            with c:
                c.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
                c.recv(1024)
                import time
                time.sleep(2)
        th = threading.Thread(target=babble, daemon=True)
        th.start()
        _refused(["flash", "--board", board_file, "--elf", str(elf), "--gdb", f"127.0.0.1:{port}",
                  "--timeout", "0.5"], capsys, match="did not acknowledge")
        th.join(5)


def test_usage_errors_exit_2(board_file, elf, capsys):
    assert thimble(["flash", "--board", board_file, "--elf", str(elf), "--gdb", "nohost"]) == 2
    assert thimble(["flash", "--board", board_file, "--elf", str(elf), "--gdb", "h:1", "--monitor-reset", "x"]) == 2
    assert thimble(["flash", "--board", "no_such_board", "--gdb", "h:1"]) == 2
