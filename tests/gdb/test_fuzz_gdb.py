"""Fuzz harnesses (hypothesis) for thimble flash's parsers of untrusted
input: the firmware ELF, the remote protocol's replies (framing, escapes,
run-length codes) and the server's XML (memory map, target description).
Each either returns a well-formed result or raises its own error naming
what was wrong; nothing else escapes, nothing hangs, nothing grows past
its bound."""
import socket

from hypothesis import HealthCheck, given, settings, strategies as st

from elf_file import make_elf
from thimble.firmware.elf import ElfError, parse_elf
from thimble.gdb.rsp import MAX_PACKET, Rsp, RspError, decode
from thimble.gdb.target import Target

SEED_ELFS = [make_elf([(0x1000, bytes(range(200)), 300), (0x20000000, b"thimble-firmware;board=x;\0", None)], 0x1001),
             make_elf([(0x40080000, bytes(64), None)], 0x40080000, cls=2, machine=183)]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw, seeds):
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.integers(0, 2))
        i = draw(st.integers(0, max(0, len(data) - 1)))
        if op == 0 and data:
            data[i] = draw(st.integers(0, 255))
        elif op == 1:
            del data[i:i + draw(st.integers(1, 64))]
        else:
            data[i:i] = draw(st.binary(max_size=16))
    return bytes(data)


@FUZZ
@given(mutated(SEED_ELFS))
def test_elf_parser(data):
    try:
        fw = parse_elf(data)
    except ElfError:
        return
    assert fw.segments and all(s.data and s.addr + len(s.data) <= 1 << 64 for s in fw.segments)
    assert sum(len(s.data) for s in fw.segments) <= len(data)


@FUZZ
@given(st.binary(max_size=300))
def test_reply_decoder(body):
    try:
        out = decode(body)
    except RspError:
        return
    assert len(out) <= max(len(body) * 97, 1) and len(out) <= MAX_PACKET


def _replies(raw):
    """What Rsp.recv makes of `raw` arriving from a server (then the line closes)."""
    a, b = socket.socketpair()
    try:
        b.sendall(raw)
        b.shutdown(socket.SHUT_WR)
        rsp = Rsp(a, timeout=0.2, retries=2, where="fuzz")
        out = []
        try:
            while True:
                out.append(rsp.recv())
        except RspError:
            return out
    finally:
        a.close()
        b.close()


@FUZZ
@given(st.lists(st.sampled_from([b"$", b"#", b"+", b"-", b"}", b"*", b"OK", b"9a", b"00", b"%", b"S05", b"x"]),
                max_size=40))
def test_packet_reader(parts):
    for r in _replies(b"".join(parts)):
        assert isinstance(r, bytes)


def test_packet_reader_takes_good_packets_among_noise():
    assert _replies(b"++%Stop:x#00$OK#9a-$S05#b8") == [b"OK", b"S05"]


XML_PARTS = [b"<memory-map>", b"</memory-map>", b'<memory type="flash" start="0x0" length="0x100">',
             b'<memory type="ram" start="0x20000000" length="0x1000"/>', b"</memory>",
             b'<property name="blocksize">0x40</property>', b'<!DOCTYPE memory-map SYSTEM "x.dtd">',
             b'<!ENTITY a "aaaa">', b"&a;", b'<memory type="rom" start="-1" length="z"/>', b"<", b">", b'"']


@FUZZ
@given(st.lists(st.sampled_from(XML_PARTS), max_size=12))
def test_memory_map_parser(parts):
    try:
        regions = Target._memory_map(b"".join(parts))
    except RspError:
        return
    assert all(k in ("ram", "rom", "flash") and n > 0 and a >= 0 for k, a, n, _ in regions)
