"""The link's one table: the C header and docs/protocol.md's tables are
rendered from format.py and fresh; the Python codec round-trips frames and
resynchronises past noise and corrupted frames."""
import subprocess
import sys

from link_harness import ROOT
from thimble.link import codec
from thimble.link import format as F


def test_generated_header_and_doc_tables_are_fresh():
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_link_format.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_codec_round_trips_and_resyncs_past_noise():
    frames = [codec.encode(F.COMMANDS["DATA"], 7, bytes(range(256)) * 4), codec.encode(F.COMMANDS["HELLO"], 8)]
    bad = bytearray(frames[0])
    bad[20] ^= 1
    dec = codec.Decoder()
    got = dec.feed(b"boot banner \xa5\xa5\x5a" + bytes(bad) + frames[0][:5])
    got += dec.feed(frames[0][5:] + frames[1])
    assert got == [(F.COMMANDS["DATA"], 7, bytes(range(256)) * 4), (F.COMMANDS["HELLO"], 8, b"")]
    assert dec.errors >= 1


def test_a_damaged_length_does_not_hold_the_frames_behind_it():
    """A bad byte that leaves a reply's length within bounds (ACK: 8 -> 520)
    must not hold the replies behind it until 520 bytes came (27 ACKs: on a
    serial line that is seconds of stalls, or every HELLO try): the first
    whole good frame after it proves that header false."""
    acks = [codec.encode(F.COMMANDS["DATA"] | F.REPLY, s, codec.pack("ACK", 0, bytes(3), 1024 * s))
            for s in range(1, 6)]
    bad = bytearray(acks[0])
    bad[7] ^= 0x02                                  # the length's high byte
    dec = codec.Decoder()
    assert dec.feed(bytes(bad)) == []
    assert [s for _, s, _ in dec.feed(acks[1])] == [2]
    assert [s for _, s, _ in dec.feed(b"".join(acks[2:]))] == [3, 4, 5]
    assert dec.errors == 1
    whole = codec.encode(F.COMMANDS["HELLO"] | F.REPLY, 9, bytes(range(148)))
    for cut in range(1, len(whole)):                # a good frame arriving piecemeal is never dropped
        assert dec.feed(whole[:cut]) == []
        assert dec.feed(whole[cut:]) == [(F.COMMANDS["HELLO"] | F.REPLY, 9, bytes(range(148)))]
