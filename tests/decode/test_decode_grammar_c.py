"""The C grammar (runtime/device/decode/thm_grammar.c) accepts, rejects and
closes after exactly the same bytes as grammar.py, and keeps the same stack
depth, on valid answers, their mutations and prefixes, random bytes, deep
nesting, long strings, bad UTF-8 and number edge cases."""
import json

import numpy as np
import pytest

from decode_harness import json_between_quotes, pack_tools, run_checker
from thimble.sim.grammar import MAX_DEPTH, ToolGrammar

TABLES = [
    {"set_timer": ["minutes", "label"], "send_message": ["to", "text"], "set": ["x"]},
    {"café": ["naïve", "a\nb", "tab\there"], "日本": ["k"], 'q"t': ['x"y', "z"], "a\\b": [], "e\u0001": ["\u007f"]},
    {"a": ["a", "ab", "abc"], "ab": ["b", "ba"], "abc": [], "b": ["\U0001F600", "\U0001F601"]},
    {"big": [f"k{i}" for i in range(32)], "k": ["k0"], "k0": ["k"]},
    {f"tool_{i}": [f"arg{j}" for j in range(i % 4)] for i in range(32)},
]

NUMBERS = ["0", "-0", "1", "-1", "10", "123456789012345678901234567890", "0.5", "-0.0", "1.25e3", "1E+2",
           "2e-7", "1e0", "0e5", "-0E-0", "01", "-", "1.", ".5", "1e", "1e+", "+1", "1.e5", "0x10", "--1",
           "1ee2", "1.2.3", "-a", "00", "0.0.", "9" * 300]
