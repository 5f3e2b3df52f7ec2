"""residual_gated_s16 and embed_s16 on every backend against the reference:
int16 saturation of the residual stream, gate extremes, every token id at
the table's ends."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

from kernel_check import HYPOTHESIS, same

I32_MIN = -(1 << 31)


@pytest.mark.parametrize("shape", [(1,), (257,), (3, 11), (2, 3, 4), (0, 5), (4, 1000)])
@pytest.mark.parametrize("rq", ["typical", "extreme", "wrap"])
def test_residual_shapes_and_gates(kernel, shape, rq):
    same(kernel, "residual_gated_s16", "residual", seed=sum(shape), shape=shape, rq=rq)


@pytest.mark.parametrize("r,y", [("max", "max"), ("min", "min"), ("max", "min"), ("corners", "corners")])
@pytest.mark.parametrize("rq", ["typical", "extreme", "wrap"])
def test_residual_saturates(kernel, r, y, rq):
    same(kernel, "residual_gated_s16", "residual", seed=9, shape=(5, 67), r=r, y=y, rq=rq)


@pytest.mark.parametrize("T,V,D", [(1, 1, 1), (5, 3, 7), (64, 1000, 33), (0, 4, 8), (9, 8192, 512)])
@pytest.mark.parametrize("tokens", ["random", "ends"])
@pytest.mark.parametrize("rq", ["typical", "extreme", "wrap"])
def test_embed(kernel, T, V, D, tokens, rq):
    same(kernel, "embed_s16", "embed", seed=V + D, T=T, V=V, D=D, tokens=tokens, rq=rq)


@pytest.mark.parametrize("table", ["min", "max", "corners"])
def test_embed_saturates(kernel, table):
    same(kernel, "embed_s16", "embed", seed=4, T=12, V=20, D=65, table=table, rq="wrap")


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 2000),
       rq=st.sampled_from(["typical", "extreme", "wrap"]))
def test_any_residual(kernel, seed, n, rq):
    same(kernel, "residual_gated_s16", "residual", seed=seed, shape=(n,), rq=rq)


def test_residual_sum_does_not_wrap(kernel):
    # -128 << 24 = INT32_MIN and mult INT32_MIN give the term INT32_MAX; 1 + it
    # must saturate to 32767 (C once added in int32 and wrapped to -32768)
    r, y = np.array([1, -1, 32767], np.int16), np.array([-128, -128, -128], np.int8)
    got = kernel.residual_gated_s16(r, y, I32_MIN, 24).tolist()
    assert got == [32767, 32767, 32767], f"{kernel.name}: {got}"
