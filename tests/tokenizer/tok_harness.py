"""Helpers for the tokenizer tests: the trained-model variants, and running
the C tokenizer harness (tok_check.c) on payloads, texts and id lists."""
import pathlib
import struct
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
DEV = ROOT / "runtime" / "device"

# name -> trainer overrides; "needle" is Needle's own settings
VARIANTS = {
    "needle": {},
    "no_dummy_prefix": {"add_dummy_prefix": False},
    "keep_whitespace": {"remove_extra_whitespaces": False},
    "no_byte_fallback": {"byte_fallback": False},
    "big": {"vocab_size": 1000},
}


def run_checker(checker, args):
    r = subprocess.run([str(checker)] + [str(a) for a in args], capture_output=True, timeout=120)
    assert r.returncode == 0, f"C tokenizer crashed or a sanitizer fired:\n{r.stderr.decode(errors='replace')[-4000:]}"
    return r.stdout.decode().splitlines()


def c_encode_decode(checker, tmp_path, payload, texts=(), id_lists=(), image=False):
    """[(ids, decoded bytes)] for texts, then [decoded bytes or 'ERR n'] for id lists.
    With image=True, payload is a whole .thm image holding the tokenizer."""
    p = tmp_path / "payload.bin"
    p.write_bytes(payload)
    rec = bytearray()
    for t in texts:
        rec += b"T" + struct.pack("<I", len(t)) + t
    for ids in id_lists:
        rec += b"I" + struct.pack("<I", 4 * len(ids)) + struct.pack(f"<{len(ids)}i", *ids)
    r = tmp_path / "records.bin"
    r.write_bytes(bytes(rec))
    lines = run_checker(checker, (["--image"] if image else []) + [p, r])
    assert len(lines) == 2 * len(texts) + len(id_lists), lines[:5]
    enc = []
    for k in range(len(texts)):
        e, d = lines[2 * k], lines[2 * k + 1]
        assert e.startswith("E") and d.startswith("D "), (texts[k], e, d)
        enc.append(([int(x) for x in e.split()[1:]], bytes.fromhex(d[2:])))
    dec = []
    for line in lines[2 * len(texts):]:
        dec.append(bytes.fromhex(line[2:]) if line.startswith("D ") else line)
    return enc, dec
