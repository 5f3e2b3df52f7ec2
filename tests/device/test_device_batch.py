"""Every board answers prompts from its model flash exactly as the host
simulator does: the same prompt tokens, generated tokens, hidden-state CRC
and answer text; instruction counts repeat under -icount (to one
counter tick: a reading is quantised to the tick)."""
import struct

import pytest

from thimble.device_batch import run_batch, run_batch_raw
from thimble.device_prompt import build_request

from device_harness import TOOLS, eval_prompts


def test_board_answers_like_the_simulator(board, app_elf, watch_image, host):
    prompts = [(q, t) for q, t, _ in eval_prompts(3)] + [("set a timer for ten minutes", TOOLS)]
    prompts.append(prompts[-1])                      # the same prompt twice: counts must repeat
    got = run_batch(board, watch_image, prompts, elf=app_elf)
    for (q, tools), (ans, name_map) in zip(prompts, got):
        want = host.ask(q, tools)
        assert ans.ok, ans.text
        assert ans.prompt_tokens == want["prompt_tokens"], q
        assert ans.tokens == want["tokens"], q
        assert ans.crc == want["crc"], q
        assert ans.text == want["text"], q
        assert ans.complete == want["complete"]
        assert ans.calls(name_map) == want["calls"]
        assert len(ans.step_ticks) == want["decoder_steps"]
        assert ans.prefill_ticks > 0 and all(t > 0 for t in ans.step_ticks)
    for (q, _, expected), (ans, name_map) in zip(eval_prompts(3), got):
        assert ans.calls(name_map) == expected, q
    # the same work costs the same instructions; a reading is quantised to one counter tick
    a, b = got[-2][0], got[-1][0]
    assert len(a.step_ticks) == len(b.step_ticks)
    for x, y in zip([a.tokenize_ticks, a.prefill_ticks, *a.step_ticks], [b.tokenize_ticks, b.prefill_ticks, *b.step_ticks]):
        assert abs(x - y) <= 1, (x, y)
    assert got[-1][0].calls(got[-1][1]) == [{"name": "set_timer", "arguments": {"minutes": 10}}]


def test_board_refuses_bad_requests_and_keeps_answering(board, app_elf, watch_image):
    good, _ = build_request("play hip hop", TOOLS[:3])
    bad_version = good[:4] + struct.pack("<H", 2) + good[6:]
    too_many_tokens = good[:6] + struct.pack("<H", 500) + good[8:]
    short = good[:-1]                                 # lengths no longer add up
    empty_query = good[:8] + struct.pack("<I", 0) + good[12:]
    bad_wire = good[:-3] + b"\x00\x00\x00"            # the last key's bytes are no longer valid
    answers = run_batch_raw(board, watch_image, [bad_version, too_many_tokens, short, empty_query, bad_wire,
                                                 b"", good], elf=app_elf)
    for a in answers[:6]:
        assert a.status == -1 and a.text.startswith(("request", "tool", "name", "size")), a.text
        assert a.tokens == [] and a.step_ticks == []
    assert answers[-1].ok and answers[-1].complete


def test_board_without_a_model_says_so(board, app_elf):
    (a, _), = run_batch(board, None, [("play hip hop", TOOLS[:3])], elf=app_elf)
    assert a.status == -2 and a.text == "no model installed"


def test_board_refuses_a_corrupted_image(board, app_elf, watch_image, tmp_path):
    data = bytearray(watch_image.read_bytes())
    data[len(data) // 2] ^= 0x40                      # one bit in the weights: the SHA-256 must catch it
    bad = tmp_path / "bad.thm"
    bad.write_bytes(bytes(data))
    (a, _), = run_batch(board, bad, [("play hip hop", TOOLS[:3])], elf=app_elf)
    assert a.status == -2 and a.text.startswith("image refused"), a.text
