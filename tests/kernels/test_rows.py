"""The attention's row kernels on every backend against the reference:
softmax_q15_rows (unmasked rows in one call), pv_rows_s8 (P.V of a block of
query rows from Q15 probabilities and V^T) and pv_combine_s8 (P.V from its
int8 digits' sums): odd sizes around the 16- and 64-lane vector widths, the
two- and three-digit split, int32 ends that wrap, requantize range ends."""
import pytest
from hypothesis import given, strategies as st

from kernel_check import HYPOTHESIS, same


@pytest.mark.parametrize("rows,n", [(1, 1), (1, 5), (3, 17), (8, 256), (5, 1001), (2, 64), (4, 65), (0, 7), (3, 0)])
@pytest.mark.parametrize("scores", ["random", "equal", "extreme"])
@pytest.mark.parametrize("rq", ["typical", "extreme"])
def test_softmax_rows(kernel, rows, n, scores, rq):
    same(kernel, "softmax_q15_rows", "softmax_rows", seed=rows * 1000 + n, rows=rows, n=n, scores=scores, rq=rq)


@pytest.mark.parametrize("n", [16, 100, 256])
@pytest.mark.parametrize("rq", ["typical", "extreme"])
@pytest.mark.parametrize("seed", range(3))
def test_softmax_rows_from_one_hot_to_flat(kernel, n, rq, seed):
    """Rows whose exp totals span 2^15 .. n 2^15: every scale of the final
    p = (e inv + 2^30) >> 31 (the AVX2 form splits inv in 16-bit halves)."""
    same(kernel, "softmax_q15_rows", "softmax_rows", seed=seed, rows=64, n=n, scores="spread", rq=rq)


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 9), n=st.integers(1, 300),
       scores=st.sampled_from(["random", "extreme", "spread"]), rq=st.sampled_from(["typical", "extreme"]))
def test_any_softmax_rows(kernel, seed, rows, n, scores, rq):
    same(kernel, "softmax_q15_rows", "softmax_rows", seed=seed, rows=rows, n=n, scores=scores, rq=rq)


@pytest.mark.parametrize("bq,Tk,D", [(1, 1, 1), (2, 8, 3), (3, 17, 5), (7, 33, 64), (1, 15, 2), (5, 9, 256),
                                     (8, 224, 64), (8, 65, 16), (0, 4, 4), (13, 1023, 20), (6, 1024, 17)])
@pytest.mark.parametrize("p", ["random", "one_hot", "max", "zero", "two_digit_edge"])
@pytest.mark.parametrize("v", ["random", "corners", "min"])
def test_pv_rows(kernel, bq, Tk, D, p, v):
    same(kernel, "pv_rows_s8", "pv_rows", seed=bq * 100 + Tk * 7 + D, bq=bq, Tk=Tk, D=D, p=p, v=v)


@pytest.mark.parametrize("rq", ["typical", "extreme", "wrap", "zero"])
def test_pv_rows_requantize_ends(kernel, rq):
    same(kernel, "pv_rows_s8", "pv_rows", seed=5, bq=3, Tk=40, D=20, p="random", v="corners", rq=rq)
    same(kernel, "pv_rows_s8", "pv_rows", seed=6, bq=2, Tk=3, D=17, p="one_hot", v="max", rq=rq)


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), bq=st.integers(1, 9), Tk=st.integers(1, 200), D=st.integers(1, 80),
       p=st.sampled_from(["random", "one_hot", "two_digit_edge"]), rq=st.sampled_from(["typical", "extreme"]))
def test_any_pv_rows(kernel, seed, bq, Tk, D, p, rq):
    same(kernel, "pv_rows_s8", "pv_rows", seed=seed, bq=bq, Tk=Tk, D=D, p=p, rq=rq)


@pytest.mark.parametrize("digits", [2, 3])
@pytest.mark.parametrize("rq", ["typical", "extreme", "wrap", "zero"])
@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 64, 200])
def test_pv_combine(kernel, n, rq, digits):
    same(kernel, "pv_combine_s8", "pv_combine", seed=n * digits, n=n, digits=digits, rq=rq)
