"""The host side of the app's request and answer (thimble.app.request):
what the device is sent is bounded and well formed; answers that are
truncated, oversized or of another version are refused."""
import json
import struct

import pytest

from device_harness import TOOLS
from thimble.app.request import (ANS_HEADER, DeviceAnswerError, build_request, parse_answer,
                                   tools_wire)
from thimble.app.prompt import PromptError


def test_request_layout_and_wire_form():
    req, name_map = build_request("timer 5 minutes", [dict(TOOLS[0], name="setTimer")], max_new_tokens=40)
    magic, version, max_new, q, tj, w, flags = struct.unpack_from("<4sHHIIII", req)
    assert (magic, version, max_new, flags) == (b"THRQ", 2, 40, 0) and len(req) == 24 + q + tj + w
    assert req[24:24 + q] == b"timer 5 minutes"
    assert json.loads(req[24 + q:24 + q + tj])[0]["name"] == "set_timer" and name_map == {"set_timer": "setTimer"}
    wire = req[24 + q + tj:]
    assert wire == b"THTL\x01\x01" + struct.pack("<H", len(wire)) + b"\x09set_timer\x02\x07minutes\x05label"


def test_truncation_is_asked_for_in_the_request_flags():
    req, _ = build_request("hi", TOOLS[:1], truncate=True)
    assert struct.unpack_from("<I", req, 20)[0] == 1        # THM_APP_REQ_TRUNCATE


@pytest.mark.parametrize("query, tools, n, what", [
    ("", TOOLS[:1], 96, "query"),
    ("x" * 1025, TOOLS[:1], 96, "query is 1025 bytes"),
    ("hi", TOOLS[:1], 97, "max_new_tokens"),
    ("hi", TOOLS[:1], 1, "max_new_tokens"),
    ("hi", [dict(TOOLS[0], name=f"t{i}") for i in range(33)], 96, "1..32 tools"),
    ("hi", [{"name": "a", "parameters": {f"k{i}": {} for i in range(33)}}], 96, "more than 32"),
])
def test_requests_the_device_would_refuse_are_refused_here(query, tools, n, what):
    with pytest.raises(PromptError, match=what):
        build_request(query, tools, n)


def _answer(n_tok=2, n_steps=3, text=b"[]", version=1, hz=25_000_000):
    head = struct.pack("<4sHHiIIIIIIQQ", b"THRA", version, n_steps, 0, 7, n_tok, 1, 0xDEADBEEF, hz, len(text), 5, 6)
    return head + struct.pack(f"<{n_tok}i", *range(n_tok)) + struct.pack(f"<{n_steps}Q", *[40] * n_steps) + text


def test_answer_parses_and_converts_ticks():
    a = parse_answer(_answer())
    assert a.ok and a.tokens == [0, 1] and a.crc == "deadbeef" and a.text == "[]"
    assert a.counters()["instructions_per_token"] == 1600 and a.counters()["instructions_prefill"] == 240


@pytest.mark.parametrize("raw", [
    _answer()[:-1], _answer() + b"x", _answer()[:ANS_HEADER - 1], b"XXXX" + _answer()[4:],
    _answer(version=2), _answer(n_tok=97), _answer(hz=0),
    _answer()[:32] + struct.pack("<I", 5000) + _answer()[36:],
])
def test_bad_answers_are_refused(raw):
    with pytest.raises(DeviceAnswerError):
        parse_answer(raw)


def test_tools_wire_refuses_long_names():
    with pytest.raises(PromptError, match="1..255 bytes"):
        tools_wire(json.dumps([{"name": "a" * 256}]))
