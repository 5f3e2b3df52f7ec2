"""A TCP proxy that makes a socket behave like a faulty serial line, for the
link's fault tests and `thimble bench link`.

    with LinkProxy("socket://127.0.0.1:5555", baud=115200, seed=1,
                   faults=[Fault("drop", cmd="DATA", nth=5)]) as px:
        ser = serial.serial_for_url(px.url)      # the client talks to px.url
        ...
        assert px.injected("drop")                # the fault really fired

Pacing: each direction is a line of `baud` bits/s with 10 bits a byte (8N1),
so 115200 baud moves 11520 bytes/s. Bytes leave in slices of about 2 ms, each
released when the line would have finished sending it; lateness of the
sleeping thread is caught up to SLACK_S, so the line keeps its rate without
bursting after an idle spell.

Faults act on whole frames. The stream is cut into frames (MAGIC, header,
payload, CRC checked by thimble.link.codec) and other bytes, which pass
untouched; a frame is held until it is complete, or forwarded as other bytes
when it stalls (STALE_S). Every fault that fires is logged; a test asserts
on the log, so a fault that did not fire fails the test.

Byte noise (ByteNoise) is the other kind of line: independent errors on
single bytes, in both directions and whatever the bytes are (frames, their
gaps, resync bytes), as a UART with a marginal clock or a noisy cable shows
them. Its counts are in `noise_count`."""
import dataclasses
import math
import random
import select
import socket
import struct
import threading
import time
from typing import Callable, Optional

from . import codec
from . import format as F

DIRECTIONS = ("h2d", "d2h")             # host -> device, device -> host
KINDS = ("corrupt", "drop", "duplicate", "cut")
BITS_PER_BYTE = 10                      # 8N1: start bit, 8 data bits, stop bit
SLICE_S = 0.002                         # pacing granularity
SLACK_S = 0.004                         # how far a late sender may catch up
STALE_S = 0.2                           # a partial frame this old is forwarded as plain bytes
POLL_S = 0.05                           # how often an idle pump looks at its stale frame and the close flag
CONNECT_S = 10.0                        # how long to retry the upstream (a board restarting)
NAMES = {v: k for k, v in F.COMMANDS.items()}


def line_rate(baud):
    """Bytes per second of a `baud` 8N1 serial line."""
    return baud / BITS_PER_BYTE


def frame_label(cmd):
    """'DATA' for a DATA request, 'DATA_R' for its reply (the ACK)."""
    name = NAMES.get(cmd & ~F.REPLY & 0xFF, f"0x{cmd & ~F.REPLY & 0xFF:02x}")
    return name + ("_R" if cmd & F.REPLY else "")


@dataclasses.dataclass(frozen=True)
class ByteNoise:
    """Each byte on the line is lost with probability `drop`, or arrives with
    one random bit flipped with probability `flip` (a rate of 5e-4 is one
    byte in 2,000)."""
    drop: float = 0.0
    flip: float = 0.0

    def __post_init__(self):
        if not (0 <= self.drop < 1 and 0 <= self.flip < 1 and self.drop + self.flip < 1):
            raise ValueError(f"byte error rates must be in [0, 1), got drop {self.drop}, flip {self.flip}")

    @property
    def rate(self):
        return self.drop + self.flip


class _Noise:
    """ByteNoise on one direction: the gap to the next bad byte is drawn from
    the geometric distribution, so a clean stretch costs no per-byte work."""

    def __init__(self, noise, rng):
        self.noise, self.rng = noise, rng
        self.count = {"drop": 0, "flip": 0}
        self.gap = self._draw()

    def _draw(self):
        u = self.rng.random()
        return int(math.log1p(-u) / math.log1p(-self.noise.rate)) if self.noise.rate else math.inf

    def apply(self, data):
        out, i = bytearray(), 0
        while i + self.gap < len(data):
            out += data[i:i + self.gap]
            i += self.gap
            if self.rng.random() * self.noise.rate < self.noise.drop:
                self.count["drop"] += 1
            else:
                out.append(data[i] ^ (1 << self.rng.randrange(8)))
                self.count["flip"] += 1
            i += 1
            self.gap = self._draw()
        if self.gap != math.inf:
            self.gap -= len(data) - i
        out += data[i:]
        return bytes(out)


