"""The fault-injecting proxy on its own, against a recording TCP peer: bytes
pass unchanged, each fault does exactly what its log says, seeded loss
repeats, and pacing never lets bytes through faster than the line rate."""
import socket
import threading
import time

import pytest

from thimble.link import codec
from thimble.link import format as F
from thimble.link.proxy import Fault, LinkProxy, line_rate

DATA = F.COMMANDS["DATA"]


class Peer:
    """A TCP server that records what each connection sent and sends
    `greeting` to each new connection (the device side of a test)."""

    def __init__(self, greeting=b""):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.sock.getsockname()[1]}"
        self.greeting, self.got, self.closed = greeting, [], []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            buf, done = bytearray(), threading.Event()
            self.got.append(buf)
            self.closed.append(done)
            threading.Thread(target=self._conn, args=(c, buf, done), daemon=True).start()

    def _conn(self, c, buf, done):
        with c:
            c.sendall(self.greeting)
            while True:
                try:
                    b = c.recv(65536)
                except OSError:
                    b = b""
                if not b:
                    done.set()
                    return
                buf += b

    def wait_closed(self, i=0, timeout=10):
        deadline = time.monotonic() + timeout
        while len(self.closed) <= i:
            assert time.monotonic() < deadline, "no connection reached the peer"
            time.sleep(0.01)
        assert self.closed[i].wait(timeout), "the connection to the peer stayed open"
        return bytes(self.got[i])

    def close(self):
        self.sock.close()


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


def data_frame(seq, offset, fill):
    return codec.encode(DATA, seq, codec.pack("DATA", offset, bytes(4), tail=bytes([fill]) * F.DATA_CHUNK))


def frames_of(stream):
    dec = codec.Decoder()
    return dec.feed(stream), dec.errors


