"""The GDB remote serial protocol's packet layer, the part every debug server
speaks (QEMU's gdbstub, OpenOCD, pyOCD, J-Link GDB Server, probe-rs):

    $<payload>#<two hex digits: the payload's byte sum mod 256>

answered '+' (received) or '-' (resend). Replies may run-length encode
('*' and a count byte) and escape ('}' and the byte XOR 0x20); binary
payloads we send (X, vFlashWrite) escape '$', '#', '}' and '*'. A reply
is untrusted: its length is bounded, its checksum checked (a bad one is
answered '-' and read again), and a server that keeps sending garbage or
nothing ends in RspError, never a hang.

    with Rsp.connect("127.0.0.1", 1234) as rsp:
        reply = rsp.command(b"qSupported")
"""
import socket
import time

from ..core.errors import CommandError

MAX_PACKET = 1 << 20            # the longest reply read: a memory map or a large 'm' answer
HEX = b"0123456789abcdefABCDEF"


class RspError(CommandError, ConnectionError):
    """The GDB server is not there, went away, or does not speak the protocol."""


def checksum(payload):
    return sum(payload) & 0xFF


def frame(payload):
    return b"$" + payload + b"#" + b"%02x" % checksum(payload)


def escape(data):
    """Binary data for X and vFlashWrite: '#', '$', '}' and '*' escaped."""
    out = bytearray()
    for b in data:
        if b in (0x23, 0x24, 0x7D, 0x2A):
            out += bytes((0x7D, b ^ 0x20))
        else:
            out.append(b)
    return bytes(out)


def decode(body):
    """A received payload with escapes and run-length encoding undone."""
    out = bytearray()
    i, n = 0, len(body)
    while i < n:
        c = body[i]
        if c == 0x7D:                          # '}': the next byte XOR 0x20
            if i + 1 >= n:
                raise RspError("a reply ends in the middle of an escape")
            out.append(body[i + 1] ^ 0x20)
            i += 2
        elif c == 0x2A:                        # '*': repeat the previous byte (count byte - 29) times
            if not out or i + 1 >= n:
                raise RspError("a reply's run-length code has nothing to repeat")
            k = body[i + 1] - 29
            if k < 3 or len(out) + k > MAX_PACKET:
                raise RspError(f"a reply's run-length count {k} is out of range")
            out += bytes((out[-1],)) * k
            i += 2
        else:
            out.append(c)
            i += 1
    return bytes(out)


class Rsp:
    """One connection to a GDB server. timeout: seconds to wait for each
    ack or reply; retries: how often a packet is sent again after a '-' or
    no ack, and how many bad-checksum replies are asked for again."""

    def __init__(self, sock, timeout=5.0, retries=3, where=""):
        self.sock = sock
        self.timeout = float(timeout)
        self.retries = int(retries)
        self.where = where or "the GDB server"
        self.buf = bytearray()
        try:      # each packet waits for its ack and reply: never hold one back for Nagle
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self.naks = 0            # '-' answers to our packets
        self.bad_replies = 0     # replies whose checksum failed (each answered '-')
        self.sock.settimeout(self.timeout)

    @classmethod
    def connect(cls, host, port, timeout=5.0, retries=3):
        where = f"{host}:{port}"
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as e:
            raise RspError(f"no GDB server at {where}: {e.strerror or e}") from None
        return cls(sock, timeout, retries, where)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- bytes ----------------------------------------------------------------------------------

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        self.sock.settimeout(left)
        try:
            got = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError from None
        except OSError as e:
            raise RspError(f"{self.where}: the connection failed ({e.strerror or e})") from None
        if not got:
            raise RspError(f"{self.where} closed the connection")
        self.buf += got

    def _byte(self, deadline):
        while not self.buf:
            self._fill(deadline)
        b = self.buf[0]
        del self.buf[0]
        return b

    def _write(self, data):
        try:
            self.sock.sendall(data)
        except OSError as e:
            raise RspError(f"{self.where}: the connection failed ({e.strerror or e})") from None

    # -- packets --------------------------------------------------------------------------------

    def send(self, payload):
        """Send one packet until the server acknowledges it ('+')."""
        pkt = frame(payload)
        for _ in range(self.retries + 1):
            self._write(pkt)
            deadline = time.monotonic() + self.timeout
            try:
                while True:
                    b = self._byte(deadline)
                    if b == 0x2B:                          # '+'
                        return
                    if b == 0x2D:                          # '-': it arrived damaged
                        self.naks += 1
                        break
                    if b == 0x24:                          # a packet before our ack: not ours to take
                        self.buf[:0] = b"$"
                        raise RspError(f"{self.where} sent a packet instead of acknowledging "
                                       f"{payload[:24]!r}")
                    # anything else between packets (stray bytes, a notification's '%') is skipped
            except TimeoutError:
                continue
        raise RspError(f"{self.where} did not acknowledge {payload[:24]!r} after {self.retries + 1} tries")

    def recv(self, timeout=None):
        """One reply's payload, decoded. A bad checksum is answered '-' and the
        resent reply read, up to `retries` times."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        bad = 0
        while True:
            try:
                while self._byte(deadline) != 0x24:        # skip to '$' (stray acks, '%' notifications)
                    pass
                body = bytearray()
                while True:
                    b = self._byte(deadline)
                    if b == 0x23:                          # '#'
                        break
                    if b == 0x24:                          # a new packet began: the old one was cut
                        body.clear()
                        continue
                    body.append(b)
                    if len(body) > MAX_PACKET:
                        raise RspError(f"{self.where} sent a reply over {MAX_PACKET:,} bytes")
                cs = bytes((self._byte(deadline), self._byte(deadline)))
            except TimeoutError:
                raise RspError(f"{self.where} did not reply within {self.timeout:g} s") from None
            if cs[0] in HEX and cs[1] in HEX and int(cs, 16) == checksum(body):
                self._write(b"+")
                return decode(bytes(body))
            self.bad_replies += 1
            bad += 1
            if bad > self.retries:
                raise RspError(f"{self.where}: {bad} replies in a row failed their checksum")
            self._write(b"-")
            deadline = time.monotonic() + self.timeout

    def command(self, payload, timeout=None):
        """Send a packet and return the reply's payload."""
        self.send(payload)
        return self.recv(timeout)
