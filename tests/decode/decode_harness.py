"""Helpers for the C grammar/decoder tests: the tools wire form (host side),
building tests/decode/decode_check.c under ASan and UBSan, and talking to it."""
import json
import pathlib
import shutil
import struct
import subprocess

from thimble.app import format as F
from toolchain import component_args

ROOT = pathlib.Path(__file__).resolve().parents[2]

MAX_TOOLS, MAX_KEYS = F.TOOLS_MAX_TOOLS, F.TOOLS_MAX_KEYS
MAX_KEYS_TOTAL, MAX_WIRE = F.TOOLS_MAX_KEYS_TOTAL, F.TOOLS_MAX_WIRE
E = dict(OK=0, ARG=-1, MAGIC=-2, SIZE=-3, COUNT=-4, NAME=-5, DUP=-6, STATE=-7)


def json_between_quotes(s):
    """The bytes of s between the quotes of compact JSON (as grammar.py's tools)."""
    return json.dumps(s, ensure_ascii=False)[1:-1].encode("utf-8")


def pack_tools_raw(entries, *, magic=b"THTL", version=1, size=None, n_tools=None):
    """entries: [(name bytes, [key bytes])] as they go on the wire, unchecked."""
    body = b""
    for name, keys in entries:
        body += bytes([len(name)]) + name + bytes([len(keys)])
        for k in keys:
            body += bytes([len(k)]) + k
    n = len(entries) if n_tools is None else n_tools
    total = 8 + len(body) if size is None else size
    return magic + bytes([version, n & 0xFF]) + struct.pack("<H", total & 0xFFFF) + body


def pack_tools(tools):
    """{name: [keys]} -> the wire form the device takes (see thm_grammar.h)."""
    entries = [(json_between_quotes(n), [json_between_quotes(k) for k in keys]) for n, keys in tools.items()]
    for name, keys in entries:
        if not 1 <= len(name) <= 255 or any(not 1 <= len(k) <= 255 for k in keys):
            raise ValueError("tool names and keys must be 1..255 bytes in JSON")
        if len(keys) > MAX_KEYS or len(set(keys)) != len(keys):
            raise ValueError(f"at most {MAX_KEYS} distinct keys per tool")
    wire = pack_tools_raw(entries)
    if not 1 <= len(entries) <= MAX_TOOLS or sum(len(k) for _, k in entries) > MAX_KEYS_TOTAL or len(wire) > MAX_WIRE:
        raise ValueError("too many tools or keys for the device's bounds")
    return wire


def build_checker(out_dir):
    cc = shutil.which("gcc") or shutil.which("cc")
    if not cc:
        return None
    out = pathlib.Path(out_dir) / "decode_check"
    cmd = [cc, "-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
           "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
           str(ROOT / "tests" / "decode" / "decode_check.c"), *component_args("decode"), "-o", str(out)]
    subprocess.run(cmd, check=True)
    return out


def run_checker(exe, lines):
    """Send command lines; return the answer lines (asserting no crash)."""
    r = subprocess.run([str(exe)], input="".join(l + "\n" for l in lines), capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"C harness crashed or a sanitizer fired:\n{r.stderr[-4000:]}"
    return r.stdout.splitlines()
