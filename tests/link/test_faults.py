"""Faults between `thimble deploy`'s client and the real C link server (the
host build, file-backed flash): corrupted, dropped and duplicated frames
each way, disconnects, power cuts at every flash program, a wrong image
hash. After each fault the device answers HELLO with a model that was
deployed whole before (or none), RUN answers from exactly those bytes (the
host server's RUN reports the SHA-256 it computes from the active slot's
flash), and a deploy then completes, resuming where the device says.

Every fault goes through thimble.link.proxy, whose log must show that it
fired: a fault that never happened fails its test."""
import shutil

import pytest
import serial

from thimble.bench.link import random_image
from thimble.link import format as F
from thimble.link.client import RTO_MIN_S, LinkClient, LinkError
from thimble.link.host_server import HostServer
from thimble.link.proxy import Fault, LinkProxy

TIMEOUT = 0.5              # the client's resend timeout: a stall costs this much


@pytest.fixture(scope="module")
def images():
    """(a, b): two ~90 KB models; a is in service before each fault."""
    return random_image(d_model=32, layers=1, seed=7), random_image(d_model=32, layers=1, seed=8)


@pytest.fixture(scope="module")
def flash_with_a(tmp_path_factory, images):
    path = tmp_path_factory.mktemp("flash") / "a.bin"
    with HostServer(path) as url, line(url) as link:
        link.deploy(images[0])
    return path


def sha(image):
    return image[32:64].hex()


class line:
    """A LinkClient on a pyserial socket:// port for a with-block. Hanging up
    closes the socket itself: pyserial's close() then sleeps 0.3 s (for
    quick reconnects), which dozens of reconnects here would add up."""

    def __init__(self, url):
        self.link = LinkClient(serial.serial_for_url(url), timeout=TIMEOUT)

    def __enter__(self):
        return self.link

    def __exit__(self, *exc):
        ser = self.link.ser
        if getattr(ser, "_socket", None) is not None:
            ser._socket.close()
            ser._socket = None
        ser.is_open = False


def state(link):
    """(active image hash from HELLO or None, hash the RUN handler computes from the active slot's flash)."""
    active = link.active_sha()
    if active is None:
        with pytest.raises(LinkError) as e:
            link.run_raw(b"which model?")
        assert e.value.status == "E_RUN"
        return None, None
    _, out = link.run_raw(b"which model?")
    return active, out.split(b":")[0].decode()


def assert_serving(link, allowed):
    """HELLO names a model from `allowed` (None: no model) and RUN answers from those very bytes."""
    active, answering = state(link)
    assert active in allowed, f"active {active} is not one of the models deployed whole"
    assert answering == active


def finish(link, image):
    """A clean deploy completes and the new model answers. -> DeployResult."""
    res = link.deploy(image)
    assert res.status == "deployed" and res.sha256 == sha(image)
    assert res.bytes_sent == res.image_bytes - res.resumed_from
    assert state(link) == (sha(image), sha(image))
    return res


