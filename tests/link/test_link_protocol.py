"""The serial link end to end against the device's own C server on the host
(ASan): handshake, deploy with the hash verified from flash, the no-op
redeploy, A/B slots and rollback, resume after a disconnect (RAM) and after a
power cut mid-write (flash journal), a wrong hash, staged RUN requests at
the app's limits, and a line that is dead or closes. Also the client's
window and resend timeout on model lines (no socket: exact arithmetic)."""
import socket
import threading

import pytest
import serial

from thimble.link import format as F
from thimble.link.client import RTO_MIN_S, LineEstimate, LinkClient, LinkError

SECTOR = 4096


def who_answers(link):
    """The SHA-256 the server computes from the active slot's flash (its RUN handler says it)."""
    _, out = link.run_raw(b"?")
    return out.split(b":", 1)[0].decode()


def test_hello_reports_version_board_limits_and_slots(link):
    h = link.hello()
    assert (h["version"], h["board"], h["window"], h["max_payload"], h["sector"]) == (F.VERSION, "host", F.WINDOW,
                                                                                    F.MAX_PAYLOAD, SECTOR)
    assert (h["max_request"], h["max_output"]) == (F.MAX_REQUEST, F.MAX_OUTPUT)
    assert h["slot_size"] == ((1 << 20) - 2 * SECTOR) // 2 // SECTOR * SECTOR and h["active"] is None
    assert [s["state"] for s in h["slots"]] == ["EMPTY", "EMPTY"]


def test_deploy_is_verified_from_flash_and_the_same_image_is_a_noop(link, imgs):
    a, _ = imgs
    seen = []
    res = link.deploy(a, progress=lambda done, total: seen.append((done, total)))
    assert (res.status, res.slot, res.bytes_sent, res.resumed_from, res.retransmits) == ("deployed", 0, len(a), 0, 0)
    assert seen[0] == (0, len(a)) and seen[-1] == (len(a), len(a)) and len(seen) > 10
    assert who_answers(link) == a[32:64].hex() == res.sha256
    s = link.hello()["slots"][0]
    assert (s["state"], s["image_size"], s["written"], s["sha256"]) == ("ACTIVE", len(a), len(a), a[32:64].hex())
    again = link.deploy(a)
    assert (again.status, again.slot, again.bytes_sent) == ("same", 0, 0) and again.wire_bytes < 200


def test_a_new_image_goes_to_the_other_slot_and_rollback_switches_back(link, imgs):
    a, b = imgs
    with pytest.raises(LinkError) as e:
        link.rollback()
    assert e.value.status == "E_STATE"                    # nothing to roll back to
    assert link.deploy(a).slot == 0
    with pytest.raises(LinkError):
        link.rollback()                                   # one valid slot only
    assert link.deploy(b).slot == 1 and who_answers(link) == b[32:64].hex()
    assert link.rollback() == 0 and who_answers(link) == a[32:64].hex()
    assert link.rollback() == 1 and who_answers(link) == b[32:64].hex()
    assert [s["state"] for s in link.hello()["slots"]] == ["VALID", "ACTIVE"]


class Unplugged(Exception):
    pass


def test_a_disconnect_mid_transfer_resumes_from_what_the_device_received(server, connect, imgs):
    a, _ = imgs
    first = connect(server)

    def unplug(done, total):
        if done >= total // 3:
            raise Unplugged(done)
    with pytest.raises(Unplugged) as cut:
        first.deploy(a, progress=unplug)
    first.ser.close()
    got = cut.value.args[0]
    second = connect(server)                             # the server serves one connection at a time
    res = second.deploy(a)
    # the device stayed up: it resumes from RAM (its sector buffer included), past the last ack seen
    assert got <= res.resumed_from < len(a) and res.bytes_sent == len(a) - res.resumed_from
    assert res.status == "deployed" and who_answers(second) == a[32:64].hex()


