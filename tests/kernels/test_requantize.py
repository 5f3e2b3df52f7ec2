"""requantize on every backend against the reference: every shift from -31
to 30 against int32 corner values and multipliers, plus seeded shapes."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import kernel_cases
from kernel_check import HYPOTHESIS, REF, same

I32_MIN, I32_MAX = kernel_cases.I32_MIN, kernel_cases.I32_MAX


@pytest.mark.parametrize("kind", ["typical", "extreme", "wrap", "zero"])
@pytest.mark.parametrize("shape", [(1,), (7,), (4097,), (3, 5, 7), (0,), ()])
def test_shapes_and_kinds(kernel, shape, kind):
    same(kernel, "requantize", "requantize", seed=len(shape) * 31 + sum(shape), shape=shape, kind=kind)


def test_every_shift_against_corners(kernel):
    # the full cross product: acc corners x multiplier corners x all 62 shifts,
    # including INT32_MIN * INT32_MIN (the one saturating doubling product)
    accs = [I32_MIN, I32_MIN + 1, -(1 << 30), -3, -2, -1, 0, 1, 2, 3, 1 << 30, I32_MAX]
    mults = [I32_MIN, -(1 << 30), -1, 0, 1, 1 << 30, (1 << 30) + 1, I32_MAX]
    a, m, s = np.meshgrid(np.array(accs, np.int32), np.array(mults, np.int32),
                          np.arange(-31, 31, dtype=np.int32), indexing="ij")
    args = [np.ascontiguousarray(v.ravel()) for v in (a, m, s)]
    want, got = REF.requantize(*args), kernel.requantize(*args)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, (f"requantize on {kernel.name}: {bad.size} corner cases differ, first "
                           f"acc={args[0][bad[0]]} mult={args[1][bad[0]]} shift={args[2][bad[0]]}: "
                           f"got {got[bad[0]]}, reference {want[bad[0]]}")


@HYPOTHESIS
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(0, 300),
       kind=st.sampled_from(["typical", "extreme", "wrap"]))
def test_any_length(kernel, seed, n, kind):
    same(kernel, "requantize", "requantize", seed=seed, shape=(n,), kind=kind)
