"""Every kernel, on every board, under every ISA the firmware reports
available, agrees bit for bit with the numpy reference (runtime/thimble/kernels/reference.py)."""
import glob
import os

import numpy as np
import pytest

from thimble.firmware import cases as C
from thimble.firmware import job as J
from thimble.firmware import run_job, run_qemu
from thimble.kernels import isa as I
from thimble.boards import board_names

BOARDS = board_names()         # every board file


REPO = os.path.join(os.path.dirname(__file__), "..", "..")


def expected_fast_paths(board):
    """ISA names the board's features must bring in (kernels/isa.py), once their sources exist."""
    return [i.name for i in I.board_isas(board.features)
            if i.feature and glob.glob(os.path.join(REPO, "kernels", "arm", i.feature, "*.c"))]


def suite(board_name):
    rng = np.random.default_rng(20261122)
    cs = [
        # odd sizes and edge values
        C.matmul_s8(rng, 3, 37, 5, edge=True), C.matmul_s8(rng, 1, 1, 1), C.matmul_s8(rng, 7, 129, 17, bias=False),
        C.matmul_s8(rng, 2, 4101, 3, edge=True), C.matmul_s8_s32(rng, 5, 67, 9, edge=True),
        C.matmul_s8_s32(rng, 1, 31, 3, bias=False), C.matmul_s8(rng, 0, 8, 4),
        C.softmax_q15(rng, 1), C.softmax_q15(rng, 37, masked=True), C.softmax_q15(rng, 300, spread=40000),
        C.attention_s8(rng, 5, 9, 4, 2, 8, causal=True, q_pos0=3, masked=True),
        C.attention_s8(rng, 3, 3, 2, 2, 6),
        C.rmsnorm(rng, 3, 31), C.rmsnorm(rng, 4, 16, s16=False), C.rmsnorm(rng, 1, 512),
        C.rope_s8(rng, 3, 2, 8, 5, 16), C.rope_s8(rng, 2, 8, 64, 100, 128),
        C.residual_s16(rng, 33), C.residual_s16(rng, 700, edge=True), C.residual_s16(rng, 512, edge=True),
        C.residual_s16(rng, 5), C.embed_s16(rng, 5, 11, 7), C.embed_s16(rng, 3, 11, 7, bad_token=True),
        C.requantize_s32(rng, 29), C.requantize_s32(rng, 8), C.requantize_s32(rng, 1031),
        C.softmax_q15_rows_block(rng, 4, 37), C.pv_rows(rng, 3, 17, 5, edge=True),
        C.pv_combine(rng, 21), C.pv_combine(rng, 9, digits=2),
        # Needle's real shapes: 8 query / 4 key-value heads of 64, d_model 512
        C.attention_s8(rng, 4, 48, 8, 4, 64, causal=True, q_pos0=44),
        C.matmul_s8(rng, 1, 512, 512), C.matmul_s8(rng, 1, 512, 256), C.matmul_s8_s32(rng, 1, 512, 512),
        # int4 weights: odd K (a padding nibble), K tails of every fast path's step, edges, 2-row
        # and 3-row passes with leftover rows, Needle's decode shape
        C.matmul_s4(rng, 3, 37, 5, edge=True), C.matmul_s4(rng, 1, 1, 1), C.matmul_s4(rng, 2, 129, 7, edge=True),
        C.matmul_s4(rng, 1, 263, 11, bias=False), C.matmul_s4(rng, 5, 64, 4), C.matmul_s4(rng, 1, 4101, 3, edge=True),
        C.matmul_s4(rng, 4, 1030, 5, edge=True), C.matmul_s4(rng, 0, 8, 4), C.matmul_s4(rng, 1, 512, 512),
        C.matmul_s4_s32(rng, 1, 192, 1024), C.matmul_s4_s32(rng, 3, 37, 5, edge=True),
        C.matmul_s4_s32(rng, 2, 129, 7, edge=True), C.matmul_s4_s32(rng, 1, 2, 2),
        # int4 sums at their bounds (+-2^19 at 512 k: one chunk of the DSP path) and past them
        # (1030 k: two chunks and a K % 8 tail); 2-row and 1-row passes, ragged N
        C.matmul_s4_extremes(rng, 3, 512, 7, s32=True), C.matmul_s4_extremes(rng, 3, 1030, 5, s32=True),
        C.matmul_s4_extremes(rng, 5, 2048, 4, s32=True), C.matmul_s4_extremes(rng, 3, 512, 7),
        C.embed_s16_s4(rng, 5, 11, 7), C.embed_s16_s4(rng, 3, 9, 64),
        # attention's QK^T through the short-row path (K = 16 .. 64, N >= 8): whole passes of
        # 8 rows, a ragged N, -128 edges, a bias, one row (decode) and Needle's K = 64 block
        C.matmul_s8_s32(rng, 3, 64, 37, edge=True), C.matmul_s8_s32(rng, 1, 64, 8, bias=False),
        C.matmul_s8_s32(rng, 2, 16, 13, edge=True), C.matmul_s8_s32(rng, 5, 32, 9),
        C.matmul_s8_s32(rng, 1, 48, 23, edge=True), C.matmul_s8_s32(rng, 8, 64, 224, bias=False),
        C.matmul_s8_s32(rng, 2, 64, 3, edge=True), C.matmul_s8_s32(rng, 4, 64, 6, edge=True),
        # P.V rows: odd Tk and D, Tk past a vector step, two- and three-digit p
        C.pv_rows(rng, 8, 224, 64), C.pv_rows(rng, 1, 37, 64, edge=True), C.pv_rows(rng, 5, 70, 19, edge=True),
        C.pv_rows(rng, 2, 33, 8, one_hot=True), C.pv_rows(rng, 1, 300, 7),
        C.pv_rows(rng, 1, 256, 64, one_hot=True), C.pv_rows(rng, 3, 256, 6),
        C.attention_s8(rng, 1, 37, 8, 4, 64, causal=True, q_pos0=36),
        C.attention_s8(rng, 2, 19, 2, 1, 24, causal=True, q_pos0=17, masked=True),
        C.rmsnorm(rng, 5, 64, s16=False), C.rmsnorm(rng, 2, 4096), C.rmsnorm(rng, 3, 1),
        # CQ (Needle 2): K not whole groups, x all -128 (shift 7), every field width, the codebook,
        # norms and int64 sums at their ends, int32 out for the tied head
        C.cq_rotate_s8(rng, 3, 300, edge=True), C.cq_rotate_s8(rng, 1, 128), C.cq_rotate_s8(rng, 2, 1),
        C.matmul_cq(rng, 1, 512, 9, 2), C.matmul_cq(rng, 3, 300, 5, 3, edge=True), C.matmul_cq(rng, 2, 128, 7, 4),
        C.matmul_cq(rng, 2, 1024, 3, 2, edge=True), C.matmul_cq(rng, 1, 256, 4, 4, edge=True),
        C.matmul_cq(rng, 1, 512, 8, 2, s32=True), C.matmul_cq(rng, 2, 640, 3, 3, s32=True, edge=True),
        C.matmul_cq(rng, 0, 128, 3, 2),
        C.sinkhorn_q12(rng, 27, 4), C.sinkhorn_q12(rng, 3, 16, spread=30.0), C.sinkhorn_q12(rng, 2, 1, iters=3),
        C.engram_hash(rng, 12, 11), C.engram_hash(rng, 12, 0), C.engram_hash(rng, 5, 1, orders=(2, 3, 4), heads=3),
        C.engram_hash(rng, 30, 29, orders=(16,), heads=1, slots=1 << 24),
        C.sigmoid_q15(rng, 37), C.fwht_s8(rng, 2, 512), C.fwht_s8(rng, 3, 64), C.fwht_s8(rng, 1, 1),
        C.cq_gather(rng, 9, 200, 2, 5, 32767), C.cq_gather(rng, 4, 128, 3, 3, 127), C.cq_gather(rng, 3, 512, 4, 2, 127),
    ]
    if board_name == "watch_m55":       # MVE is slow under QEMU: the bigger shapes run on the others
        cs += [C.matmul_s8(rng, 16, 512, 256), C.matmul_s4(rng, 16, 512, 64)]
    else:
        cs += [C.matmul_s8(rng, 64, 512, 512), C.matmul_s8(rng, 1, 512, 8192), C.matmul_s8(rng, 64, 512, 256),
               C.matmul_s4(rng, 64, 512, 256)]
    return cs


