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
