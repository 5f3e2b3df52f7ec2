"""watch-small with int4 weights on every board: the image whose projections
and embedding (the tied head) are int4 (thm_matmul_s4, thm_embed_s16_s4,
thm_matmul_s4_s32), deployed over the emulated UART and asked hand-written
requests; each board answers exactly as the host simulator (the same tokens,
hidden-state CRC and text) through its own int4 fast paths. The image with
int4 projections and the int8 head is not deployed here (a deploy over the
emulated UART is ~40 s of the suite): on a board it runs only in
test_demo_with_int4_weights_on_the_m4 (watch_m4, one answer, bit-exact);
its projections are the kernels these images run on every board and its
head is every plain image's. A deploy replacing the model in a one-slot
flash is tests/link/test_one_slot.py, on the host build of the link server's
C code."""
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
            res = link.deploy(small_all4_image.read_bytes())
            assert res.status == "deployed", res
            for (q, tools, _), w in zip(PROMPTS, answers(small_all4_image)):
                _, ans = link.run(q, tools)
                assert ans.ok, ans.text
                assert (ans.tokens, ans.crc, ans.text) == (w["tokens"], w["crc"], w["text"]), q
