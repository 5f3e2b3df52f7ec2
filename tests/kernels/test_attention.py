"""attention_s8 on every backend against the reference: Needle's 8 query / 4
kv heads of 64 with up to 1024 keys, odd head sizes and groupings, kv masks,
causal rows from q_pos0 (including rows that see nothing: all zeros), and the
ends of every parameter."""
import pytest
from hypothesis import given, strategies as st

import kernel_cases
from kernel_check import HYPOTHESIS, REF, same

NEEDLE = dict(H=8, Hkv=4, D=64)


@pytest.mark.parametrize("Tq,Tk", [(1, 1024), (3, 1024), (2, 513), (17, 64)])
@pytest.mark.parametrize("mask", ["none", "random"])
def test_needle_heads_long_sequences(kernel, Tq, Tk, mask):
    same(kernel, "attention_s8", "attention", seed=Tk + Tq, Tq=Tq, Tk=Tk, mask=mask, **NEEDLE)


@pytest.mark.parametrize("Tq,Tk,q_pos0", [(4, 1024, 1020), (5, 40, 0), (6, 9, 3), (3, 700, 600)])
@pytest.mark.parametrize("mask", ["none", "random", "values"])
def test_causal_from_q_pos0(kernel, Tq, Tk, q_pos0, mask):
    same(kernel, "attention_s8", "attention", seed=q_pos0, Tq=Tq, Tk=Tk, causal=True,
         q_pos0=q_pos0, mask=mask, **NEEDLE)


@pytest.mark.parametrize("causal", [False, True])
def test_fully_masked_rows_give_zeros(kernel, causal):
    # empty kv_mask: every row sees nothing; with "one", causal rows before the
    # single visible key see nothing either
    same(kernel, "attention_s8", "attention", seed=1, Tq=5, Tk=33, causal=causal, mask="empty", **NEEDLE)
    same(kernel, "attention_s8", "attention", seed=2, Tq=9, Tk=33, causal=causal, mask="one", **NEEDLE)


def test_the_masked_case_has_blind_and_seeing_rows():
    # guards the case above: seed 2 puts the one visible key at 4, so causal
    # rows 0..3 see nothing and rows 4..8 see it
    out = REF.attention_s8(**kernel_cases.attention(seed=2, Tq=9, Tk=33, causal=True, mask="one", **NEEDLE))
    assert (out == 0).all(axis=1).tolist() == [True] * 4 + [False] * 5


@pytest.mark.parametrize("H,Hkv,D", [(1, 1, 1), (3, 1, 3), (4, 4, 17), (8, 2, 65), (2, 1, 256),
                                     (6, 3, 2), (16, 16, 8)])
def test_head_shapes(kernel, H, Hkv, D):
    same(kernel, "attention_s8", "attention", seed=H * D, Tq=3, Tk=19, H=H, Hkv=Hkv, D=D, mask="random")


@pytest.mark.parametrize("values", ["min", "max", "corners", "zero"])
@pytest.mark.parametrize("rq", ["typical", "extreme"])
@pytest.mark.parametrize("seed", range(3))
def test_extreme_values_and_parameters(kernel, values, rq, seed):
    same(kernel, "attention_s8", "attention", seed=seed, Tq=2, Tk=45, values=values, rq=rq,
         causal=bool(seed % 2), q_pos0=20, **NEEDLE)


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), Tq=st.integers(1, 4), Tk=st.integers(1, 200),
       heads=st.sampled_from([(1, 1, 8), (4, 2, 16), (8, 4, 64), (6, 1, 12), (2, 2, 33)]),
       causal=st.booleans(), q_pos0=st.integers(0, 250),
       mask=st.sampled_from(["none", "random", "one"]), rq=st.sampled_from(["typical", "extreme"]))
def test_any_attention(kernel, seed, Tq, Tk, heads, causal, q_pos0, mask, rq):
    H, Hkv, D = heads
    same(kernel, "attention_s8", "attention", seed=seed, Tq=Tq, Tk=Tk, H=H, Hkv=Hkv, D=D,
         causal=causal, q_pos0=q_pos0, mask=mask, rq=rq)


def test_no_query_rows(kernel):
    same(kernel, "attention_s8", "attention", seed=1, Tq=0, Tk=5, **NEEDLE)
