"""Every board, its link firmware holding watch-tiny (or watch-small, the
demo's model, with the whole tool list) factory-placed in slot
0 (thimble.firmware.batch: one QEMU boot, each prompt staged and RUN over the
serial link), answers exactly as the host simulator does: the same prompt
tokens, generated tokens, hidden-state CRC and answer text; instruction
counts repeat under -icount (to one counter tick: a reading is quantised to
the tick). Bad requests and a corrupted image get the app's refusals."""
import struct

import pytest

from thimble.app.request import build_request
from thimble.boards.board import load_board
from thimble.firmware.batch import run_batch, run_batch_raw
from thimble.firmware.emulator import EmulatorError
from thimble.link.factory import MIN_IMAGE, board_geometry, slot_layout, write_board_flash
from thimble.sim.session import Session

from device_harness import TOOLS, eval_prompts, handwritten_prompts


def test_board_answers_like_the_simulator(board, link_elf, watch_image, host):
    prompts = [(q, t) for q, t, _ in eval_prompts(3)] + [("set a timer for ten minutes", TOOLS)]
    prompts.append(prompts[-1])                      # the same prompt twice: counts must repeat
    got = run_batch(board, watch_image, prompts, elf=link_elf)
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


def test_board_answers_watch_small_like_the_simulator(board, link_elf, small_image):
    """The demo's prompt and a sample of the hand-written set, the watch's 9
    tools in every prompt: the board's answers equal the simulator's, token
    for token and CRC for CRC (how many of them are right is
    tests/sim/test_watch_small.py's business), and the demo's is right. A
    board whose model slot is smaller than the image (watch_m4, by its board
    file) must refuse it by name before QEMU starts, not fail inside."""
    _, slot = slot_layout(*board_geometry(load_board(board)))
    if small_image.stat().st_size > slot:
        with pytest.raises(EmulatorError, match=f"a slot of this flash holds {MIN_IMAGE:,}..{slot:,}"):
            run_batch(board, small_image, [("set a timer for ten minutes", TOOLS)], elf=link_elf)
        return
    hand = handwritten_prompts()
    sample = [("set a timer for ten minutes", hand[0][1], [{"name": "set_timer", "arguments": {"minutes": 10}}])] \
        + hand[::20]
    prompts = [(q, t) for q, t, _ in sample]
    host = Session(small_image, "c")
    got = run_batch(board, small_image, prompts, elf=link_elf)
    run_answers = [ans.calls(name_map) for ans, name_map in got]
    for (q, tools, _), (ans, name_map) in zip(sample, got):
        want = host.ask(q, tools)
        assert ans.ok and (ans.tokens, ans.crc, ans.text) == (want["tokens"], want["crc"], want["text"]), q
        assert ans.calls(name_map) == want["calls"], q
    assert run_answers[0] == sample[0][2]


def test_board_refuses_bad_requests_and_keeps_answering(board, link_elf, watch_image):
    good, _ = build_request("play hip hop", TOOLS[:3])
    bad_version = good[:4] + struct.pack("<H", 1) + good[6:]         # version 1: no flags word
    unknown_flags = good[:20] + struct.pack("<I", 6) + good[24:]
    too_many_tokens = good[:6] + struct.pack("<H", 500) + good[8:]
    short = good[:-1]                                 # lengths no longer add up
    empty_query = good[:8] + struct.pack("<I", 0) + good[12:]
    huge_query = good[:8] + struct.pack("<I", 1 << 30) + good[12:]   # a length far out of bounds
    bad_wire = good[:-3] + b"\x00\x00\x00"            # the last key's bytes are no longer valid
    answers = run_batch_raw(board, watch_image, [bad_version, too_many_tokens, short, empty_query, huge_query,
                                                 bad_wire, unknown_flags, good], elf=link_elf)
    assert answers[6].text == "request: unknown flags"
    for a in answers[:7]:
        assert a.status == -1 and a.text.startswith(("request", "tool", "name", "size")), a.text
        assert a.tokens == [] and a.step_ticks == []
    assert answers[-1].ok and answers[-1].complete


def test_board_refuses_a_corrupted_image(board, link_elf, watch_image, tmp_path):
    data = watch_image.read_bytes()
    flash = tmp_path / "flash.bin"
    base, _ = write_board_flash(flash, data, load_board(board))       # committed in slot 0, then damaged
    disk = bytearray(flash.read_bytes())
    disk[base + len(data) // 2] ^= 0x40               # one bit in the weights: the SHA-256 must catch it
    flash.write_bytes(bytes(disk))
    (a, _), = run_batch(board, None, [("play hip hop", TOOLS[:3])], elf=link_elf, flash=flash)
    assert a.status == -2 and a.text.startswith("image refused"), a.text
