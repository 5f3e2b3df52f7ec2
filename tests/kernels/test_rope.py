"""rope_s8 on every backend against the reference: head sizes 2 .. 256,
positions up to the last table row, real Q14 tables and int16 corner tables
that saturate."""
import pytest
from hypothesis import given, strategies as st

from kernel_check import HYPOTHESIS, same


@pytest.mark.parametrize("T,H,D", [(1, 1, 2), (3, 2, 8), (7, 3, 64), (5, 8, 64), (2, 1, 256), (4, 5, 34)])
@pytest.mark.parametrize("where", ["start", "end"])
@pytest.mark.parametrize("table", ["real", "random"])
def test_positions_to_the_table_end(kernel, T, H, D, where, table):
    n_pos = 2048
    pos0 = 0 if where == "start" else n_pos - T     # the last row T-1 sits at n_pos - 1
    same(kernel, "rope_s8", "rope", seed=T * D, T=T, H=H, D=D, n_pos=n_pos, pos0=pos0, table=table)


@pytest.mark.parametrize("x", ["min", "max", "corners"])
@pytest.mark.parametrize("table", ["real", "corners"])
def test_saturation(kernel, x, table):
    same(kernel, "rope_s8", "rope", seed=2, T=6, H=4, D=64, n_pos=6, pos0=0, x=x, table=table)


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), T=st.integers(1, 9), H=st.integers(1, 8),
       half=st.integers(1, 128), spare=st.integers(0, 40), table=st.sampled_from(["real", "random"]))
def test_any_rope(kernel, seed, T, H, half, spare, table):
    same(kernel, "rope_s8", "rope", seed=seed, T=T, H=H, D=2 * half, n_pos=T + spare, pos0=spare,
         table=table)


def test_no_rows_at_the_table_end(kernel):
    same(kernel, "rope_s8", "rope", seed=1, T=0, H=2, D=8, n_pos=4, pos0=4)