BAD_UTF8 = [b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",
            b"\xff", b"\x80", b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98", b"\xc3\x28", b"\xe2\x28\xa1", b"\x7f", b"\x1f"]
STRING_BITS = ["a", "Z", " ", "é", "日本", "😀", "\\n", "\\\"", "\\\\", "\\/", "\\b", "\\u00e9", "\\uD83D",
               "\\uXYZW", "\\x", "\\u12", "\t", "\\", "\"", "✓"]
JSONISH = b'[]{}",:0123456789-+.eE tfnrulsa\\ \x80\xbf\xc3\xe2\xf0\xff\n_'


def rand_string_body(r, n=None):
    n = int(r.integers(0, 8)) if n is None else n
    return "".join(STRING_BITS[int(r.integers(0, len(STRING_BITS)))] if r.random() < 0.5 else
                   json.dumps(chr(int(r.integers(32, 0x2FFF))), ensure_ascii=bool(r.random() < 0.3))[1:-1]
                   for _ in range(n))


def rand_value(r, depth):
    k = int(r.integers(0, 9 if depth < 5 else 6))
    if k == 0:
        return '"' + rand_string_body(r) + '"'
    if k == 1:
        return NUMBERS[int(r.integers(0, 14))]
    if k == 2:
        return str(int(r.integers(-10**6, 10**6)))
    if k == 3:
        return ["true", "false", "null"][int(r.integers(0, 3))]
    if k == 4:
        return repr(float(r.normal() * 10 ** int(r.integers(-8, 8))))
    if k in (5, 6):
        return "[" + ",".join(rand_value(r, depth + 1) for _ in range(int(r.integers(0, 4)))) + "]"
    return "{" + ",".join('"' + rand_string_body(r, 2) + '":' + rand_value(r, depth + 1)
                          for _ in range(int(r.integers(0, 4)))) + "}"


def rand_answer(r, tools):
    """Valid answer text (as bytes), written the way Needle writes it."""
    names = list(tools)
    calls = []
    for _ in range(int(r.integers(0, 4))):
        name = names[int(r.integers(0, len(names)))]
        keys = list(tools[name])
        r.shuffle(keys)
        keys = keys[:int(r.integers(0, len(keys) + 1))]
        args = ",".join('"' + json_between_quotes(k).decode() + '":' + rand_value(r, 0) for k in keys)
        calls.append('{"name":"' + json_between_quotes(name).decode() + '","arguments":{' + args + "}}")
    return ((" " if r.random() < 0.2 else "") + "[" + ",".join(calls) + "]").encode("utf-8")


def mutate(r, b):
    b = bytearray(b)
    for _ in range(int(r.integers(1, 4))):
        op = int(r.integers(0, 5))
        pos = int(r.integers(0, len(b) + 1))
        byte = JSONISH[int(r.integers(0, len(JSONISH)))] if r.random() < 0.7 else int(r.integers(0, 256))
        if op == 0 and pos < len(b):
            b[pos] = byte
        elif op == 1:
            b.insert(pos, byte)
        elif op == 2 and pos < len(b):
            del b[pos]
        elif op == 3:
            b = b[:pos]
        else:
            b += bytes([byte])
    return bytes(b)


def nested(tools, r, k):
    name = json_between_quotes(next(n for n in tools if tools[n])).decode()
    key = json_between_quotes(next(v for v in tools.values() if v)[0]).decode()
    opens = [("[", "]") if r.random() < 0.5 else ('{"a":', "}") for _ in range(k)]
    inner = rand_value(r, 9) if r.random() < 0.8 else ""
    body = "".join(o for o, _ in opens) + inner + "".join(c for _, c in reversed(opens))
    return ('[{"name":"' + name + '","arguments":{"' + key + '":' + body + "}}]").encode()


def cases(tools, seed, n_valid):
    r = np.random.default_rng(seed)
    name = json_between_quotes(next(n for n in tools if tools[n])).decode()
    key = json_between_quotes(next(v for v in tools.values() if v)[0]).decode()
    head = '[{"name":"' + name + '","arguments":{"' + key + '":'
    out = [b"", b" ", b"  []", b"[]", b"[] ", b" []", b"[", b"]"]
    for _ in range(n_valid):
        a = rand_answer(r, tools)
        out += [a, mutate(r, a), mutate(r, a), a[:int(r.integers(0, len(a) + 1))]]
    for _ in range(n_valid // 2):
        out.append(bytes(r.integers(0, 256, int(r.integers(0, 40)), dtype=np.uint8)))
        out.append(bytes(JSONISH[i] for i in r.integers(0, len(JSONISH), int(r.integers(0, 60)))))
        out.append(b'[{"name":"' + bytes(JSONISH[i] for i in r.integers(0, len(JSONISH), int(r.integers(0, 30)))))
    for k in list(range(MAX_DEPTH - 2, MAX_DEPTH + 4)) + [40, 200]:
        for _ in range(4):
            out.append(nested(tools, r, k))
    for num in NUMBERS:
        out.append((head + num + "}}]").encode())
        out.append((head + "[" + num + "," + num + "]}}]").encode())
        out.append((head + '{"n":' + num + "}}}]").encode())
    for bad in BAD_UTF8:
        out.append(head.encode() + b'"ab' + bad + b'cd"}}]')
        out.append(head.encode() + b'"' + bad + b'"}}]')
    out.append((head + '"' + "x" * 5000 + '"}}]').encode())
    out.append((head + '"' + "é日😀\\u0041" * 500 + '"}}]').encode())
    out.append((head + "1" * 3000 + "}}]").encode())
    return out


def py_trace(g, data):
    s, trace, deepest = g.start(), [], 1
    for b in data:
        s = g.feed(s, bytes([b]))
        if s is None:
            trace.append("x")
            break
        deepest = max(deepest, len(s))
        trace.append("d" if g.done(s) else "o")
    whole = 0 if g.feed(g.start(), data) is not None else 1
    return f"A {''.join(trace)} {deepest} {whole}"


@pytest.mark.parametrize("table", range(len(TABLES)))
def test_c_grammar_matches_python(decode_check, table):
    tools = TABLES[table]
    g = ToolGrammar(tools)
    data = cases(tools, seed=table, n_valid=400)
    got = run_checker(decode_check, ["T " + pack_tools(tools).hex()] + ["A " + d.hex() for d in data])
    assert got[0] == "T 0"
    assert len(got) == len(data) + 1
    done = rejected = 0
    for d, line in zip(data, got[1:]):
        want = py_trace(g, d)
        assert line == want, f"{d!r}\n C: {line[:200]}\n py: {want[:200]}"
        trace = line.split(" ")[1]
        done += trace.endswith("d")
        rejected += trace.endswith("x")
    # the cases reach every outcome, or the comparison proves little
    assert done > 200 and rejected > 500 and len(data) - done - rejected > 100


def test_depth_bound_is_reached_and_holds(decode_check):
    """The deepest nesting the grammar allows fills the C stack exactly."""
    tools = TABLES[0]
    deep = b'[{"name":"set","arguments":{"x":' + b"[" * MAX_DEPTH + b'"s"' + b"]" * MAX_DEPTH + b"}}]"
    too_deep = b'[{"name":"set","arguments":{"x":' + b"[" * (MAX_DEPTH + 1)
    got = run_checker(decode_check, ["T " + pack_tools(tools).hex(), "A " + deep.hex(), "A " + too_deep.hex()])
    trace, frames, whole = got[1].split(" ")[1:]
    assert trace.endswith("d") and whole == "0" and int(frames) == MAX_DEPTH + 4
    trace, frames, whole = got[2].split(" ")[1:]
    assert trace.endswith("x") and whole == "1" and int(frames) == MAX_DEPTH + 3


def test_spec_names_with_quotes_can_be_called():
    """A name's escaped quote is part of the name; its unescaped quote ends it."""
    g = ToolGrammar({'q"t': ['x"y']})
    s = g.feed(g.start(), b'[{"name":"q\\"t","arguments":{"x\\"y":1}}]')
    assert s is not None and g.done(s)


@pytest.mark.parametrize("bad", [b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xf0\x80\x80\x80"])
def test_spec_rejects_invalid_utf8_in_values(bad):
    g = ToolGrammar({"set": ["x"]})
    assert g.feed(g.start(), b'[{"name":"set","arguments":{"x":"' + bad) is None