def test_a_power_cut_mid_write_keeps_the_old_model_and_resumes_from_the_journal(start_server, connect, imgs,
                                                                               tmp_path):
    a, b = imgs
    flash = tmp_path / "flash.bin"
    srv = start_server(flash)
    assert connect(srv).deploy(a).status == "deployed"
    srv.kill()
    # B's programs: its BEGIN record, 8 sectors, a PROGRESS record, then sector 9 is cut half written
    srv = start_server(flash, cut_after_programs=10)
    with pytest.raises(LinkError) as e:
        connect(srv, timeout=0.5, retries=1).deploy(b)
    assert e.value.status in ("CLOSED", "TIMEOUT")
    assert srv.wait() == 3 and "power cut" in srv.log()
    srv = start_server(flash)
    link = connect(srv)
    h = link.hello()
    assert h["active"] == 0 and who_answers(link) == a[32:64].hex()          # the old model answers
    part = h["slots"][1]
    assert (part["state"], part["sha256"], part["written"]) == ("PARTIAL", b[32:64].hex(), 8 * SECTOR)
    res = link.deploy(b)
    assert (res.resumed_from, res.bytes_sent) == (8 * SECTOR, len(b) - 8 * SECTOR)
    assert who_answers(link) == b[32:64].hex()


def test_a_wrong_hash_is_refused_and_the_previous_model_stays(link, imgs):
    a, b = imgs
    link.deploy(a)
    bad = bytearray(b)
    bad[-100] ^= 1                                       # a byte changed in transit: B's hash, other bytes
    with pytest.raises(LinkError) as e:
        link.deploy(bytes(bad))                          # the host refuses it first
    assert e.value.status == "E_IMAGE" and "SHA-256" in str(e.value)
    with pytest.raises(LinkError) as e:
        link.deploy(bytes(bad), check=False)             # the device's own check
    assert e.value.status == "E_HASH"
    assert link.hello()["active"] == 0 and who_answers(link) == a[32:64].hex()
    res = link.deploy(b)                                 # never resumed onto bytes that did not hash
    assert (res.status, res.resumed_from, res.slot) == ("deployed", 0, 1)


@pytest.mark.parametrize("data, what", [(b"", "shorter than"), (b"THIM" + bytes(200), "magic"),
                                        (b"hello world" * 30, "magic")])
def test_what_is_not_an_image_is_refused_before_sending(link, data, what):
    with pytest.raises(LinkError) as e:
        link.deploy(data)
    assert e.value.status == "E_IMAGE" and what in str(e.value) and link.wire_bytes == 0


def test_an_image_larger_than_a_slot_is_refused(start_server, connect, imgs, tmp_path):
    a, _ = imgs
    link = connect(start_server(tmp_path / "small.bin", flash_size=32 * SECTOR))   # 15-sector slots
    with pytest.raises(LinkError) as e:
        link.deploy(a)                                   # the host knows the slot size from HELLO
    assert e.value.status == "E_SIZE" and "holds 61,440" in str(e.value)
    with pytest.raises(LinkError) as e:
        link.begin(len(a), a[32:64])                     # and the device checks it too
    assert e.value.status == "E_SIZE"


def test_staged_requests_up_to_the_apps_limit_and_outputs_read_in_parts(link, imgs):
    link.deploy(imgs[0])
    for n in (1, F.REQ_CHUNK, F.REQ_CHUNK + 1, F.MAX_REQUEST):
        req = bytes((i * 7 + n) & 0xFF for i in range(n))
        head, out = link.run_raw(req)
        keep = min(n, F.MAX_OUTPUT - 65)
        assert head["out_len"] == len(out) == 65 + keep and out[65:] == req[:keep] and head["prompt_tokens"] == n
    with pytest.raises(LinkError) as e:
        link.run_raw(bytes(F.MAX_REQUEST + 1))
    assert e.value.status == "E_PROMPT"


