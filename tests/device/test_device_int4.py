"""watch-small with int4 projections on every board: deployed over the
emulated UART and asked hand-written requests, each board answers exactly as
the host simulator (the same tokens, hidden-state CRC and text), through its
own thm_matmul_s4 fast path; and so does the image whose embedding (the
tied head) is int4 too (thm_embed_s16_s4, thm_matmul_s4_s32). Each deploy
replaces the last on watch_m4 (one model slot), which the test goes through
too."""
import pytest

from device_harness import handwritten_prompts
from thimble.boards.board import load_board
from thimble.firmware.emulator import Emulator
from thimble.link.client import LinkClient
from thimble.link.factory import board_geometry, slot_layout
from thimble.sim.session import Session

PROMPTS = [handwritten_prompts()[i] for i in (0, 17, 60)]


def answers(image):
    s = Session(image, "c:portable")
    return [s.ask(q, tools) for q, tools, _ in PROMPTS]


def test_int4_watch_small_answers_as_the_simulator(board, link_elf, small_int4_image, small_all4_image,
                                                   small_image, tmp_path):
    slot = slot_layout(*board_geometry(load_board(board)))[1]
    assert small_all4_image.stat().st_size < small_int4_image.stat().st_size <= slot
    assert small_int4_image.stat().st_size <= 0.7 * small_image.stat().st_size
    with Emulator(board, flash=tmp_path / "flash.bin", elf=link_elf) as emu:
        with emu.connect() as ser:
            link = LinkClient(ser)
            for image in (small_int4_image, small_all4_image):     # int4 projections; and the head
                res = link.deploy(image.read_bytes())
                assert res.status == "deployed", (image.name, res)
                for (q, tools, _), w in zip(PROMPTS, answers(image)):
                    _, ans = link.run(q, tools)
                    assert ans.ok, ans.text
                    assert (ans.tokens, ans.crc, ans.text) == (w["tokens"], w["crc"], w["text"]), (image.name, q)
