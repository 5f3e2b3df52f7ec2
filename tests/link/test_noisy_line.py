"""A deploy over a line with byte errors completes: the outside pass's
finding was that at ~5e-4 dropped or flipped bytes, CRC-failure reports for
old DATA frames (then sent with seq 0, so they named no frame) arrived after
the stream and each one spent a COMMIT or HELLO try, so 3 of 26 deploys
failed with "no reply to HELLO after 6 tries" while the device held every
byte. Here 20 seeded deploys per byte error rate, through the proxy's byte
noise (half drops, half flips, both ways) against the real C server (ASan),
must all commit the image whole. Then the rules behind it, each alone: a
reply that does not answer the outstanding request never spends a try, an
E_CRC naming it resends at once, and a deploy the line fails resumes."""
import pytest
import serial

from thimble.bench.link import random_image
from thimble.link import codec
from thimble.link import format as F
from thimble.link.client import RESUMES, LinkClient, LinkError
from thimble.link.host_server import HostServer
from thimble.link.proxy import ByteNoise, LinkProxy

SEEDS = range(20)


@pytest.fixture(scope="module")
def image():
    return random_image(d_model=32, layers=1, seed=9)


@pytest.mark.parametrize("rate", [1e-4, 5e-4])
def test_deploy_completes_on_a_noisy_line(rate, image, tmp_path):
    failed, noise = [], {"drop": 0, "flip": 0}
    for seed in SEEDS:
        with HostServer(tmp_path / f"flash{seed}.bin", asan=True) as url, \
                LinkProxy(url, seed=seed, noise=ByteNoise(drop=rate / 2, flip=rate / 2)) as px:
            ser = serial.serial_for_url(px.url)
            try:
                link = LinkClient(ser, timeout=0.3)
                try:
                    res = link.deploy(image)
                    assert res.status == "deployed" and res.sha256 == image[32:64].hex()
                    assert link.active_sha() == image[32:64].hex()
                except Exception as e:          # collect, so the figure says how many of 20
                    failed.append((seed, f"{type(e).__name__}: {e}"))
            finally:
                ser.close()
            for d in px.noise_count.values():
                for k in noise:
                    noise[k] += d[k]
    assert noise["drop"] > 0 and noise["flip"] > 0          # the noise really hit the line
    assert not failed, f"{len(failed)} of {len(SEEDS)} deploys failed: {failed}"


class ScriptedPort:
    """A pyserial-like port whose device answers each frame the client writes
    with the frames `answer(cmd, seq, copy)` returns (copy: 1 for the first
    frame with that seq, 2 for a resend under it)."""

    def __init__(self, answer):
        self.answer, self.timeout, self.rx, self.copies = answer, None, bytearray(), {}
        self.dec = codec.Decoder()

    def write(self, data):
        for cmd, seq, _ in self.dec.feed(data):
            self.copies[seq] = self.copies.get(seq, 0) + 1
            for reply in self.answer(cmd, seq, self.copies[seq]):
                self.rx += reply
        return len(data)

    @property
    def in_waiting(self):
        return len(self.rx)

    def read(self, n=1):
        out = bytes(self.rx[:n])
        del self.rx[:n]
        return out


def hello_reply(seq):
    head = codec.pack("HELLO_R", F.VERSION, F.MAX_PAYLOAD, F.WINDOW, 1, 0xFF, 1 << 16, 4096, F.MAX_REQUEST,
                      F.MAX_OUTPUT, b"fake")
    empty = codec.pack("SLOT_INFO", F.SLOT_STATES["EMPTY"], bytes(3), 0, 0, 0, bytes(32))
    return codec.encode(F.COMMANDS["HELLO"] | F.REPLY, seq, head + empty)


def error_reply(seq, status, cmd=0):
    return codec.encode(F.COMMANDS["ERROR"] | F.REPLY, seq, codec.pack("ERROR", F.STATUS[status], cmd, bytes(2)))


def test_replies_to_other_frames_never_spend_a_try():
    """Before each answer come E_CRC reports for old DATA frames (as after a
    noisy stream) and seq 0 reports: with no retry to spare, HELLO is still
    answered on its first copy, and each such reply is counted."""
    def answer(cmd, seq, copy):
        old = [error_reply((seq - k - 1) % 0xFFFF + 1, "E_CRC", F.COMMANDS["DATA"]) for k in range(1, 31)]
        return old + [error_reply(0, "E_LENGTH")] * 10 + [hello_reply(seq)]
    port = ScriptedPort(answer)
    link = LinkClient(port, timeout=0.2, retries=0)
    for _ in range(3):
        assert link.hello()["board"] == "fake"
    assert (link.stale, link.unsequenced, list(link.expired)) == (90, 30, [])
    assert set(port.copies.values()) == {1}                 # nothing was resent


def test_a_garbled_copy_of_the_request_is_resent_at_once():
    """E_CRC under the outstanding request's own seq: that frame arrived
    damaged, so it goes again under the same seq without waiting a timeout
    or spending a try."""
    port = ScriptedPort(lambda cmd, seq, copy: [error_reply(seq, "E_CRC", cmd) if copy < 3 else hello_reply(seq)])
    link = LinkClient(port, timeout=5.0, retries=0)
    assert link.hello()["board"] == "fake"
    assert (list(port.copies.values()), link.garbled, list(link.expired)) == ([3], 2, [])


def test_a_deploy_the_line_fails_resumes_from_what_the_device_holds(link, imgs):
    """A stream that times out halfway (the progress callback raises what a
    dead line raises) is taken up again: HELLO, BEGIN resumes from the
    device's offset, the image commits whole and nothing is sent twice."""
    a, _ = imgs
    seen, failed = [], []

    def progress(done, total):
        seen.append(done)
        if done >= total // 2 and not failed:
            failed.append(done)
            raise LinkError("DATA: the line or the device is dead", "TIMEOUT")
    res = link.deploy(a, progress=progress)
    assert (res.status, res.resumes, res.bytes_sent) == ("deployed", 1, len(a))
    resumed = seen[seen.index(failed[0]) + 1]               # frames in flight may have landed since
    assert failed[0] <= resumed < len(a)                    # the resume starts where the device was
    assert link.active_sha() == a[32:64].hex()
    assert res.wire_bytes < 1.1 * len(a)


def test_a_deploy_the_line_keeps_failing_gives_up_after_its_resumes(link, imgs):
    a, _ = imgs

    def progress(done, total):
        if done:
            raise LinkError("DATA: the line or the device is dead", "TIMEOUT")
    with pytest.raises(LinkError) as e:
        link.deploy(a, progress=progress)
    assert e.value.status == "TIMEOUT" and link.resumes == RESUMES
