"""The tools wire form: good tables load, malformed ones get their error
code (never a crash, never a silent partial table), and a grammar on a
table that failed to load refuses to run."""
import numpy as np
import pytest

from decode_harness import E, pack_tools, pack_tools_raw, run_checker

GOOD = pack_tools({"set_timer": ["minutes", "label"], "send_message": ["to", "text"]})

MALFORMED = {
    "empty": (b"", "SIZE"),
    "header only, short": (GOOD[:7], "SIZE"),
    "bad magic": (b"THTX" + GOOD[4:], "MAGIC"),
    "version 2": (pack_tools_raw([(b"a", [])], version=2), "MAGIC"),
    "no tools": (pack_tools_raw([]), "COUNT"),
    "33 tools": (pack_tools_raw([(b"t%d" % i, []) for i in range(33)]), "COUNT"),
    "33 keys": (pack_tools_raw([(b"t", [b"k%d" % i for i in range(33)])]), "COUNT"),
    "257 keys in all": (pack_tools_raw([(b"t%d" % i, [b"k%d" % j for j in range(32)]) for i in range(8)] +
                                       [(b"u", [b"k"])]), "COUNT"),
    "size field too big": (pack_tools_raw([(b"a", [])], size=100), "SIZE"),
    "size field too small": (pack_tools_raw([(b"a", [])], size=9), "SIZE"),
    "trailing byte": (pack_tools_raw([(b"a", [])], size=12) + b"\0", "SIZE"),
    "n_tools past the end": (pack_tools_raw([(b"a", [])], n_tools=2), "SIZE"),
    "over 4096 bytes": (pack_tools_raw([(b"t%d" % i, [b"k" * 200 + b"%d" % j for j in range(20)])
                                        for i in range(2)]), "SIZE"),
    "empty name": (pack_tools_raw([(b"", [])]), "NAME"),
    "empty key": (pack_tools_raw([(b"a", [b""])]), "NAME"),
    "bare quote": (pack_tools_raw([(b'a"b', [])]), "NAME"),
    "control byte": (pack_tools_raw([(b"a\nb", [])]), "NAME"),
    "bad escape": (pack_tools_raw([(b"a\\x", [])]), "NAME"),
    "short \\u escape": (pack_tools_raw([(b"a\\u12", [])]), "NAME"),
    "trailing backslash": (pack_tools_raw([(b"a\\", [])]), "NAME"),
    "bad UTF-8": (pack_tools_raw([(b"a\xff", [])]), "NAME"),
    "overlong UTF-8": (pack_tools_raw([(b"a", [b"\xe0\x80\x80"])]), "NAME"),
    "surrogate UTF-8": (pack_tools_raw([(b"a", [b"\xed\xa0\x80"])]), "NAME"),
    "truncated UTF-8": (pack_tools_raw([(b"a\xe2\x9c", [])]), "NAME"),
    "repeated name": (pack_tools_raw([(b"a", []), (b"b", []), (b"a", [b"k"])]), "DUP"),
    "repeated key": (pack_tools_raw([(b"a", [b"k", b"j", b"k"])]), "DUP"),
}


def test_good_tables_load(decode_check):
    tables = [GOOD, pack_tools({"a": []}), pack_tools({"é\n\"": ["\\", "日本", "😀"]}),
              pack_tools({f"t{i}": [f"k{j}" for j in range(32)] for i in range(8)}),
              pack_tools({f"tool{i}": [] for i in range(32)})]
    got = run_checker(decode_check, ["T " + t.hex() for t in tables])
    assert got == ["T 0"] * len(tables)


@pytest.mark.parametrize("what", list(MALFORMED))
def test_malformed_tables_are_rejected(decode_check, what):
    wire, err = MALFORMED[what]
    got = run_checker(decode_check, ["T " + wire.hex(), "A " + b"[]".hex()])
    assert got[0] == f"T {E[err]}"
    # a table that failed to load must not drive the grammar
    assert got[1] == f"A E{E['STATE']} 1 {E['STATE']}"


def test_every_truncation_and_random_damage_is_safe(decode_check):
    """Each proper prefix is refused; random byte damage never crashes, and
    whatever loads still gives a working grammar."""
    r = np.random.default_rng(5)
    lines = ["T " + GOOD[:n].hex() for n in range(len(GOOD))]
    for _ in range(300):
        w = bytearray(GOOD)
        for _ in range(int(r.integers(1, 4))):
            w[int(r.integers(0, len(w)))] = int(r.integers(0, 256))
        lines += ["T " + bytes(w).hex(), "A " + b'[{"name":"set_timer","arguments":{}}]'.hex()]
    got = run_checker(decode_check, lines)
    assert all(l.startswith("T -") for l in got[:len(GOOD)])
    rest = got[len(GOOD):]
    for t, a in zip(rest[::2], rest[1::2]):
        assert a.split(" ")[3] in ("0", "1", str(E["STATE"])), (t, a)
        assert (t == "T 0") == (a.split(" ")[3] != str(E["STATE"]))


def test_host_packer_refuses_what_the_device_would():
    with pytest.raises(ValueError):
        pack_tools({})
    with pytest.raises(ValueError):
        pack_tools({"x" * 256: []})
    with pytest.raises(ValueError):
        pack_tools({"a": [f"k{i}" for i in range(33)]})
