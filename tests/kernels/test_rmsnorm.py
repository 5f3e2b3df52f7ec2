"""rmsnorm_s8 on every backend against the reference, int16 (residual stream)
and int8 (QK-norm) rows: odd and largest D, all-zero rows (rms floor), full
scale rows (the largest sum of squares), eps 0 and 2^40, rows whose rms is
under 1 (the largest reciprocals), gain extremes."""
import pytest
from hypothesis import given, strategies as st

from kernel_check import HYPOTHESIS, same


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("rows,D", [(1, 1), (2, 3), (5, 17), (3, 64), (4, 255), (2, 4096), (0, 8)])
@pytest.mark.parametrize("x", ["random", "small", "corners"])
def test_shapes_and_values(kernel, dtype, rows, D, x):
    same(kernel, "rmsnorm_s8", "rmsnorm", seed=rows * D, rows=rows, D=D, dtype=dtype, x=x)


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("x", ["min", "max", "zero"])
@pytest.mark.parametrize("eps", ["zero", "max"])
def test_constant_rows_and_eps_ends(kernel, dtype, x, eps):
    # -32768 * 4096 rows reach the 2^42 sum of squares; zero rows hit the rms floor
    same(kernel, "rmsnorm_s8", "rmsnorm", seed=3, rows=2, D=4096, dtype=dtype, x=x, eps=eps)
    same(kernel, "rmsnorm_s8", "rmsnorm", seed=4, rows=3, D=33, dtype=dtype, x=x, eps=eps)


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("rows,D", [(7, 64), (5, 512), (3, 33)])
def test_rows_under_one_rms(kernel, dtype, rows, D):
    # rms of 1/2 .. 1 (eps 0): 2^46 / rms in [2^30, 2^31), the upper half of
    # the reciprocals (AVX2 splits them at 2^30 into two 15-bit products)
    same(kernel, "rmsnorm_s8", "rmsnorm", seed=rows + D, rows=rows, D=D, dtype=dtype, x="unit", eps="zero")


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("rq", ["extreme", "wrap", "zero"])
def test_gain_extremes(kernel, dtype, rq):
    same(kernel, "rmsnorm_s8", "rmsnorm", seed=5, rows=4, D=129, dtype=dtype, rq=rq)


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 6), D=st.integers(1, 700),
       dtype=st.sampled_from(["int8", "int16"]), x=st.sampled_from(["random", "small", "corners", "unit"]),
       rq=st.sampled_from(["typical", "extreme"]), eps=st.sampled_from(["random", "zero", "max"]))
def test_any_rows(kernel, seed, rows, D, dtype, x, rq, eps):
    same(kernel, "rmsnorm_s8", "rmsnorm", seed=seed, rows=rows, D=D, dtype=dtype, x=x, rq=rq, eps=eps)
