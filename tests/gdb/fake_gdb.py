"""A scripted GDB server for the packets QEMU's gdbstub never sends: a
memory map with flash, vFlashErase/vFlashWrite/vFlashDone, qCRC, qRcmd.
It keeps a byte-addressed memory (flash with NOR rules: erase to 0xFF,
write only into erased bytes, as a probe's flash loader demands), records
every packet, and misbehaves on request:

    nak_first:   answer '-' to the first copy of each packet whose text starts so
    bad_reply:   send the reply to these packets once with a wrong checksum
    refuse:      answer E01 to these packets
    close_on:    close the connection when this packet arrives
    garbage:     answer every packet with these bytes (no protocol at all)

The server side of the framing is written here from the protocol's rules
(not with thimble.gdb.rsp), so the client is tested against an independent
reading of them."""
import socket
import threading

FLASH = (0x08000000, 0x40000, 0x4000)       # start, length, erase block
RAM = (0x20000000, 0x20000)
TARGET_XML = (b'<?xml version="1.0"?><!DOCTYPE target SYSTEM "gdb-target.dtd"><target><architecture>arm</architecture>'
              b'<xi:include href="core.xml"/></target>')
CORE_XML = (b'<?xml version="1.0"?><feature name="org.gnu.gdb.arm.m-profile">'
            + b"".join(b'<reg name="r%d" bitsize="32"/>' % i for i in range(13))
            + b'<reg name="sp" bitsize="32" type="data_ptr"/><reg name="lr" bitsize="32"/>'
              b'<reg name="pc" bitsize="32" type="code_ptr"/><reg name="xpsr" bitsize="32" regnum="25"/></feature>')


def memory_map():
    return (b'<?xml version="1.0"?><!DOCTYPE memory-map PUBLIC "+//IDN gnu.org//DTD GDB Memory Map V1.0//EN" '
            b'"http://sourceware.org/gdb/gdb-memory-map.dtd"><memory-map>'
            b'<memory type="flash" start="0x%x" length="0x%x"><property name="blocksize">0x%x</property></memory>'
            b'<memory type="ram" start="0x%x" length="0x%x"/></memory-map>' % (*FLASH, *RAM))


def cs(p):
    return b"%02x" % (sum(p) & 0xFF)


def unescape(data):
    out, i = bytearray(), 0
    while i < len(data):
        if data[i] == 0x7D:
            out.append(data[i + 1] ^ 0x20)
            i += 2
        else:
            out.append(data[i])
            i += 1
    return bytes(out)


