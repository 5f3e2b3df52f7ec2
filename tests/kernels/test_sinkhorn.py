"""Needle 2's lane mixing in fixed point: sinkhorn_q12 on every backend
against the reference, bit for bit, and the reference against the float
Sinkhorn of the original (20 passes of row then column logsumexp, then exp)."""
import numpy as np
import pytest

from thimble.kernels import get_backend
from thimble.kernels import reference as R
from thimble.needle2.forward import sinkhorn

REF = get_backend("reference")


def logits(seed, count, n, spread):
    rng = np.random.default_rng(seed)
    x = 4 * np.eye(n) + rng.normal(0, spread, (count, n, n))      # b_res starts at 4 I
    return np.clip(np.round(x * 4096), -(1 << 24), 1 << 24).astype(np.int32)


@pytest.mark.parametrize("n", [1, 2, 4, 16])
@pytest.mark.parametrize("spread", [0.1, 1.0, 6.0, 100.0])
def test_bit_exact(kernel, n, spread):
    x = logits(n, 37, n, spread)
    for iters in (0, 1, 20):
        assert np.array_equal(kernel.sinkhorn_q12(x, iters), REF.sinkhorn_q12(x, iters)), iters


def test_ends(kernel):
    """Logits at +-2^24, all equal, and one far larger than the rest."""
    x = np.zeros((4, 4, 4), np.int32)
    x[0] = 1 << 24
    x[1] = -(1 << 24)
    x[2, 0, 0] = 1 << 24
    x[3] = np.where(np.eye(4) > 0, 1 << 24, -(1 << 24))
    assert np.array_equal(kernel.sinkhorn_q12(x), REF.sinkhorn_q12(x))


def test_error_against_the_float_sinkhorn():
    """Needle 2's 4 lanes, logits 4 I + noise of sd 0.5 and 3: every entry within
    2.5e-4 of the float Sinkhorn's, mean error under 5e-5."""
    worst, mean = 0.0, []
    for spread in (0.5, 3.0):
        x = logits(int(spread * 10), 1000, 4, spread)
        got = R.sinkhorn_q12(x).astype(np.float64) / 32768
        want = sinkhorn(x.astype(np.float64) / 4096)
        err = np.abs(got - want)
        worst, mean = max(worst, float(err.max())), mean + [float(err.mean())]
    print(f"fixed-point Sinkhorn: worst |P - P_float| {worst:.2e}, mean {np.mean(mean):.2e}")
    assert worst < 2.5e-4 and np.mean(mean) < 5e-5


def test_ln_and_exp_tables():
    z = np.arange(0, 70000, 7)
    assert np.abs(R.exp_q12(z) / 32768 - np.exp(-z / 4096)).max() < 1e-4
    s = np.arange(1 << 15, 1 << 19, 13)
    assert np.abs(R.ln_q12(s) / 4096 - np.log(s / 32768)).max() < 3e-4


def test_refused(kernel):
    with pytest.raises(ValueError):
        kernel.sinkhorn_q12(np.zeros((2, 3, 4), np.int32))
    with pytest.raises(ValueError):
        kernel.sinkhorn_q12(np.full((1, 4, 4), (1 << 24) + 1, np.int32))
    with pytest.raises(ValueError):
        kernel.sinkhorn_q12(np.zeros((1, 17, 17), np.int32))