@dataclasses.dataclass
class Fault:
    """One fault rule. It watches the frames going `direction` ("h2d", "d2h"
    or "both") whose command is `cmd` (a name from format.COMMANDS: the
    request going h2d, its reply going d2h; None: every frame) and, for
    DATA frames, whose image offset is `offset` (None: any). Of those it
    fires on the `nth` (1-based, counted per direction over the proxy's
    life; None: every one) with probability `rate` (None: always), at most
    `count` times (None: no limit).

    kind: corrupt (XOR one bit of byte `byte` of the frame, counted from
    MAGIC, modulo its length; None: a random byte), drop, duplicate (the frame goes twice),
    cut (the frame goes, then the connection closes). A cut with
    `after_bytes` ignores frames: the connection closes once that many
    bytes went `direction`, possibly mid-frame.
    on_fire(entry) runs in the proxy's thread after the fault acted (a
    test kills the board there: a reset mid-write)."""
    kind: str
    direction: str = "h2d"
    cmd: Optional[str] = None
    nth: Optional[int] = None
    rate: Optional[float] = None
    count: Optional[int] = 1
    offset: Optional[int] = None
    byte: Optional[int] = None
    after_bytes: Optional[int] = None
    on_fire: Optional[Callable] = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"fault kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.direction not in DIRECTIONS + ("both",):
            raise ValueError(f"direction must be h2d, d2h or both, not {self.direction!r}")
        if self.cmd is not None and self.cmd not in F.COMMANDS:
            raise ValueError(f"unknown command {self.cmd!r} (one of {', '.join(F.COMMANDS)})")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate must be within 0..1, not {self.rate}")
        if self.nth is not None and self.nth < 1:
            raise ValueError(f"nth counts from 1, not {self.nth}")
        if self.after_bytes is not None and (self.kind != "cut" or self.after_bytes < 0):
            raise ValueError("after_bytes is for a cut, and >= 0")

    def directions(self):
        return DIRECTIONS if self.direction == "both" else (self.direction,)


class _Rule:
    """A Fault's running state: matches seen and firings, one RNG per
    direction so that the two pump threads never share a random stream."""

    def __init__(self, fault, seed, index):
        self.fault, self.fired = fault, 0
        self.seen = {d: 0 for d in DIRECTIONS}
        self.rng = {d: random.Random((seed << 8) ^ (index << 1) ^ i) for i, d in enumerate(DIRECTIONS)}

    def matches(self, d, cmd, payload):
        f = self.fault
        if d not in f.directions() or f.after_bytes is not None:
            return False
        if f.cmd is not None and cmd & ~F.REPLY & 0xFF != F.COMMANDS[f.cmd]:
            return False
        if f.offset is not None:
            if cmd != F.COMMANDS["DATA"] or len(payload) < 4 or struct.unpack_from("<I", payload)[0] != f.offset:
                return False
        return True

    def fires(self, d):
        f = self.fault
        self.seen[d] += 1
        if f.count is not None and self.fired >= f.count:
            return False
        if f.nth is not None and self.seen[d] != f.nth:
            return False
        if f.rate is not None and self.rng[d].random() >= f.rate:
            return False
        self.fired += 1
        return True


class _Splitter:
    """Cuts a byte stream into ("frame", raw, (cmd, seq, payload)) and
    ("bytes", raw, None) pieces. The length bound and CRC are codec's."""

    def __init__(self):
        self.buf = bytearray()
        self.since = time.monotonic()       # when buf last grew

    def feed(self, data):
        if data:
            self.buf += data
            self.since = time.monotonic()
        out = []
        while self.buf:
            i = self.buf.find(F.MAGIC)
            if i < 0:
                keep = 1 if self.buf[-1:] == F.MAGIC[:1] else 0    # a MAGIC may straddle reads
                i = len(self.buf) - keep
                if i == 0:
                    break
            if i > 0:
                out.append(("bytes", bytes(self.buf[:i]), None))
                del self.buf[:i]
                continue
            if len(self.buf) < len(F.MAGIC) + F.HEADER_SIZE:
                break
            length = struct.unpack_from(F.HEADER_FMT, self.buf, len(F.MAGIC))[3]
            total = F.FRAME_OVERHEAD + length
            if length <= F.MAX_PAYLOAD and len(self.buf) < total:
                break
            raw = bytes(self.buf[:total]) if length <= F.MAX_PAYLOAD else b""
            dec = codec.Decoder()
            frames = dec.feed(raw)
            if len(frames) == 1 and dec.errors == 0:
                out.append(("frame", raw, frames[0]))
                del self.buf[:total]
            else:                           # not a frame after all: its first byte is plain data
                out.append(("bytes", bytes(self.buf[:1]), None))
                del self.buf[:1]
        return out

    def flush(self):
        """What is held, as plain bytes (the sender closed)."""
        raw, self.buf = bytes(self.buf), bytearray()
        return [("bytes", raw, None)] if raw else []

    def flush_stale(self):
        """A partial frame nobody completes is forwarded as it is."""
        return self.flush() if time.monotonic() - self.since > STALE_S else []