def test_a_silent_line_times_out_with_a_clear_message():
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    held = []
    threading.Thread(target=lambda: held.append(ls.accept()), daemon=True).start()
    with serial.serial_for_url(f"socket://127.0.0.1:{ls.getsockname()[1]}") as ser:
        with pytest.raises(LinkError) as e:
            LinkClient(ser, timeout=0.2, retries=1).hello()
    assert e.value.status == "TIMEOUT" and "no reply to HELLO after 2 tries" in str(e.value)
    ls.close()


def test_a_line_that_closes_says_so(server, connect):
    link = connect(server)
    link.hello()
    server.kill()
    with pytest.raises(LinkError) as e:
        link.hello()
    assert e.value.status == "CLOSED"


def stream(pace, latency, frames=300, cap=16, timeout=2.0):
    """Stream `frames` through a LineEstimate on a model line: the device takes
    `pace` s per frame, one after another, and a frame's ACK arrives `latency`
    s after the frame's end. -> (the estimate, when the last ACK arrived)."""
    line = LineEstimate(cap, timeout)
    sent_at, ends, now, acked = [], [], 0.0, 0
    while acked < frames:
        while len(ends) < frames and len(ends) - acked < line.window:
            sent_at.append(now)
            ends.append(max(now, ends[-1] if ends else 0.0) + pace)
        now = ends[acked] + latency
        acked += 1
        line.acked(now, acked, now - sent_at[acked - 1])
    return line, now


@pytest.mark.parametrize("pace, latency, window", [
    (1046 * 10 / 921600, 0.0005, (3, 4)),       # a serial line: a frame's round trip is about its own time
    (1046 * 10 / 115200, 0.003, (3, 4)),
    (0.01, 0.08, (10, 12)),                     # a slow answer (QEMU's UART, a radio): 9 frames in flight
    (0.01, 0.5, (16, 16)),                      # more than the device takes: its window
])
def test_the_window_is_what_the_line_holds_and_keeps_it_busy(pace, latency, window):
    assert LineEstimate(16, 2.0).window == 4                    # it starts small: a loss early costs little
    line, done = stream(pace, latency)
    assert window[0] <= line.window <= window[1]
    if line.window < 16:                                        # (a full device window is what it is)
        ramp = 0 if latency < pace else 4 * (pace + latency)    # doubling from 2 takes a few round trips
        assert done <= 300 * pace + latency + ramp + 1e-9, "the line stood idle"


def test_the_resend_timeout_follows_the_round_trips_between_a_floor_and_the_configured_timeout():
    assert LineEstimate(16, 2.0).rto == 2.0                     # nothing measured yet
    assert stream(0.0001, 0.0001)[0].rto == RTO_MIN_S           # a fast line: the floor
    line, _ = stream(0.01, 0.3)
    assert RTO_MIN_S < line.rto < 2.0 and line.rto >= line.srtt >= line.rtt_min
    assert stream(0.5, 2.0, frames=20)[0].rto == 2.0            # a slow one: never past the configured timeout
    fast, _ = stream(0.0001, 0.0001)
    fast.spurious(0.3)                                          # a stall that was no loss: wait longer
    assert fast.rto == 0.6
    fast.spurious(5.0)
    assert fast.rto == 2.0


def test_a_loss_ends_the_doubling():
    """On a noisy line most frames are sent again, and the ACK of a resent
    frame times nothing (Karn), so no round trip may come back slow enough to
    end the doubling: the window grew to the device's 16 and each loss cost
    15 frames. A loss ends it; the measured window takes over once a round
    trip and the pace are known."""
    def run(lose):
        line = LineEstimate(16, 2.0)
        if lose:
            line.lost()
        for k in range(1, 41):
            line.acked(0.09 * k, k)                             # frames that were all resent: no round trip
        grown = line.window
        line.acked(0.09 * 41, 41, 0.2)                          # one sent once: a round trip of 0.2 s
        return grown, line.window
    assert run(lose=False) == (16, 16)                          # still doubling: nothing showed a queue
    assert run(lose=True) == (4, 5)                             # START, then ceil(0.2 / 0.09) + MARGIN
