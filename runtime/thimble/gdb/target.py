"""A halted target behind a GDB server: what `thimble flash` needs from the
remote protocol, over the packet layer (rsp.py).

    t = Target(rsp)
    t.handshake()                  # qSupported, the halt reason, the memory map and registers
    t.region(addr, n)              # "ram" / "flash" (block size) / None, from qXfer:memory-map
    t.write(addr, data)            # X (binary), M (hex) where X is not supported
    t.flash_write(addr, data)      # vFlashErase / vFlashWrite, then t.flash_done()
    t.crc(addr, n)                 # qCRC on the target, or None where the server lacks it
    t.read(addr, n)                # m
    t.set_registers({"pc": ...})   # P, register numbers from qXfer:features:read
    t.monitor("reset halt")        # qRcmd: the server's own console command
    t.detach()                     # D: the target runs

Replies are checked for shape: an 'E NN' is a refusal naming its packet
(TargetError), an empty reply is "not supported", anything else malformed
is RspError. The memory-map and target-description XML are bounded and
parsed without DTDs or entities (a server cannot make the host fetch or
expand anything).
"""
import re
import xml.etree.ElementTree as ET

from ..core.errors import CommandError
from .rsp import RspError, escape

MAX_XML = 256 * 1024
MAX_INCLUDES = 16
_ERR = re.compile(rb"^E[0-9A-Fa-f]{2}$|^E\..*$")


class TargetError(CommandError):
    """The server refused a request (an 'E NN' reply); the message names it."""


def _hex(data):
    return data.hex().encode()


def crc32_gdb(data, crc=0xFFFFFFFF):
    """The CRC qCRC answers: GDB's xcrc32 (polynomial 0x04C11DB7, MSB first,
    initial 0xFFFFFFFF, no final XOR)."""
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if crc & 0x80000000 else (crc << 1) & 0xFFFFFFFF
    return crc


def _parse_xml(text, what):
    if len(text) > MAX_XML:
        raise RspError(f"the server's {what} is over {MAX_XML:,} bytes")
    if b"<!DOCTYPE" in text.upper() or b"<!ENTITY" in text.upper():
        text = re.sub(rb"<!DOCTYPE[^>]*>", b"", text, flags=re.I)     # GDB's own DTD line: never fetched
        if b"<!ENTITY" in text.upper():
            raise RspError(f"the server's {what} declares entities; refused")
    # QEMU writes <xi:include> without declaring the xi namespace, which GDB
    # accepts and a strict parser does not: drop the prefix
    text = re.sub(rb"<(/?)xi:include", rb"<\1include", text)
    try:
        return ET.fromstring(text)
    except ET.ParseError as e:
        raise RspError(f"the server's {what} is not valid XML ({e})") from None