class _Line:
    """One direction's wire: releases bytes no faster than `rate` bytes/s."""

    def __init__(self, rate):
        self.rate = rate
        self.free = 0.0                     # when the wire finishes what it was given
        self.slice = max(1, int(rate * SLICE_S)) if rate else 0

    def send(self, sock, data):
        if not self.rate:
            sock.sendall(data)
            return
        for i in range(0, len(data), self.slice):
            piece = data[i:i + self.slice]
            now = time.monotonic()
            end = max(self.free, now - SLACK_S) + len(piece) / self.rate
            if end > now:
                time.sleep(end - now)
            sock.sendall(piece)
            self.free = end


class _Cut(Exception):
    """The connection is to be closed (a cut fault fired)."""


class _Conn:
    """One client connection and its upstream; closing either side closes
    both, as a serial line has no half-close."""

    def __init__(self, number, client, upstream):
        self.number, self.socks = number, (client, upstream)
        self.closed = threading.Event()
        # set before a frame with a cut fault goes: nothing the peer sends after
        # it (its reply) crosses, though the pump's close may land a moment later
        self.cutting = threading.Event()
        self.lock = threading.Lock()

    def close(self):
        with self.lock:
            if self.closed.is_set():
                return
            self.closed.set()
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def _parse_upstream(upstream):
    """'socket://host:port', 'host:port' or a (host, port) tuple."""
    if isinstance(upstream, tuple):
        return upstream
    s = upstream[len("socket://"):] if upstream.startswith("socket://") else upstream
    host, sep, port = s.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"upstream must be socket://HOST:PORT or HOST:PORT, not {upstream!r}")
    return host or "127.0.0.1", int(port)