# Faults the client recovers from within one deploy. Each names what it proves
# (a case id); random ones are restricted to DATA and its ACK (the lost
# COMMIT and its reply have their own tests below). A function gets the
# image's number of DATA frames (for the last one).
RECOVERED = {
    "corrupt-data": [Fault("corrupt", cmd="DATA", nth=5)],
    "corrupt-first-data-header": [Fault("corrupt", cmd="DATA", nth=1, byte=4)],
    "corrupt-last-data": lambda frames: [Fault("corrupt", cmd="DATA", offset=(frames - 1) * F.DATA_CHUNK)],
    "corrupt-hello": [Fault("corrupt", cmd="HELLO", nth=1)],
    "corrupt-begin": [Fault("corrupt", cmd="BEGIN", nth=1)],
    "corrupt-commit": [Fault("corrupt", cmd="COMMIT", nth=1, byte=-1)],
    "corrupt-ack": [Fault("corrupt", direction="d2h", cmd="DATA", nth=7)],
    "corrupt-begin-reply": [Fault("corrupt", direction="d2h", cmd="BEGIN", nth=1)],
    "drop-data": [Fault("drop", cmd="DATA", nth=9)],
    "drop-last-data": lambda frames: [Fault("drop", cmd="DATA", offset=(frames - 1) * F.DATA_CHUNK)],
    "drop-begin": [Fault("drop", cmd="BEGIN", nth=1)],
    "drop-ack": [Fault("drop", direction="d2h", cmd="DATA", nth=12)],
    "drop-last-ack": lambda frames: [Fault("drop", direction="d2h", cmd="DATA", nth=frames)],
    "drop-hello-reply": [Fault("drop", direction="d2h", cmd="HELLO", nth=1)],
    "duplicate-data": [Fault("duplicate", cmd="DATA", nth=3, count=4)],
    "duplicate-begin": [Fault("duplicate", cmd="BEGIN", nth=1)],
    "duplicate-commit": [Fault("duplicate", cmd="COMMIT", nth=1)],
    "duplicate-ack": [Fault("duplicate", direction="d2h", cmd="DATA", nth=4)],
    "duplicate-commit-reply": [Fault("duplicate", direction="d2h", cmd="COMMIT", nth=1)],
    "lose-5pct-each-way": [Fault("drop", direction="both", cmd="DATA", rate=0.05, count=None)],
    "corrupt-3pct-each-way": [Fault("corrupt", direction="both", cmd="DATA", rate=0.03, count=None)],
    "everything-at-once": [Fault("drop", cmd="DATA", rate=0.03, count=None),
                           Fault("duplicate", direction="both", cmd="DATA", rate=0.03, count=None),
                           Fault("corrupt", direction="d2h", cmd="DATA", rate=0.03, count=None)],
}


