"""Hostile frames against the device's link server (host build, ASan): each
gets an ERROR reply naming what was wrong, and the server keeps answering
HELLO. Then seeded random frames and noise: the server stays up, clean under
the sanitizers, and a deploy and a RUN still work afterwards."""
import random
import struct
import zlib

import pytest

from link_harness import CMD, ST, exchange, frame
from thimble.link import codec
from thimble.link import format as F

ERROR = CMD["ERROR"] | F.REPLY
BIG = 0xFFFFFFFF


def bad_crc(seq):
    f = bytearray(frame("HELLO", seq))
    f[-1] ^= 0xFF
    return bytes(f)


def bad_length(seq):
    return F.MAGIC + struct.pack(F.HEADER_FMT, CMD["HELLO"], 0, seq, F.MAX_PAYLOAD + 1) + bytes(4)


def req(offset, total, n=0):
    return codec.pack("REQ", offset, total, tail=bytes(n))


def data(offset, n=F.DATA_CHUNK):
    return codec.pack("DATA", offset, bytes(4), tail=bytes(n))


# (name, frames sent first to set the scene, the hostile frame, the expected reply seq and status)
CASES = [
    ("bad CRC", [], bad_crc(9), 9, "E_CRC"),            # the header read: its seq names the frame
    ("length over MAX_PAYLOAD", [], bad_length(9), 0, "E_LENGTH"),
    ("unknown command", [], frame(0x42, 9), 9, "E_CMD"),
    ("a reply sent to the device", [], frame(CMD["HELLO"] | F.REPLY, 9), 9, "E_CMD"),
    ("HELLO with a payload", [], frame("HELLO", 9, b"x"), 9, "E_LENGTH"),
    ("BEGIN too short", [], frame("BEGIN", 9, bytes(35)), 9, "E_LENGTH"),
    ("BEGIN of an empty image", [], frame("BEGIN", 9, codec.pack("BEGIN", 0, bytes(32))), 9, "E_SIZE"),
    ("BEGIN larger than a slot", [], frame("BEGIN", 9, codec.pack("BEGIN", BIG, bytes(32))), 9, "E_SIZE"),
    ("DATA without BEGIN", [], frame("DATA", 9, data(0)), 9, "E_STATE"),
    ("DATA with no bytes", [], frame("DATA", 9, data(0, 0)), 9, "E_LENGTH"),
    ("COMMIT without BEGIN", [], frame("COMMIT", 9), 9, "E_STATE"),
    ("ABORT with a payload", [], frame("ABORT", 9, b"\0"), 9, "E_LENGTH"),
    ("REQ of total 0", [], frame("REQ", 9, req(0, 0)), 9, "E_PROMPT"),
    ("REQ over MAX_REQUEST", [], frame("REQ", 9, req(0, F.MAX_REQUEST + 1, 8)), 9, "E_PROMPT"),
    ("REQ of total 2^32-1", [], frame("REQ", 9, req(0, BIG, 8)), 9, "E_PROMPT"),
    ("REQ past its total", [], frame("REQ", 9, req(90, 100, 20)), 9, "E_LENGTH"),
    ("REQ offset that wraps", [], frame("REQ", 9, req(BIG - 4, 100, 8)), 9, "E_LENGTH"),
    ("REQ part over REQ_CHUNK", [], frame("REQ", 9, req(0, 4000, F.REQ_CHUNK + 1)), 9, "E_LENGTH"),
    ("REQ leaving a hole", [frame("REQ", 8, req(0, 3000, 1000))], frame("REQ", 9, req(2000, 3000, 10)), 9,
     "E_STATE"),
    ("REQ with another total", [frame("REQ", 8, req(0, 3000, 1000))], frame("REQ", 9, req(1000, 2999, 10)), 9,
     "E_STATE"),
    ("RUN with nothing staged", [], frame("RUN", 9, codec.pack("RUN", 1, 0)), 9, "E_STATE"),
    ("RUN of a partial stage", [frame("REQ", 8, req(0, 3000, 1000))],
     frame("RUN", 9, codec.pack("RUN", 3000, zlib.crc32(bytes(3000)))), 9, "E_STATE"),
    ("RUN with the wrong CRC", [frame("REQ", 8, req(0, 10, 10))], frame("RUN", 9, codec.pack("RUN", 10, 1)), 9,
     "E_STATE"),
    ("RUN with the wrong length", [frame("REQ", 8, req(0, 10, 10))],
     frame("RUN", 9, codec.pack("RUN", 11, zlib.crc32(bytes(10)))), 9, "E_STATE"),
    ("RUN frame too short", [], frame("RUN", 9, b"\0\0\0"), 9, "E_LENGTH"),
    ("OUT before any RUN", [frame("REQ", 8, req(0, 10, 10))], frame("OUT", 9, codec.pack("OUT", 0)), 9, "E_STATE"),
    ("RUN that the handler fails (no model here)", [frame("REQ", 8, req(0, 10, 10))],
     frame("RUN", 9, codec.pack("RUN", 10, zlib.crc32(bytes(10)))), 9, "E_RUN"),
]
BEGUN = [frame("BEGIN", 8, codec.pack("BEGIN", 5000, bytes(32)))]
CASES += [
    ("DATA offset not on a chunk", BEGUN, frame("DATA", 9, data(100)), 9, "E_LENGTH"),
    ("DATA offset past the image", BEGUN, frame("DATA", 9, data(5120, 8)), 9, "E_LENGTH"),
    ("DATA offset that wraps", BEGUN, frame("DATA", 9, data(0xFFFFFC00)), 9, "E_LENGTH"),
    ("DATA longer than the image", BEGUN, frame("DATA", 9, data(4096, 1000)), 9, "E_LENGTH"),
    ("DATA short in mid-image", BEGUN, frame("DATA", 9, data(0, 100)), 9, "E_LENGTH"),
    ("COMMIT before all DATA", BEGUN, frame("COMMIT", 9), 9, "E_STATE"),
]


