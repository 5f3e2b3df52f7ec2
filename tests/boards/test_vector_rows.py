"""Every public row kernel (thimble_kernels.h: softmax rows, P.V rows and
their digit recombination, RMSNorm rows, RoPE, the gated residual,
requantize, the one-row matmul) agrees bit for bit with the numpy reference
on every board, under every ISA the board has: the portable C and each fast
path its features build in (kernels/isa.py), at odd lengths and at the edges
of the kernels' accepted ranges."""
import numpy as np
import pytest

from thimble.firmware import cases as C
from thimble.firmware import job as J
from thimble.firmware import run_job
from thimble.kernels import isa as I
from thimble.boards import board_names

BOARDS = board_names()         # every board file


@pytest.mark.parametrize("board_name", BOARDS)
def test_row_kernels_bit_exact_on_every_isa(firmware, board_name):
    board, elf = firmware(board_name)
    cases = C.row_kernels(np.random.default_rng(20261203))
    records = run_job(board, elf, cases, timeout=300)
    ran = {J.ISA_NAMES.get(r.isa) for r in records}
    want = {i.name for i in I.board_isas(board.features)}
    assert want <= ran, f"ISAs {sorted(want - ran)} of the board did not run"
    assert len(records) == len(cases) * len(ran), "each ISA runs every case"
    failures = [f"isa {J.ISA_NAMES.get(r.isa)} {cases[r.case_index].name}: {why}"
                for r in records if (why := C.check(cases[r.case_index], r))]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("board_name", ["watch_m55", "watch_m4"])
def test_a_wrong_row_is_caught(firmware, board_name):
    """The check can fail: one probability off by one is reported, under the
    board's best fast path."""
    board, elf = firmware(board_name)
    best = I.board_isas(board.features)[-1]
    case = C.softmax_q15_rows(np.random.default_rng(3))[4]
    case.expect = case.expect.copy()
    case.expect[1] ^= 1
    (r, *_) = run_job(board, elf, [case], isa_mask=1 << best.id)
    assert r.isa == best.id
    assert "differ" in C.check(case, r)