@pytest.mark.parametrize("case", list(RECOVERED))
def test_the_client_recovers_and_the_new_model_answers(case, images, flash_with_a, tmp_path):
    a, b = images
    flash = tmp_path / "flash.bin"
    shutil.copy(flash_with_a, flash)
    with HostServer(flash) as url:
        faults = RECOVERED[case]
        if callable(faults):
            faults = faults(-(-len(b) // F.DATA_CHUNK))
        with LinkProxy(url, faults=faults, seed=3) as px, line(px.url) as link:
            res = link.deploy(b)
        assert px.log, "the fault never fired"
        assert px.errors == []
        assert res.status == "deployed" and res.resumed_from == 0 and res.bytes_sent == len(b)
        if any(e["direction"] == "h2d" and e["cmd"] == "DATA" and e["kind"] != "duplicate" for e in px.log):
            assert res.retransmits >= 1                 # the lost data went again
        with line(url) as link:
            assert_serving(link, {sha(b)})
            assert link.deploy(b).status == "same"


# Faults that end the deploy: the line goes down mid-transfer. The device
# stays up (the host server keeps its RAM state, as a powered board does).
CUTS = {
    "after-30th-data": Fault("cut", cmd="DATA", nth=30),
    "mid-frame": Fault("cut", after_bytes=20_000),
    "device-side-after-10th-ack": Fault("cut", direction="d2h", cmd="DATA", nth=10),
    "at-commit": Fault("cut", cmd="COMMIT", nth=1),
}


@pytest.mark.parametrize("previous", [True, False], ids=["a-in-service", "no-model"])
@pytest.mark.parametrize("case", list(CUTS))
def test_a_disconnect_leaves_the_old_model_and_the_deploy_resumes(case, previous, images, flash_with_a, tmp_path):
    a, b = images
    flash = tmp_path / "flash.bin"
    if previous:
        shutil.copy(flash_with_a, flash)
    allowed = {sha(a)} if previous else {None}
    with HostServer(flash) as url:
        with LinkProxy(url, faults=[CUTS[case]]) as px:
            with line(px.url) as link, pytest.raises(LinkError) as e:
                link.deploy(b)
            assert e.value.status in ("CLOSED", "TIMEOUT")
            assert px.injected("cut"), "the line was never cut"
            if case == "at-commit":                     # the device got COMMIT: b may be in service
                allowed = allowed | {sha(b)}
            with line(px.url) as link:                  # plug the cable back in
                assert_serving(link, allowed)
                res = link.deploy(b)
                assert_serving(link, {sha(b)})
        assert px.connections == 2 and px.errors == []
        if res.status == "deployed":
            assert 0 < res.resumed_from and res.bytes_sent < len(b), "the resumed deploy sent bytes again"
            assert res.bytes_sent == len(b) - res.resumed_from
        else:
            assert case == "at-commit" and res.status == "same"


def test_power_cut_at_every_flash_program_of_a_deploy(images, flash_with_a, tmp_path):
    """The server dies halfway through its Nth flash program, for every N a
    deploy makes (data sectors, journal records, the commit record); on the
    same flash it then serves the old model and a new deploy resumes from
    what the journal proves was written."""
    a, b = images
    resumed, n = [], 0
    while True:
        flash = tmp_path / f"flash{n}.bin"
        shutil.copy(flash_with_a, flash)
        srv = HostServer(flash, cut_after_programs=n)
        url = srv.start()
        try:
            with line(url) as link:
                try:
                    link.deploy(b)
                    done = True
                except LinkError as e:
                    assert e.status in ("CLOSED", "TIMEOUT"), e
                    done = False
            if done:
                break                                   # n is past the last program of a deploy
            assert srv.wait(10) == 3 and "power cut" in srv.log()
        finally:
            srv.stop()
        with HostServer(flash) as url, line(url) as link:    # power back on
            assert_serving(link, {sha(a)})
            resumed.append(finish(link, b).resumed_from)
        n += 1
    assert n >= len(b) // 4096 + 3, f"only {n} flash programs in a deploy"
    assert all(r % 4096 == 0 or r == len(b) for r in resumed), resumed
    assert 0 < max(r for r in resumed if r < len(b)), "no cut resumed mid-image"
    assert resumed[-1] == len(b), "a cut while committing should leave the whole image to commit"


def test_a_wrong_image_hash_is_refused_and_never_resumed(images, flash_with_a, tmp_path):
    a, b = images
    bad = bytearray(b)
    bad[len(b) // 2] ^= 0x01                            # the bytes no longer match the header's hash
    flash = tmp_path / "flash.bin"
    shutil.copy(flash_with_a, flash)
    with HostServer(flash) as url, line(url) as link:
        with pytest.raises(LinkError) as e:
            link.deploy(bytes(bad), check=False)
        assert e.value.status == "E_HASH"
        assert_serving(link, {sha(a)})
        res = finish(link, b)
        assert res.resumed_from == 0, "the device resumed onto bytes that failed their hash"



# Waits that run out: the client records each in `expired` as (command, seconds
# it waited). A lost COMMIT or reply costs one `timeout`, not the device's hash
# budget (COMMIT_WAIT_S), and a stalled window the timeout measured from its ACKs.
def deploy_through(flash_with_a, tmp_path, faults, image, **kw):
    """Deploy `image` over A through a proxy with `faults`. -> (DeployResult or
    LinkError, the proxy, the client, state() on a new connection afterwards)."""
    flash = tmp_path / "flash.bin"
    shutil.copy(flash_with_a, flash)
    with HostServer(flash) as url:
        with LinkProxy(url, faults=faults) as px, line(px.url) as link:
            try:
                res = link.deploy(image, **kw)
            except LinkError as e:
                res = e
        assert px.log, "the fault never fired"
        assert px.errors == []
        with line(url) as check:
            return res, px, link, state(check)


def test_lost_commits_are_resent_after_the_normal_timeout(images, flash_with_a, tmp_path):
    a, b = images
    res, px, link, served = deploy_through(flash_with_a, tmp_path, [Fault("drop", cmd="COMMIT", count=3)], b)
    assert res.status == "deployed" and served == (sha(b), sha(b))
    assert px.frames["h2d"]["COMMIT"] == 4                   # three lost, the fourth answered
    assert list(link.expired) == [("COMMIT", TIMEOUT)] * 3


def test_a_lost_commit_reply_is_settled_by_hello(images, flash_with_a, tmp_path):
    a, b = images
    res, px, link, served = deploy_through(flash_with_a, tmp_path, [Fault("drop", direction="d2h", cmd="COMMIT")], b)
    assert res.status == "deployed" and served == (sha(b), sha(b))
    assert px.frames["h2d"]["COMMIT"] == 2 and px.frames["d2h"]["ERROR_R"] == 1    # the duplicate got E_STATE
    assert list(link.expired) == [("COMMIT", TIMEOUT)]


def test_a_lost_hash_failure_is_still_reported_as_one(images, flash_with_a, tmp_path):
    a, b = images
    bad = bytearray(b)
    bad[len(b) // 2] ^= 0x01
    res, px, link, served = deploy_through(flash_with_a, tmp_path, [Fault("drop", direction="d2h", cmd="COMMIT")],
                                           bytes(bad), check=False)
    assert isinstance(res, LinkError) and res.status == "E_HASH"    # HELLO shows the slot reset, not a commit
    assert served == (sha(a), sha(a)) and list(link.expired) == [("COMMIT", TIMEOUT)]


@pytest.mark.parametrize("fault, sent", [(Fault("corrupt", cmd="ROLLBACK"), 2),
                                         (Fault("drop", cmd="ROLLBACK"), 2),
                                         (Fault("drop", direction="d2h", cmd="ROLLBACK"), 1)],
                         ids=["garbled", "lost", "reply-lost"])
def test_rollback_is_sent_again_only_when_hello_shows_it_did_not_happen(fault, sent, images, flash_with_a, tmp_path):
    a, b = images
    flash = tmp_path / "flash.bin"
    shutil.copy(flash_with_a, flash)
    with HostServer(flash) as url:
        with line(url) as link:
            link.deploy(b)
        with LinkProxy(url, faults=[fault]) as px, line(px.url) as link:
            slot = link.rollback()
        assert px.log and px.errors == []
        assert px.frames["h2d"]["ROLLBACK"] == sent        # never twice when the first one happened
        with line(url) as link:
            assert link.hello()["active"] == slot
            assert_serving(link, {sha(a)})


@pytest.mark.parametrize("direction", ["h2d", "d2h"], ids=["last-data", "last-ack"])
def test_a_stall_at_the_end_waits_the_measured_timeout_not_the_configured_one(direction, images, flash_with_a,
                                                                            tmp_path):
    a, b = images
    last = -(-len(b) // F.DATA_CHUNK)
    fault = Fault("drop", direction=direction, cmd="DATA", nth=last)
    res, px, link, served = deploy_through(flash_with_a, tmp_path, [fault], b)
    assert res.status == "deployed" and served == (sha(b), sha(b)) and res.retransmits >= 1
    (cmd, waited), = link.expired
    assert cmd == "DATA" and RTO_MIN_S <= waited < TIMEOUT


def test_a_lost_frame_costs_the_frames_in_flight_on_a_paced_line(images, flash_with_a, tmp_path):
    """At 921600 baud one DATA frame's round trip is about its own time on the
    wire, so the client keeps 3 or 4 in flight, and a loss resends those
    instead of the device's whole window of 16. (Up to 8 are allowed: the
    window is sized from measured round trips, which a loaded machine
    stretches; 16 would mean no sizing at all.)"""
    a, b = images
    flash = tmp_path / "flash.bin"
    shutil.copy(flash_with_a, flash)
    with HostServer(flash) as url:
        with LinkProxy(url, baud=921600, faults=[Fault("drop", cmd="DATA", nth=40)]) as px, line(px.url) as link:
            res = link.deploy(b)
        assert px.injected("drop") and px.errors == []
    assert res.status == "deployed" and 2 <= res.window <= 8
    assert 1 <= res.retransmits <= res.window