def send_through(px, payload, pieces=1):
    """Connect to the proxy, send payload in `pieces` writes, then close."""
    with socket.create_connection(("127.0.0.1", px.port)) as c:
        step = -(-len(payload) // pieces)
        for i in range(0, len(payload), step):
            c.sendall(payload[i:i + step])
            time.sleep(0.005)
        time.sleep(0.05)


def run(peer, payload, faults=(), pieces=1, seed=0, baud=None):
    with LinkProxy(peer.url, faults=list(faults), seed=seed, baud=baud) as px:
        send_through(px, payload, pieces)
        got = peer.wait_closed()
    assert px.errors == []
    return px, got


def stream(n=8):
    return b"".join(data_frame(i + 1, i * F.DATA_CHUNK, i) for i in range(n))


def test_bytes_and_frames_pass_unchanged_whatever_the_write_sizes(peer):
    noise = b"boot log\r\n" + F.MAGIC + b"\x00" * 3 + F.MAGIC[:1]   # a MAGIC that starts no frame
    payload = noise + stream(4) + b"\xa5" + stream(2) + F.MAGIC
    with LinkProxy(peer.url) as px:
        send_through(px, payload, pieces=37)
        got = peer.wait_closed()
    assert got == payload
    assert px.frames["h2d"] == {"DATA": 6} and px.log == [] and px.errors == []


def test_a_stalled_partial_frame_is_forwarded_as_it_is(peer):
    part = stream(1)[:500]
    with LinkProxy(peer.url) as px, socket.create_connection(("127.0.0.1", px.port)) as c:
        c.sendall(part)
        deadline = time.monotonic() + 10
        while not peer.got or len(peer.got[0]) < len(part):
            assert time.monotonic() < deadline, "a partial frame was held for good"
            time.sleep(0.02)
    assert bytes(peer.got[0]) == part


def test_drop_the_nth_data_frame(peer):
    px, got = run(peer, stream(6), [Fault("drop", cmd="DATA", nth=3)], pieces=5)
    frames, errors = frames_of(got)
    assert [codec.unpack("DATA", p)[0]["offset"] for _, _, p in frames] == [0, 1024, 3072, 4096, 5120]
    assert errors == 0
    assert [(e["kind"], e["offset"], e["seq"]) for e in px.log] == [("drop", 2048, 3)]


def test_drop_by_offset_and_count(peer):
    s = stream(3)
    px, got = run(peer, s + s, [Fault("drop", cmd="DATA", offset=1024, count=2)])
    offs = [codec.unpack("DATA", p)[0]["offset"] for _, _, p in frames_of(got)[0]]
    assert offs == [0, 2048, 0, 2048]
    assert len(px.injected("drop")) == 2


def test_duplicate_the_nth_frame(peer):
    px, got = run(peer, stream(3), [Fault("duplicate", cmd="DATA", nth=2)])
    assert [seq for _, seq, _ in frames_of(got)[0]] == [1, 2, 2, 3]
    assert px.injected("duplicate")[0]["seq"] == 2


def test_corrupt_flips_one_bit_and_the_frame_fails_its_crc(peer):
    s = stream(3)
    px, got = run(peer, s, [Fault("corrupt", cmd="DATA", nth=2, byte=100)])
    (e,) = px.injected("corrupt")
    assert len(got) == len(s)
    diff = [i for i in range(len(s)) if got[i] != s[i]]
    first = len(data_frame(1, 0, 0))
    assert diff == [first + 100] and got[diff[0]] ^ s[diff[0]] == e["mask"]
    frames, errors = frames_of(got)
    assert [seq for _, seq, _ in frames] == [1, 3] and errors >= 1


def test_corrupt_a_random_byte_is_seeded(peer):
    logs = []
    for _ in range(2):
        px, _ = run(peer, stream(2), [Fault("corrupt", cmd="DATA", nth=1)], seed=11)
        logs.append([(e["byte"], e["mask"]) for e in px.log])
        peer.got.clear()
        peer.closed.clear()
    assert logs[0] == logs[1] and len(logs[0]) == 1


def test_random_loss_is_seeded_and_near_its_rate(peer):
    s = stream(200)
    dropped = []
    for seed in (5, 5, 6):
        px, got = run(peer, s, [Fault("drop", cmd="DATA", rate=0.1, count=None)], seed=seed, pieces=7)
        lost = [e["offset"] for e in px.injected("drop")]
        kept = {codec.unpack("DATA", p)[0]["offset"] for _, _, p in frames_of(got)[0]}
        assert kept.isdisjoint(lost) and len(kept) + len(lost) == 200
        dropped.append(lost)
        peer.got.clear()
        peer.closed.clear()
    assert dropped[0] == dropped[1] != dropped[2]
    assert 5 <= len(dropped[0]) <= 40


def test_cut_after_the_nth_frame_closes_both_sides(peer):
    with LinkProxy(peer.url, faults=[Fault("cut", cmd="DATA", nth=2)]) as px, \
            socket.create_connection(("127.0.0.1", px.port)) as c:
        c.sendall(stream(4))
        c.settimeout(10)
        assert c.recv(1) == b""               # the client sees the line go down
        got = peer.wait_closed()
    assert [seq for _, seq, _ in frames_of(got)[0]] == [1, 2]
    assert [e["kind"] for e in px.log] == ["cut"]


def test_cut_after_bytes_closes_mid_frame_then_a_new_connection_works(peer):
    s = stream(3)
    with LinkProxy(peer.url, faults=[Fault("cut", after_bytes=1500)]) as px:
        send_through(px, s)
        assert peer.wait_closed(0) == s[:1500]
        send_through(px, s)                   # the cut fired once: the next line is clean
        assert peer.wait_closed(1) == s
    assert px.connections == 2 and px.injected("cut")[0]["connection"] == 1


def test_device_to_host_faults_and_on_fire():
    replies = b"".join(codec.encode(DATA | F.REPLY, i, codec.pack("ACK", 0, bytes(3), i * 1024))
                       for i in range(1, 6))
    seen = []
    p = Peer(greeting=replies)
    try:
        with LinkProxy(p.url, faults=[Fault("drop", direction="d2h", cmd="DATA", nth=2, on_fire=seen.append),
                                      Fault("duplicate", direction="both", cmd="DATA", nth=4)]) as px, \
                socket.create_connection(("127.0.0.1", px.port)) as c:
            c.settimeout(10)
            got = b""
            while len(frames_of(got)[0]) < 5:
                b = c.recv(4096)
                assert b, "the proxy closed early"
                got += b
    finally:
        p.close()
    assert [seq for _, seq, _ in frames_of(got)[0]] == [1, 3, 4, 4, 5]
    assert [e["cmd"] for e in px.log] == ["DATA_R", "DATA_R"] and seen == px.log[:1]


def test_pacing_is_never_faster_than_the_line():
    s = stream(12)                            # 12.5 KB
    baud = 921600
    p = Peer()
    try:
        with LinkProxy(p.url, baud=baud) as px:
            t0 = time.monotonic()
            send_through(px, s)
            got = p.wait_closed()
            elapsed = time.monotonic() - t0
    finally:
        p.close()
    assert got == s
    assert elapsed >= (len(s) - 0.004 * line_rate(baud)) / line_rate(baud)


@pytest.mark.parametrize("kw, msg", [
    ({"kind": "explode"}, "fault kind"),
    ({"kind": "drop", "direction": "up"}, "direction"),
    ({"kind": "drop", "cmd": "NOPE"}, "unknown command"),
    ({"kind": "drop", "rate": 1.5}, "rate"),
    ({"kind": "drop", "nth": 0}, "nth"),
    ({"kind": "drop", "after_bytes": 10}, "after_bytes"),
])
def test_bad_faults_are_refused(kw, msg):
    with pytest.raises(ValueError, match=msg):
        Fault(**kw)


def test_bad_upstream_is_refused():
    with pytest.raises(ValueError, match="upstream"):
        LinkProxy("serial:///dev/ttyS0")