class LinkProxy:
    """Listens on 127.0.0.1 (`url`); each client connection gets its own
    upstream connection. baud: None for no pacing, a number for both
    directions, or a (h2d, d2h) pair. seed: the fault RNGs' seed. noise: a ByteNoise on every
    byte each way (seeded from `seed` too), or None.

    After use: `log` (every fault that fired, in order, as dicts),
    `frames` (frames seen per direction and label), `bytes` (bytes
    forwarded per direction), `connections` (accepted so far), `noise_count`
    (bytes dropped and flipped per direction)."""

    def __init__(self, upstream, *, baud=None, faults=(), seed=0, noise=None):
        self.upstream = _parse_upstream(upstream)
        bauds = baud if isinstance(baud, tuple) else (baud, baud)
        self.rates = {d: line_rate(b) if b else 0 for d, b in zip(DIRECTIONS, bauds)}
        self.rules = [_Rule(f, seed, i) for i, f in enumerate(faults)]
        self._noise = {d: _Noise(noise, random.Random(f"{seed}:noise:{d}")) for d in DIRECTIONS} if noise else {}
        self.log, self.frames = [], {d: {} for d in DIRECTIONS}
        self.bytes = {d: 0 for d in DIRECTIONS}
        self.connections = 0
        self.errors = []                    # exceptions in the proxy's threads (a test asserts none)
        self._lock = threading.Lock()
        self._conns, self._threads = [], []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.url = f"socket://127.0.0.1:{self.port}"
        self._stop = threading.Event()

    # -- life cycle --------------------------------------------------------
    def start(self):
        self._spawn(self._accept_loop)
        return self

    def close(self):
        self._stop.set()
        try:
            self._listener.close()
        except OSError:
            pass
        for c in list(self._conns):
            c.close()
        for t in self._threads:
            t.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def injected(self, kind=None):
        """The log entries of faults of `kind` (all when None)."""
        return [e for e in self.log if kind is None or e["kind"] == kind]

    # -- threads -----------------------------------------------------------
    def _spawn(self, fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept_loop(self):
        self._listener.settimeout(POLL_S)
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            upstream = self._connect_upstream()
            if upstream is None:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self.connections += 1
                conn = _Conn(self.connections, client, upstream)
                self._conns = [c for c in self._conns if not c.closed.is_set()] + [conn]
            self._spawn(self._pump, conn, "h2d", client, upstream)
            self._spawn(self._pump, conn, "d2h", upstream, client)

    def _connect_upstream(self):
        deadline = time.monotonic() + CONNECT_S
        while not self._stop.is_set():
            try:
                return socket.create_connection(self.upstream, timeout=2)
            except OSError:
                if time.monotonic() > deadline:
                    return None
                time.sleep(0.05)
        return None

    def _pump(self, conn, d, src, dst):
        split, line = _Splitter(), _Line(self.rates[d])
        try:
            while not conn.closed.is_set():
                # select, not a socket timeout: the other pump's sendall on this socket must block
                if select.select([src], [], [], POLL_S)[0]:
                    data = src.recv(65536)
                    pieces = split.feed(data) if data else split.flush()
                else:
                    data, pieces = None, split.flush_stale()
                for _kind, raw, frame in pieces:
                    if conn.cutting.is_set():
                        raise _Cut()
                    out, fired = self._apply(d, raw, frame)
                    if any(f.kind == "cut" for f, _ in fired):
                        conn.cutting.set()
                    # logged before the frame goes: once the peer can react to it (a cut's
                    # other direction closes the line), injected() must already say so
                    entries = [(fault, self._log(conn, d, entry)) for fault, entry in fired]
                    try:
                        for chunk in out:
                            self._forward(conn, d, line, dst, chunk)
                    finally:                # a fault acted even when the peer hung up on its second copy
                        for fault, entry in entries:
                            if fault.on_fire is not None:
                                fault.on_fire(entry)
                    if any(f.kind == "cut" for f, _ in fired):
                        raise _Cut()
                if data == b"":
                    break
        except (_Cut, OSError):
            pass
        except Exception as e:              # a bug here must not pass for a line fault
            if not conn.closed.is_set():    # (select on a socket the other pump closed is no bug)
                self.errors.append(f"{d}: {type(e).__name__}: {e}")
        finally:
            conn.close()

    def _forward(self, conn, d, line, dst, data):
        for r in self.rules:                # a byte-count cut, possibly mid-frame
            f = r.fault
            if f.after_bytes is None or d not in f.directions():
                continue
            with self._lock:
                left = f.after_bytes - self.bytes[d]
                fire = len(data) >= left and (f.count is None or r.fired < f.count)
                if fire:
                    r.fired += 1
            if fire:
                line.send(dst, data[:left])
                self._count_bytes(d, left)
                self._record(conn, d, f, {"kind": "cut", "after_bytes": f.after_bytes})
                raise _Cut()
        self._count_bytes(d, len(data))
        if d in self._noise:
            data = self._noise[d].apply(data)
        line.send(dst, data)

    @property
    def noise_count(self):
        return {d: dict(n.count) for d, n in self._noise.items()}

    def _count_bytes(self, d, n):
        with self._lock:
            self.bytes[d] += n

    def _apply(self, d, raw, frame):
        """-> (the byte strings to forward for this piece, [(fault, log
        entry)] of the faults that fired on it)."""
        if frame is None:
            return [raw], []
        cmd, seq, payload = frame
        label = frame_label(cmd)
        entry = {"cmd": label, "seq": seq}
        if cmd == F.COMMANDS["DATA"] and len(payload) >= 4:
            entry["offset"] = struct.unpack_from("<I", payload)[0]
        with self._lock:
            self.frames[d][label] = self.frames[d].get(label, 0) + 1
            firing = [r for r in self.rules if r.matches(d, cmd, payload) and r.fires(d)]
        out, fired = [raw], []
        for r in firing:
            f, e = r.fault, dict(entry, kind=r.fault.kind)
            if f.kind == "corrupt":
                i = (f.byte if f.byte is not None else r.rng[d].randrange(len(raw))) % len(raw)
                mask = 1 << r.rng[d].randrange(8)
                b = bytearray(out[0] if out else raw)
                b[i] ^= mask
                out = [bytes(b)] * len(out)
                e.update(byte=i, mask=mask)
            elif f.kind == "drop":
                out = []
            elif f.kind == "duplicate":
                out = out * 2
            fired.append((f, e))
        return out, fired

    def _log(self, conn, d, entry):
        entry = dict(entry, direction=d, connection=conn.number)
        with self._lock:
            entry["at"] = len(self.log)
            self.log.append(entry)
        return entry

    def _record(self, conn, d, fault, entry):
        entry = self._log(conn, d, entry)
        if fault.on_fire is not None:
            fault.on_fire(entry)