@pytest.mark.parametrize("board_name", BOARDS)
def test_kernels_bit_exact_on_board(board_name, firmware):
    board, elf = firmware(board_name)
    cases = suite(board_name)
    records = run_job(board, elf, cases, timeout=120)
    isas = sorted({r.isa for r in records})
    assert J.ISA_NAMES.get(0) and 0 in isas, "the portable path must always run"
    assert len(records) == len(cases) * len(isas), "each ISA runs every case"
    assert set(expected_fast_paths(board)) <= {J.ISA_NAMES.get(i) for i in isas}, \
        "a fast path the board's features build in did not run"
    failures = []
    for r in records:
        why = C.check(cases[r.case_index], r)
        if why:
            failures.append(f"{board_name} isa {J.ISA_NAMES.get(r.isa, r.isa)} {cases[r.case_index].name}: {why}")
    assert not failures, "\n".join(failures)


def test_a_wrong_answer_is_caught(firmware):
    """The comparison can fail: a perturbed expectation and a corrupted output are both reported."""
    board, elf = firmware("watch_m4")
    rng = np.random.default_rng(5)
    good = C.matmul_s8(rng, 2, 33, 3)
    bad = C.matmul_s8(rng, 2, 33, 3)
    bad.expect = bad.expect.copy()
    bad.expect[1, 2] ^= 1
    r_good, r_bad = run_job(board, elf, [good, bad], isa_mask=1)
    assert C.check(good, r_good) == ""
    assert "differ" in C.check(bad, r_bad)
    r_good.out = bytes([r_good.out[0] ^ 0x80]) + r_good.out[1:]
    assert "differ" in C.check(good, r_good)