class Target:
    def __init__(self, rsp, log=None):
        self.rsp = rsp
        self.log = log or (lambda msg: None)
        self.features = {}
        self.packet_size = 4096
        self.memory_map = []           # [(kind, start, length, blocksize)]
        self.registers = {}            # name -> (regnum, bits)
        self.x_ok = None               # X supported (None: not yet tried)

    # -- plumbing -------------------------------------------------------------------------------

    def request(self, payload, what=None, timeout=None):
        """Reply to payload; TargetError on 'E NN'."""
        r = self.rsp.command(payload, timeout)
        if _ERR.match(r):
            raise TargetError(f"{self.rsp.where} refused {what or payload[:32].decode('latin-1')}: {r.decode('latin-1')}")
        return r

    def ok(self, payload, what=None, timeout=None):
        r = self.request(payload, what, timeout)
        if r != b"OK":
            raise RspError(f"{self.rsp.where} answered {r[:40]!r} to {what or payload[:32]!r}, not OK")

    # -- handshake ------------------------------------------------------------------------------

    def handshake(self):
        r = self.rsp.command(b"qSupported:multiprocess-;swbreak+;hwbreak+;xmlRegisters=arm")
        if _ERR.match(r):
            raise RspError(f"{self.rsp.where} refused qSupported: {r!r}")
        for f in r.split(b";"):
            f = f.decode("latin-1")
            if "=" in f:
                k, v = f.split("=", 1)
                self.features[k] = v
            elif f[-1:] in "+-?":
                self.features[f[:-1]] = f[-1]
        if "PacketSize" in self.features:
            try:
                self.packet_size = max(256, min(int(self.features["PacketSize"], 16), 64 * 1024))
            except ValueError:
                raise RspError(f"{self.rsp.where}: PacketSize {self.features['PacketSize']!r} is not hex") from None
        stop = self.rsp.command(b"?")
        if not stop or stop[:1] not in b"STWX":
            raise RspError(f"{self.rsp.where} answered {stop[:40]!r} to '?', not a stop reason "
                           "(is it a GDB server?)")
        if stop[:1] in b"WX":
            raise RspError(f"{self.rsp.where}: the target has exited ({stop[:40]!r})")
        if self.features.get("qXfer:memory-map:read") == "+":
            self.memory_map = self._memory_map(self._xfer("memory-map", ""))
        if self.features.get("qXfer:features:read") == "+":
            self.registers = self._registers()
        return stop

    def _xfer(self, obj, annex):
        out = bytearray()
        chunk = max(64, self.packet_size - 16)
        while True:
            r = self.request(b"qXfer:%s:read:%s:%x,%x" % (obj.encode(), annex.encode(), len(out), chunk),
                             f"qXfer:{obj}:read {annex}")
            if not r or r[:1] not in b"ml":
                raise RspError(f"{self.rsp.where} answered {r[:40]!r} to qXfer:{obj}:read")
            out += r[1:]
            if len(out) > MAX_XML:
                raise RspError(f"the server's {obj} {annex} is over {MAX_XML:,} bytes")
            if r[:1] == b"l":
                return bytes(out)
            if len(r) == 1:
                raise RspError(f"{self.rsp.where} sent an empty 'm' chunk of qXfer:{obj}:read")

    @staticmethod
    def _memory_map(text):
        root = _parse_xml(text, "memory map")
        out = []
        for m in root.iter("memory"):
            try:
                kind, start, length = m.get("type"), int(m.get("start"), 0), int(m.get("length"), 0)
            except (TypeError, ValueError):
                raise RspError("the server's memory map has a <memory> without a numeric start and length") from None
            block = 0
            for p in m.iter("property"):
                if p.get("name") == "blocksize":
                    try:
                        block = int((p.text or "").strip(), 0)
                    except ValueError:
                        raise RspError("the server's memory map has a blocksize that is not a number") from None
            if kind not in ("ram", "rom", "flash") or start < 0 or length <= 0 or (kind == "flash" and block <= 0):
                raise RspError(f"the server's memory map has a bad <memory> ({kind}, {start}, {length}, block {block})")
            out.append((kind, start, length, block))
        return out

    def _registers(self):
        regs, n = {}, [0]

        def walk(name, depth):
            if depth > MAX_INCLUDES:
                raise RspError("the server's target description includes too deeply")
            root = _parse_xml(self._xfer("features", name), f"target description {name}")
            for el in root.iter():
                tag = el.tag.rsplit("}", 1)[-1]
                if tag == "include":
                    href = el.get("href", "")
                    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", href):
                        raise RspError(f"the server's target description includes {href!r}")
                    walk(href, depth + 1)
                elif tag == "reg":
                    try:
                        if el.get("regnum") is not None:
                            n[0] = int(el.get("regnum"), 0)
                        regs[el.get("name")] = (n[0], int(el.get("bitsize")))
                    except (TypeError, ValueError):
                        raise RspError("the server's target description has a <reg> without numbers") from None
                    n[0] += 1
        walk("target.xml", 0)
        return regs

    # -- memory ---------------------------------------------------------------------------------

    def region(self, addr, n):
        """(kind, blocksize) of the memory-map entry holding [addr, addr + n),
        ("ram", 0) with no map (QEMU's gdbstub sends none), None if the map
        has no entry that holds it all."""
        if not self.memory_map:
            return ("ram", 0)
        for kind, start, length, block in self.memory_map:
            if start <= addr and addr + n <= start + length:
                return (kind, block)
        return None

    def _chunk(self, overhead):
        return max(64, (self.packet_size - overhead) // 2)

    def read(self, addr, n, progress=None):
        out = bytearray()
        step = self._chunk(8)
        while len(out) < n:
            k = min(step, n - len(out))
            r = self.request(b"m%x,%x" % (addr + len(out), k), f"reading 0x{addr + len(out):x}")
            try:
                got = bytes.fromhex(r.decode("ascii"))
            except (UnicodeDecodeError, ValueError):
                raise RspError(f"{self.rsp.where} answered {r[:40]!r} to a memory read, not hex") from None
            if not got or len(got) > k:
                raise RspError(f"{self.rsp.where} returned {len(got)} bytes for a read of {k}")
            out += got
            if progress:
                progress(len(out), n)
        return bytes(out)

    def write(self, addr, data, progress=None):
        """Write RAM (or whatever the server writes with X/M)."""
        done, step = 0, self._chunk(32)
        while done < len(data):
            part = data[done:done + step]
            a = addr + done
            if self.x_ok is not False:
                r = self.request(b"X%x,%x:" % (a, len(part)) + escape(part), f"a write of {len(part)} bytes at 0x{a:x}")
                if r == b"" and self.x_ok is None:
                    self.x_ok = False              # no binary writes: hex from here on
                    continue
                if r != b"OK":
                    raise RspError(f"{self.rsp.where} answered {r[:40]!r} to X at 0x{a:x}")
                self.x_ok = True
            else:
                self.ok(b"M%x,%x:" % (a, len(part)) + _hex(part), f"a write of {len(part)} bytes at 0x{a:x}")
            done += len(part)
            if progress:
                progress(done, len(data))

    def flash_erase(self, addr, n):
        self.ok(b"vFlashErase:%x,%x" % (addr, n), f"erasing flash 0x{addr:x}+{n:#x}", timeout=max(30.0, self.rsp.timeout))

    def flash_write(self, addr, data, progress=None):
        done, step = 0, self._chunk(32)
        while done < len(data):
            part = data[done:done + step]
            self.ok(b"vFlashWrite:%x:" % (addr + done) + escape(part), f"a flash write at 0x{addr + done:x}")
            done += len(part)
            if progress:
                progress(done, len(data))

    def flash_done(self):
        self.ok(b"vFlashDone", "vFlashDone (programming flash)", timeout=max(60.0, self.rsp.timeout))

    def crc(self, addr, n):
        """The target's CRC of [addr, addr + n) (crc32_gdb), or None if the server has no qCRC."""
        r = self.request(b"qCRC:%x,%x" % (addr, n), f"qCRC of 0x{addr:x}", timeout=max(30.0, self.rsp.timeout))
        if r == b"":
            return None
        if not re.fullmatch(rb"C[0-9A-Fa-f]{1,8}", r):
            raise RspError(f"{self.rsp.where} answered {r[:40]!r} to qCRC")
        return int(r[1:], 16)

    # -- control --------------------------------------------------------------------------------

    def set_registers(self, values):
        """Write registers by name (P packets; numbers and sizes from the target description)."""
        for name, value in values.items():
            if name not in self.registers:
                raise RspError(f"{self.rsp.where}'s target description has no register {name!r} "
                               f"(it has {', '.join(sorted(self.registers)[:12]) or 'none'})")
            num, bits = self.registers[name]
            data = value.to_bytes(bits // 8, "little")
            self.ok(b"P%x=" % num + _hex(data), f"setting {name}")

    def monitor(self, command):
        """qRcmd: the server's console command; -> what it printed. None if the
        server has no monitor (empty reply)."""
        self.rsp.send(b"qRcmd," + _hex(command.encode()))
        printed = bytearray()
        while True:
            r = self.rsp.recv(max(30.0, self.rsp.timeout))
            if r == b"":
                return None
            if r == b"OK":
                return printed.decode("utf-8", "replace")
            if _ERR.match(r):
                raise TargetError(f"{self.rsp.where} refused `monitor {command}`: {r.decode('latin-1')}")
            if r[:1] == b"O" and len(r) > 1:
                try:
                    printed += bytes.fromhex(r[1:].decode("ascii"))
                except (UnicodeDecodeError, ValueError):
                    raise RspError(f"{self.rsp.where} sent console output that is not hex") from None
                continue
            try:                                    # some servers answer with the hex output itself
                printed += bytes.fromhex(r.decode("ascii"))
                return printed.decode("utf-8", "replace")
            except (UnicodeDecodeError, ValueError):
                raise RspError(f"{self.rsp.where} answered {r[:40]!r} to qRcmd") from None

    def detach(self):
        """D: the server lets the target run and closes the session."""
        self.ok(b"D", "detach")