@pytest.mark.parametrize("name, scene, hostile, seq, status", CASES, ids=[c[0] for c in CASES])
def test_a_hostile_frame_gets_an_error_reply_and_the_server_keeps_answering(link, name, scene, hostile, seq,
                                                                            status):
    for i, f in enumerate(scene):
        r = exchange(link, f, seq=struct.unpack_from("<H", f, 4)[0])
        assert r is not None and r[0] != ERROR, f"scene frame {i} refused"
    r = exchange(link, hostile, seq=seq)
    assert r is not None, f"{name}: no reply"
    cmd, _, body = r
    assert cmd == ERROR, f"{name}: reply 0x{cmd:02x}"
    assert codec.unpack("ERROR", body)[0]["status"] == ST[status]
    assert link.hello()["version"] == F.VERSION


def test_a_garbled_frame_is_reported_under_its_own_seq_an_unreadable_header_under_none(link):
    """A host tells a report about its outstanding request from one about an
    old frame only by the seq: E_CRC carries the frame's seq and command,
    E_LENGTH (the header itself is damaged) seq 0 and command 0."""
    f = bytearray(frame("DATA", 0x1234, data(0)))
    f[100] ^= 0x10                                           # a payload byte: the header still reads
    assert exchange(link, bytes(f), seq=0x1234) == (ERROR, 0x1234, codec.pack("ERROR", ST["E_CRC"], CMD["DATA"],
                                                                              bytes(2)))
    link.hello()                                            # a good frame ends the resync: the next one reports
    assert exchange(link, bad_length(0x1235), seq=None) == (ERROR, 0, codec.pack("ERROR", ST["E_LENGTH"], 0,
                                                                               bytes(2)))


def test_data_ahead_of_the_next_offset_is_answered_with_a_gap(link):
    exchange(link, BEGUN[0], seq=8)
    cmd, _, body = exchange(link, frame("DATA", 9, data(2048)), seq=9)
    ack, _ = codec.unpack("ACK", body)
    assert cmd == CMD["DATA"] | F.REPLY and (ack["status"], ack["next"]) == (ST["E_GAP"], 0)


def test_out_past_the_output_is_refused_and_reads_within_it_are_not(link, imgs):
    link.deploy(imgs[0])
    head, out = link.run_raw(b"0123456789")
    cmd, _, body = exchange(link, frame("OUT", 9, codec.pack("OUT", 70)), seq=9)
    assert cmd == CMD["OUT"] | F.REPLY and body[8:] == out[70:] == b"56789"
    cmd, _, body = exchange(link, frame("OUT", 10, codec.pack("OUT", head["out_len"] + 1)), seq=10)
    assert cmd == ERROR and codec.unpack("ERROR", body)[0]["status"] == ST["E_LENGTH"]


FIXED = {"HELLO": 0, "BEGIN": 36, "DATA": 8, "COMMIT": 0, "ROLLBACK": 0, "RUN": 8, "ABORT": 0, "REQ": 8, "OUT": 4}
EDGES = [0, 1, 127, 128, 1023, 1024, 4096, 5000, F.MAX_REQUEST, F.MAX_OUTPUT, 0x7FFFFFFF, BIG]


def random_frame(rng, seq):
    """Mostly well-formed frames of a real command with edge-case field values, some of any shape."""
    name = rng.choice(list(FIXED))
    if rng.random() < 0.8:
        fields = struct.pack("<II", *(rng.choice(EDGES + [rng.randrange(1 << 32)]) for _ in range(2)))
        payload = (fields + rng.randbytes(32))[:FIXED[name]]
        if name in ("DATA", "REQ") and rng.random() < 0.7:
            payload += bytes(rng.choice([1, 100, F.DATA_CHUNK, F.DATA_CHUNK + 1]))
        return codec.encode(CMD[name], seq, payload[:F.MAX_PAYLOAD])
    return codec.encode(rng.randrange(256), seq, rng.randbytes(rng.randrange(0, F.MAX_PAYLOAD + 1)))


def test_random_frames_and_noise_leave_the_server_up_and_working(link, imgs):
    rng = random.Random(5)
    for batch in range(60):
        blob = b""
        for i in range(25):
            r = rng.random()
            if r < 0.15:
                blob += rng.randbytes(rng.randrange(1, 300))            # noise
            elif r < 0.25:
                f = bytearray(random_frame(rng, 1000 + i))
                f[rng.randrange(len(f))] ^= 1 << rng.randrange(8)      # one flipped bit
                blob += bytes(f)
            else:
                blob += random_frame(rng, 1000 + i)
        link.ser.write(blob)
        assert link.hello()["version"] == F.VERSION, f"batch {batch}"
    link.abort()
    a, _ = imgs
    assert link.deploy(a).status in ("deployed", "same")
    _, out = link.run_raw(b"still here")
    assert out == a[32:64].hex().encode() + b":still here"
