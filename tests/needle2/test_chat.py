"""Needle 2's chat format: the original's training render, read back."""
import pathlib

import pytest

from thimble.needle2 import read_cact
from thimble.needle2.chat import ChatError, parse_answer, prompt_ids, render_answer, render_prompt
from thimble.needle2.tokenizer import Needle2Tokenizer

DATA = pathlib.Path(__file__).parent / "data"
TOOLS = [{"name": "set_timer", "parameters": {"minutes": {"type": "integer"}}}]


def test_prompt_is_the_training_render():
    assert render_prompt("set a timer for ten minutes", TOOLS) == (
        '<|im_start|>user\n<tools>[{"name":"set_timer","parameters":{"minutes":{"type":"integer"}}}]</tools>\n'
        "set a timer for ten minutes<|im_end|>\n<|im_start|>assistant\n")
    assert render_prompt("q", "[]", system="be brief").startswith("<|im_start|>system\nbe brief<|im_end|>\n")


def test_prompt_ids_start_with_bos_and_markers_are_single_ids():
    tok = Needle2Tokenizer.from_cact(read_cact(DATA / "tiny_cq2.cact"))
    ids = prompt_ids(tok, "wake me up", TOOLS)
    assert ids[0] == tok.bos_id == 2
    assert [i for i in ids if 4 <= i <= 13] == [4, 8, 9, 5, 4]      # im_start, tools, /tools, im_end, im_start
    assert tok.decode(ids[1:]) == render_prompt("wake me up", TOOLS)


def test_answer_round_trip_and_refusals():
    calls = [{"name": "set_timer", "arguments": {"minutes": 10}}]
    assert parse_answer(render_answer(calls, "a timer")) == ("a timer", calls)
    for bad in ("<tool_call>[]</tool_call>", "<think></think>\n<tool_call>[{]</tool_call>",
                '<think></think>\n<tool_call>{"name":"x"}</tool_call>',
                '<think></think>\n<tool_call>[{"name":1}]</tool_call>', "<think></think>\n<tool_call>[" * 200):
        with pytest.raises(ChatError):
            parse_answer(bad)