@pytest.mark.parametrize("board_name", BOARDS)
def test_uart_and_exit_code_without_a_job(board_name, firmware):
    """The UART prints (board HAL), and with no job in memory the firmware says
    so and exits 2: the exit code travels back through semihosting."""
    board, elf = firmware(board_name)
    run = run_qemu(board, elf, timeout=30)
    assert f"thimble conformance firmware on {board_name}" in run.stdout
    assert "no job" in run.stderr          # semihosting text goes to QEMU's stderr
    assert run.returncode == 2


def test_a_case_larger_than_its_buffers_is_refused(firmware):
    """Parameters that claim more data than the job holds never reach a kernel."""
    board, elf = firmware("watch_m55")
    rng = np.random.default_rng(9)
    liar = C.matmul_s8(rng, 2, 16, 4)
    liar.params = [2, 16, 4000]          # N far beyond the weights, bias and output buffers
    liar.status, liar.expect = J.E_CASE, None
    attn = C.attention_s8(rng, 2, 5, 2, 1, 8)
    attn.params[1] = 50                  # Tk beyond k and v
    attn.status, attn.expect = J.E_CASE, None
    ok = C.residual_s16(rng, 9)
    cq = C.matmul_cq(rng, 2, 256, 3, 3)
    cq.params[2] = 300                   # N beyond the rows, norms and output
    cq.status, cq.expect = J.E_CASE, None
    recs = run_job(board, elf, [liar, attn, cq, ok], isa_mask=1)
    assert [r.status for r in recs] == [J.E_CASE, J.E_CASE, J.E_CASE, 0]
    assert C.check(ok, recs[3]) == ""