def xcrc32(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


class FakeGdb:
    def __init__(self, *, memory_map=True, qcrc=True, monitor=True, x_packets=True, nak_first=(), bad_reply=(),
                 refuse=(), close_on=None, garbage=None, flash_drops_bit=None):
        self.opts = dict(memory_map=memory_map, qcrc=qcrc, monitor=monitor, x_packets=x_packets)
        self.nak_first, self.bad_reply, self.refuse = tuple(nak_first), set(bad_reply), tuple(refuse)
        self.close_on, self.garbage, self.flash_drops_bit = close_on, garbage, flash_drops_bit
        self.mem = {}                  # addr -> byte (absent: 0 in RAM, 0xFF in flash)
        self.pending = {}              # vFlashWrite bytes until vFlashDone
        self.packets = []              # every packet received, in order
        self.regs = {}
        self.detached = False
        self.writes = 0                # X, M and vFlashWrite packets that changed memory
        self._seen_nak = set()
        self._bad_sent = set()
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.lsock.settimeout(0.1)       # accept() wakes to see close()
        self.closed = False
        self.port = self.lsock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        self.closed = True
        self.thread.join(5)
        self.lsock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- memory ---------------------------------------------------------------------------------

    def in_flash(self, a):
        return FLASH[0] <= a < FLASH[0] + FLASH[1]

    def byte(self, a):
        return self.mem.get(a, 0xFF if self.in_flash(a) else 0)

    def read(self, a, n):
        return bytes(self.byte(a + i) for i in range(n))

    # -- the server -----------------------------------------------------------------------------

    def _serve(self):
        while not self.closed:
            try:
                conn, _ = self.lsock.accept()
                break
            except socket.timeout:
                continue
            except OSError:
                return
        else:
            return
        conn.settimeout(None)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            buf = bytearray()
            while True:
                try:
                    got = conn.recv(65536)
                except OSError:
                    return
                if not got:
                    return
                buf += got
                while True:
                    start = buf.find(b"$")
                    end = buf.find(b"#", start)
                    if start < 0 or end < 0 or len(buf) < end + 3:
                        break
                    body, ck = bytes(buf[start + 1:end]), bytes(buf[end + 1:end + 3])
                    del buf[:end + 3]
                    if cs(body) != ck:
                        conn.sendall(b"-")
                        continue
                    text = unescape(body) if body[:1] in b"Xv" else body
                    if any(text.startswith(p) for p in self.nak_first) and text not in self._seen_nak:
                        self._seen_nak.add(text)
                        conn.sendall(b"-")
                        continue
                    conn.sendall(b"+")
                    self.packets.append(text)
                    if self.close_on is not None and text.startswith(self.close_on):
                        return
                    for r in self._replies(text):
                        pkt = b"$" + r + b"#" + cs(r)
                        key = text.split(b":")[0].split(b",")[0][:12]
                        if any(text.startswith(p) for p in self.bad_reply) and key not in self._bad_sent:
                            self._bad_sent.add(key)
                            conn.sendall(b"$" + r + b"#" + (b"00" if cs(r) != b"00" else b"01"))
                            if not self._await_ack(conn, buf):
                                return
                        conn.sendall(pkt)
                        if not self._await_ack(conn, buf):
                            return
                    if text == b"D":
                        self.detached = True
                        return

    def _await_ack(self, conn, buf):
        while True:
            if buf[:1] in (b"+", b"-"):
                c = buf[:1]
                del buf[:1]
                if c == b"+":
                    return True
                return True   # '-': the caller resends the good copy next (the bad one was for this test)
            try:
                got = conn.recv(65536)
            except OSError:
                return False
            if not got:
                return False
            buf += got

    def _replies(self, p):
        if self.garbage is not None:
            return [self.garbage]
        if any(p.startswith(r) for r in self.refuse):
            return [b"E01"]
        o = self.opts
        if p.startswith(b"qSupported"):
            feats = [b"PacketSize=400", b"qXfer:features:read+"]
            if o["memory_map"]:
                feats.append(b"qXfer:memory-map:read+")
            return [b";".join(feats)]
        if p == b"?":
            return [b"S05"]
        if p.startswith(b"qXfer:"):
            _, obj, _, annex, rng = p.split(b":", 4)
            off, length = (int(x, 16) for x in rng.split(b","))
            doc = {(b"memory-map", b""): memory_map() if o["memory_map"] else None,
                   (b"features", b"target.xml"): TARGET_XML, (b"features", b"core.xml"): CORE_XML}.get((obj, annex))
            if doc is None:
                return [b"E00"]
            part = doc[off:off + length]
            return [(b"l" if off + length >= len(doc) else b"m") + part.replace(b"}", b"}]").replace(b"#", b"}\x03")
                    .replace(b"$", b"}\x04").replace(b"*", b"}\x0a")]
        if p.startswith(b"m"):
            a, n = (int(x, 16) for x in p[1:].split(b","))
            return [self.read(a, n).hex().encode()]
        if p.startswith(b"X"):
            if not o["x_packets"]:
                return [b""]
            head, data = p[1:].split(b":", 1)
            a, n = (int(x, 16) for x in head.split(b","))
            return [self._write_ram(a, data[:n])]
        if p.startswith(b"M"):
            head, data = p[1:].split(b":", 1)
            a, n = (int(x, 16) for x in head.split(b","))
            return [self._write_ram(a, bytes.fromhex(data.decode()))]
        if p.startswith(b"vFlashErase:"):
            a, n = (int(x, 16) for x in p[12:].split(b","))
            if a % FLASH[2] or n % FLASH[2] or not (self.in_flash(a) and self.in_flash(a + n - 1)):
                return [b"E02"]
            for i in range(n):
                self.mem.pop(a + i, None)
            return [b"OK"]
        if p.startswith(b"vFlashWrite:"):
            head, data = p[12:].split(b":", 1)
            a = int(head, 16)
            for i, b in enumerate(data):
                self.pending[a + i] = b
            return [b"OK"]
        if p == b"vFlashDone":
            for a, b in self.pending.items():
                if self.byte(a) != 0xFF:
                    return [b"E03"]              # programming over unerased flash
                if self.flash_drops_bit is not None and a == self.flash_drops_bit:
                    b &= 0xFE
                self.mem[a] = b
            self.writes += 1
            self.pending.clear()
            return [b"OK"]
        if p.startswith(b"qCRC:"):
            if not o["qcrc"]:
                return [b""]
            a, n = (int(x, 16) for x in p[5:].split(b","))
            return [b"C%08x" % xcrc32(self.read(a, n))]
        if p.startswith(b"qRcmd,"):
            if not o["monitor"]:
                return [b""]
            cmd = bytes.fromhex(p[6:].decode()).decode()
            return [b"O" + f"{cmd}: done\n".encode().hex().encode(), b"OK"]
        if p.startswith(b"P"):
            num, val = p[1:].split(b"=")
            self.regs[int(num, 16)] = int.from_bytes(bytes.fromhex(val.decode()), "little")
            return [b"OK"]
        if p == b"D":
            return [b"OK"]
        return [b""]

    def _write_ram(self, a, data):
        if not (RAM[0] <= a and a + len(data) <= RAM[0] + RAM[1]):
            return b"E01"
        for i, b in enumerate(data):
            self.mem[a + i] = b
        self.writes += 1
        return b"OK"
