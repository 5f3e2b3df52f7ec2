"""The tool-call grammar, byte by byte: what the decoder may emit after
<tool_call>. Compact JSON, as Needle's training targets are written
(json.dumps with separators (",", ":")):

    [{"name":"<tool>","arguments":{"<key>":<value>,...}},...]

Tool names and argument keys come from the given tools (each key at most
once per call); values are any JSON value (strings, numbers, true, false,
null, arrays, objects), valid UTF-8 (RFC 3629). One space may precede the opening '['
(SentencePiece's dummy prefix). The state is an immutable tuple, so a
candidate token is tried on a copy for free.

    g = ToolGrammar({"set_timer": ["minutes", "label"]})
    s = g.start()
    s = g.feed(s, b'[{"name":"set_')      # None if the bytes cannot continue a valid answer
    g.done(s)                             # True once the list is closed
"""
import json

MAX_DEPTH = 16           # nesting of JSON values inside arguments


def _json_bytes(s):
    """How a name appears between the quotes of compact JSON."""
    return json.dumps(s, ensure_ascii=False)[1:-1].encode("utf-8")


class ToolGrammar:
    def __init__(self, tools):
        """tools: {name: [argument keys]} (names as they appear in the prompt)."""
        if not tools:
            raise ValueError("constrained decoding needs at least one tool")
        self.keys = {_json_bytes(n): frozenset(_json_bytes(k) for k in keys) for n, keys in tools.items()}
        self.names = frozenset(self.keys)

    def start(self):
        return (("open",),)

    def done(self, state):
        return state == ()

    def feed(self, state, data):
        for b in data:
            state = self._step(state, b)
            if state is None:
                return None
        return state

    # --- one byte ----------------------------------------------------------
    def _step(self, state, b):
        st = list(state)
        while st:
            top = st[-1]
            kind = top[0]
            if kind == "open":
                if b == 0x20 and len(top) == 1:
                    st[-1] = ("open", "spaced")
                    return tuple(st)
                if b != ord("["):
                    return None
                st[-1] = ("calls", "first")
                return tuple(st)
            if kind == "lit":
                if b != top[1][0]:
                    return None
                if len(top[1]) == 1:
                    st.pop()
                else:
                    st[-1] = ("lit", top[1][1:])
                return tuple(st)
            if kind == "calls":
                phase = top[1]
                if phase in ("first", "next") and b == ord("{"):
                    st[-1] = ("calls", "after")
                    st += [("name", b""), ("lit", b'"name":"')]
                    return tuple(st)
                if phase in ("first", "after") and b == ord("]"):
                    st.pop()
                    return tuple(st)
                if phase == "after" and b == ord(","):
                    st[-1] = ("calls", "next")
                    return tuple(st)
                return None
            if kind == "name":
                prefix = top[1]
                closes = b == ord('"') and not _escaped(prefix)
                if closes and prefix in self.names:
                    st.pop()
                    st += [("lit", b"}"), ("args", prefix, frozenset(), "first"), ("lit", b',"arguments":{')]
                    return tuple(st)
                if closes:
                    return None
                p = prefix + bytes([b])
                if not any(n.startswith(p) for n in self.names):
                    return None
                st[-1] = ("name", p)
                return tuple(st)
            if kind == "args":
                _, tool, used, phase = top
                if phase in ("first", "next") and b == ord('"'):
                    if not self.keys[tool] - used:
                        return None
                    st[-1] = ("args", tool, used, "after")
                    st.append(("key", tool, used, b""))
                    return tuple(st)
                if phase in ("first", "after") and b == ord("}"):
                    st.pop()
                    return tuple(st)
                if phase == "after" and b == ord(",") and self.keys[tool] - used:
                    st[-1] = ("args", tool, used, "next")
                    return tuple(st)
                return None
            if kind == "key":
                _, tool, used, prefix = top
                free = self.keys[tool] - used
                if b == ord('"') and not _escaped(prefix):
                    if prefix not in free:
                        return None
                    st.pop()
                    st[-1] = ("args", tool, used | {prefix}, "after")
                    st += [("value", 0), ("lit", b":")]
                    return tuple(st)
                p = prefix + bytes([b])
                if not any(k.startswith(p) for k in free):
                    return None
                st[-1] = ("key", tool, used, p)
                return tuple(st)
            if kind == "value":
                depth = top[1]
                c = chr(b)
                if c == '"':
                    st[-1] = ("str", 0, "")
                elif c in "{[":
                    if depth >= MAX_DEPTH:
                        return None
                    st[-1] = ("obj" if c == "{" else "arr", depth + 1, "first")
                elif c == "-":
                    st[-1] = ("num", "sign")
                elif c == "0":
                    st[-1] = ("num", "zero")
                elif "1" <= c <= "9":
                    st[-1] = ("num", "int")
                elif c in "tfn":
                    st[-1] = ("lit", {"t": b"rue", "f": b"alse", "n": b"ull"}[c])
                else:
                    return None
                return tuple(st)
            if kind == "str":
                nxt = _string_step(top, b)
                if nxt is None:
                    return None
                if nxt == "end":
                    st.pop()
                else:
                    st[-1] = nxt
                return tuple(st)
            if kind == "num":
                nxt = _NUMBER.get((top[1], _num_class(b)))
                if nxt is not None:
                    st[-1] = ("num", nxt)
                    return tuple(st)
                if top[1] not in _NUMBER_END:
                    return None
                st.pop()          # the number ended: this byte belongs to what follows
                continue
            if kind == "obj":
                _, depth, phase = top
                if phase in ("first", "key") and b == ord('"'):
                    st[-1] = ("obj", depth, "colon")
                    st.append(("str", 0, ""))
                    return tuple(st)
                if phase == "colon" and b == ord(":"):
                    st[-1] = ("obj", depth, "after")
                    st.append(("value", depth))
                    return tuple(st)
                if phase in ("first", "after") and b == ord("}"):
                    st.pop()
                    return tuple(st)
                if phase == "after" and b == ord(","):
                    st[-1] = ("obj", depth, "key")
                    return tuple(st)
                return None
            if kind == "arr":
                _, depth, phase = top
                if phase in ("first", "after") and b == ord("]"):
                    st.pop()
                    return tuple(st)
                if phase == "after" and b == ord(","):
                    st[-1] = ("arr", depth, "elem")
                    return tuple(st)
                if phase in ("first", "elem"):
                    st[-1] = ("arr", depth, "after")
                    st.append(("value", depth))
                    continue      # the byte starts the element
                return None
            raise AssertionError(kind)
        return None               # the answer is complete: nothing may follow


