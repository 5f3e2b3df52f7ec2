"""The boards' vector rows (thm_impl.h: softmax, RMSNorm and P.V on the
M55's Helium, softmax and RMSNorm on the A55's NEON and on the DSP extension
of the M4 and M55) agree bit for bit with the numpy reference
at odd lengths and at the edges of the kernels' accepted ranges, under every
ISA the firmware has."""
import numpy as np
import pytest

from thimble.firmware import cases as C
from thimble.firmware import job as J
from thimble.firmware import run_job


# every board with a vector row, and the ISAs whose rows must have run there
ROW_BOARDS = [("watch_m4", {"arm_dsp"}), ("watch_m55", {"arm_dsp", "arm_mve"}), ("glasses_a55", {"arm_neon_dot"})]


@pytest.mark.parametrize("board_name,isas", ROW_BOARDS)
def test_softmax_rows_bit_exact(firmware, board_name, isas):
    board, elf = firmware(board_name)
    cases = C.softmax_q15_rows(np.random.default_rng(20261203))
    records = run_job(board, elf, cases, timeout=120)
    assert isas <= {J.ISA_NAMES.get(r.isa) for r in records}, "a vector row did not run"
    failures = [f"isa {J.ISA_NAMES.get(r.isa)} {cases[r.case_index].name}: {why}"
                for r in records if (why := C.check(cases[r.case_index], r))]
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("board_name,isa_bit", [("watch_m55", 4), ("watch_m4", 3)])   # THM_ISA_ARM_MVE, _DSP
def test_a_wrong_row_is_caught(firmware, board_name, isa_bit):
    """The check can fail: one probability off by one is reported."""
    board, elf = firmware(board_name)
    case = C.softmax_q15_rows(np.random.default_rng(3))[4]
    case.expect = case.expect.copy()
    case.expect[1] ^= 1
    (r, *_) = run_job(board, elf, [case], isa_mask=1 << isa_bit)
    assert "differ" in C.check(case, r)


@pytest.mark.parametrize("board_name,isas", ROW_BOARDS)
def test_rmsnorm_rows_bit_exact(firmware, board_name, isas):
    """The vector RMSNorm rows (thm_impl_rmsnorm_row), their scalar fallback
    for rms < 0.5 included, against the reference."""
    board, elf = firmware(board_name)
    cases = C.rmsnorm_rows(np.random.default_rng(20261203))
    records = run_job(board, elf, cases, timeout=120)
    assert isas <= {J.ISA_NAMES.get(r.isa) for r in records}, "a vector row did not run"
    failures = [f"isa {J.ISA_NAMES.get(r.isa)} {cases[r.case_index].name}: {why}"
                for r in records if (why := C.check(cases[r.case_index], r))]
    assert not failures, "\n".join(failures)


def test_pv_rows_bit_exact_on_m55(firmware):
    """The fast attention's P.V (thm_impl_pv_rows: VMLADAVA.S16 on the M55,
    portable C under the other ISAs): odd row counts, odd and short key
    counts (the predicated tail), ragged head sizes, one-hot rows."""
    board, elf = firmware("watch_m55")
    rng = np.random.default_rng(20261203)
    cases = [C.pv_rows(rng, 1, 1, 1), C.pv_rows(rng, 2, 8, 3), C.pv_rows(rng, 3, 17, 5, edge=True),
             C.pv_rows(rng, 7, 33, 64, one_hot=True), C.pv_rows(rng, 1, 15, 2), C.pv_rows(rng, 5, 9, 256, edge=True),
             C.pv_rows(rng, 8, 224, 64)]
    records = run_job(board, elf, cases, timeout=120)
    assert "arm_mve" in {J.ISA_NAMES.get(r.isa) for r in records}
    failures = [f"isa {J.ISA_NAMES.get(r.isa)} {cases[r.case_index].name}: {why}"
                for r in records if (why := C.check(cases[r.case_index], r))]
    assert not failures, "\n".join(failures)
