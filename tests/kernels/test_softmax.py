"""softmax_q15 on every backend against the reference: lengths across vector
widths, masks (none, random, any nonzero byte, one key, nothing: all zeros),
int32-end scores whose differences overflow int32, and the ends of (mult,
shift, diff_max), including the largest diff_max a left shift allows."""
import pytest
from hypothesis import given, strategies as st

from kernel_check import HYPOTHESIS, same


@pytest.mark.parametrize("n", [1, 2, 7, 16, 17, 63, 64, 65, 257, 1024, 1031])
@pytest.mark.parametrize("mask", ["none", "random", "values", "one", "empty"])
def test_lengths_and_masks(kernel, n, mask):
    same(kernel, "softmax_q15", "softmax", seed=n, n=n, mask=mask)


@pytest.mark.parametrize("scores", ["random", "equal", "extreme"])
@pytest.mark.parametrize("rq", ["typical", "extreme"])
@pytest.mark.parametrize("seed", range(6))
def test_extreme_scores_and_parameters(kernel, scores, rq, seed):
    same(kernel, "softmax_q15", "softmax", seed=seed, n=67, scores=scores, mask="random", rq=rq)


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 1100),
       scores=st.sampled_from(["random", "extreme"]),
       mask=st.sampled_from(["none", "random", "one", "empty"]),
       rq=st.sampled_from(["typical", "extreme"]))
def test_any_row(kernel, seed, n, scores, mask, rq):
    same(kernel, "softmax_q15", "softmax", seed=seed, n=n, scores=scores, mask=mask, rq=rq)


def test_empty_row(kernel):
    same(kernel, "softmax_q15", "softmax", seed=1, n=0)