def _string_step(top, b):
    """Inside a JSON string: ("str", utf8 continuation bytes pending, escape state)."""
    _, pending, esc = top
    if pending:
        lo, hi = _FIRST_CONTINUATION.get(esc, (0x80, 0xBF))
        return ("str", pending - 1, "") if lo <= b <= hi else None
    if esc == "\\":
        if chr(b) in '"\\/bfnrt':
            return ("str", 0, "")
        return ("str", 0, "u") if b == ord("u") else None
    if esc.startswith("u"):
        if chr(b) not in "0123456789abcdefABCDEF":
            return None
        return ("str", 0, "" if len(esc) == 4 else esc + "x")
    if b == ord('"'):
        return "end"
    if b == ord("\\"):
        return ("str", 0, "\\")
    if b < 0x20 or b == 0x7F:
        return None
    if b < 0x80:
        return ("str", 0, "")
    if 0xC2 <= b <= 0xDF:
        return ("str", 1, "")
    if 0xE0 <= b <= 0xEF:
        return ("str", 2, f"{b:02X}" if b in (0xE0, 0xED) else "")
    if 0xF0 <= b <= 0xF4:
        return ("str", 3, f"{b:02X}" if b in (0xF0, 0xF4) else "")
    return None


# Strict UTF-8 (RFC 3629): after these lead bytes the first continuation byte
# has a narrower range (no overlongs, no surrogates, nothing past U+10FFFF).
_FIRST_CONTINUATION = {"E0": (0xA0, 0xBF), "ED": (0x80, 0x9F), "F0": (0x90, 0xBF), "F4": (0x80, 0x8F)}


def _escaped(prefix):
    """True if the next byte of a JSON string follows an unpaired backslash."""
    n = len(prefix) - len(prefix.rstrip(b"\\"))
    return n % 2 == 1


def _num_class(b):
    c = chr(b)
    if c == "0":
        return "0"
    if "1" <= c <= "9":
        return "d"
    return {"-": "-", "+": "+", ".": ".", "e": "e", "E": "e"}.get(c, "x")


# JSON number DFA: (state, byte class) -> state. Accepting states end a number.
_NUMBER = {
    ("sign", "0"): "zero", ("sign", "d"): "int",
    ("zero", "."): "dot", ("zero", "e"): "e",
    ("int", "0"): "int", ("int", "d"): "int", ("int", "."): "dot", ("int", "e"): "e",
    ("dot", "0"): "frac", ("dot", "d"): "frac",
    ("frac", "0"): "frac", ("frac", "d"): "frac", ("frac", "e"): "e",
    ("e", "+"): "esign", ("e", "-"): "esign", ("e", "0"): "exp", ("e", "d"): "exp",
    ("esign", "0"): "exp", ("esign", "d"): "exp",
    ("exp", "0"): "exp", ("exp", "d"): "exp",
}
_NUMBER_END = {"zero", "int", "frac", "exp"}
