"""Instruction counts under -icount shift=0: exact, repeatable, calibrated."""
import numpy as np
import pytest

from thimble.firmware import cases as C
from thimble.firmware import job as J
from thimble.firmware import run_job
from thimble.boards import board_names

BOARDS = board_names()         # every board file

SPIN = 200_000          # iterations of the 2-instruction calibration loop


@pytest.mark.parametrize("board_name", BOARDS)
def test_counts_repeat_and_match_the_clock(board_name, firmware):
    board, elf = firmware(board_name)
    rng = np.random.default_rng(3)
    cases = [J.Case("empty", J.EMPTY, [], []), J.Case("spin", J.SPIN2, [SPIN], []),
             C.matmul_s8(rng, 4, 512, 64), C.attention_s8(rng, 2, 40, 8, 4, 64, causal=True, q_pos0=38)]
    a = run_job(board, elf, cases, isa_mask=1)
    b = run_job(board, elf, cases, isa_mask=1)
    assert [r.ticks for r in a] == [r.ticks for r in b], "counts differ between two runs"
    assert a[2].ticks > 100 and a[3].ticks > 100
    # One tick is 1e9 / clock instructions (one virtual ns per instruction), or
    # one instruction for the AArch64 PMU.
    per_tick = 2 * SPIN / (a[1].ticks - a[0].ticks)
    assert per_tick == pytest.approx(board.instructions_per_tick, rel=2e-3)
