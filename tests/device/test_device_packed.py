"""Packed images on every board: a model whose projections are packed in the
board's own fast-path layout (thimble convert --board), and one packed for
the other family of boards (run by the portable packed C), each deployed over
the emulated UART, answer exactly as the host simulator answers the plain
image: the same tokens, hidden-state CRC and text."""
import pytest

from device_harness import TOOLS, tiny_image
from thimble.boards.board import load_board
from thimble.firmware.emulator import Emulator
from thimble.link.client import LinkClient
from thimble.quant.image import board_layout, repack
from thimble.sim.session import Session

QUERY = "set a timer for ten minutes"
OTHER = {"s8_r8k64": "s16_r4k16", "s16_r4k16": "s8_r8k64"}


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    path = tiny_image(tmp_path_factory.mktemp("tiny") / "tiny.thm")
    return path, Session(path, "c:portable").ask(QUERY, TOOLS, truncate=True)   # all tools: over 256 tokens


def test_packed_images_answer_as_the_plain_one(board, link_elf, plain, tmp_path):
    path, want = plain
    own = board_layout(load_board(board))
    assert own in OTHER, f"{board}: no packed fast path"
    with Emulator(board, flash=tmp_path / "flash.bin", elf=link_elf) as emu:
        with emu.connect() as ser:
            link = LinkClient(ser)
            for layout in (own, OTHER[own]):
                res = link.deploy(repack(path, layout))
                assert res.status == "deployed", f"{layout}: {res}"
                counters, ans = link.run(QUERY, TOOLS, truncate=True)
                assert ans.ok, f"{layout}: {ans.text}"
                assert (ans.tokens, ans.crc, ans.text) == (want["tokens"], want["crc"], want["text"]), layout
                assert counters["prompt_tokens"] == want["prompt_tokens"]
