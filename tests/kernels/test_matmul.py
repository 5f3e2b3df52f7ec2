"""matmul_s8 and matmul_s8_s32 on every backend against the reference: tile
edges (M, N, K just below, at and above 4/16/64 multiples), deep K with many
rows, M > 256, int8 corners, saturating and wrapping requantization."""
import pytest
from hypothesis import given, strategies as st

from kernel_check import HYPOTHESIS, same

MS = [1, 5, 6, 7, 15, 16, 17, 63, 64, 65, 257]
KS = [1, 3, 17, 63, 65, 513]          # K % 4 != 0: every vector loop ends in a tail
NS = [1, 15, 17, 65]


@pytest.mark.parametrize("M", MS)
def test_every_m_across_k_and_n(kernel, M):
    # one call per (K, N) pair keeps the case count readable; seed differs per shape
    for K in KS:
        for N in NS:
            same(kernel, "matmul_s8", "matmul", seed=M * 1000 + K + N, M=M, K=K, N=N)


@pytest.mark.parametrize("M,K,N", [(16, 1000, 33), (17, 4099, 16), (300, 96, 64), (64, 2048, 65),
                                   (0, 5, 3), (3, 5, 0)])
@pytest.mark.parametrize("op", ["matmul_s8", "matmul_s8_s32"])
def test_deep_wide_and_empty(kernel, op, M, K, N):
    same(kernel, op, "matmul", seed=M + K + N, M=M, K=K, N=N)


@pytest.mark.parametrize("x,w", [("min", "min"), ("max", "min"), ("max", "max"), ("zero", "random"),
                                 ("corners", "corners")])
@pytest.mark.parametrize("bias", ["none", "extreme"])
@pytest.mark.parametrize("op", ["matmul_s8", "matmul_s8_s32"])
def test_int8_corners(kernel, op, x, w, bias):
    same(kernel, op, "matmul", seed=7, M=17, K=259, N=19, x=x, w=w, bias=bias)


@pytest.mark.parametrize("K", [65536, 65535])
@pytest.mark.parametrize("x,w", [("min", "min"), ("min", "max")])
def test_largest_k(kernel, K, x, w):
    # -128 * -128 * 65536 = 2^30: the deepest accumulator the header allows
    same(kernel, "matmul_s8_s32", "matmul", seed=1, M=2, K=K, N=3, x=x, w=w, bias="none")
    same(kernel, "matmul_s8", "matmul", seed=1, M=2, K=K, N=3, x=x, w=w, bias="none", rq="extreme")


@pytest.mark.parametrize("rq", ["extreme", "wrap", "zero"])
@pytest.mark.parametrize("M,K,N", [(5, 17, 33), (65, 130, 17)])
def test_requantization_edges(kernel, rq, M, K, N):
    # mult 0 / +-2^31 ends, shifts -31 and 30, left shifts that wrap int32
    same(kernel, "matmul_s8", "matmul", seed=K, M=M, K=K, N=N, bias="extreme", rq=rq)


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), M=st.integers(1, 80), K=st.integers(1, 700),
       N=st.integers(1, 80), x=st.sampled_from(["random", "corners", "min"]),
       bias=st.sampled_from(["random", "none", "extreme"]),
       rq=st.sampled_from(["typical", "extreme", "wrap"]))
def test_any_shape(kernel, seed, M, K, N, x, bias, rq):
    same(kernel, "matmul_s8", "matmul", seed=seed, M=M, K=K, N=N, x=x, bias=bias, rq=rq)
