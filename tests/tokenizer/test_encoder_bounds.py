"""The device encoder keeps inside its scratch on its own, not only because
thm_tok_open refuses pieces that are not whole UTF-8 characters: tok_check
--hostile-user turns watch-tiny's user-defined pieces into lone bytes E2 and
96 (the first two bytes of U+2581, the space marker) after open, the payload
an outside pass used to make one input byte three symbols. Built with ASan
and UBSan, every buffer exact-size: a write past the scratch aborts, a merge
loop that never ends times out."""
import pathlib
import struct
import subprocess

from thimble.tokenizer import load_model
from thimble.tokenizer.payload import build_payload

ROOT = pathlib.Path(__file__).resolve().parents[2]
E_SCRATCH = -11


def run_hostile(checker, tmp_path, texts):
    p, r = tmp_path / "payload.bin", tmp_path / "records.bin"
    p.write_bytes(build_payload(load_model(str(ROOT / "models" / "watch-tiny" / "tokenizer.model"))))
    r.write_bytes(b"".join(b"T" + struct.pack("<I", len(t)) + t for t in texts))
    out = subprocess.run([str(checker), "--hostile-user", str(p), str(r)], capture_output=True, timeout=60)
    assert out.returncode == 0, f"the encoder left its scratch or crashed:\n{out.stderr.decode(errors='replace')[-3000:]}"
    return out.stdout.decode().splitlines()


def test_lone_byte_user_pieces_are_refused_by_the_encoder_never_written_past(tok_checker, tmp_path):
    texts = [b"set a timer for ten minutes", b"  a  b  ", " ".join(["x"] * 300).encode(), b"\xe2\x96\x81 \xe2",
             b"no spaces", b"\xef\xbf\xbd" * 5]
    lines = run_hostile(tok_checker, tmp_path, texts)
    # a space's marker splits into three symbols: more than one per input byte, past the scratch's
    # symbol table, so the encoder refuses the text rather than writing past it
    assert lines[0] == f"ERR {E_SCRATCH}", lines[:3]
    assert lines.count(f"ERR {E_SCRATCH}") >= 3, lines
    # text the lone bytes never split still encodes (one E line and one D line each)
    assert any(line.startswith("E ") for line in lines), lines
