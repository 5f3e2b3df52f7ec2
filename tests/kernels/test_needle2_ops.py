"""Needle 2's integer model's own kernels on every backend against the
reference: sigmoid_q15 (Q12 -> Q15), fwht_s8_s32 (the Hadamard MLP's
transform), cq_gather (CQ rows as integers: the embedding, the engram
tables); and the reference against float."""
import numpy as np
import pytest

from thimble.kernels import get_backend
from thimble.needle2 import cq

REF = get_backend("reference")


def test_sigmoid_bit_exact(kernel):
    z = np.concatenate([np.arange(-70000, 70000, 97), [-(2**31), 2**31 - 1, 0, -1, 1, 65535, -65535, 65536]])
    z = z.astype(np.int32)
    assert np.array_equal(kernel.sigmoid_q15(z), REF.sigmoid_q15(z))
    assert np.array_equal(kernel.sigmoid_q15(z.reshape(-1, 2)), REF.sigmoid_q15(z.reshape(-1, 2)))


def test_sigmoid_against_float():
    z = np.arange(-80000, 80000, 13).astype(np.int32)
    assert np.abs(REF.sigmoid_q15(z) / 32768 - 1 / (1 + np.exp(-np.minimum(np.abs(z), 65535) * np.sign(z) / 4096))).max() < 2e-4


@pytest.mark.parametrize("n", [1, 2, 64, 512, 4096])
def test_fwht_bit_exact(kernel, n):
    rng = np.random.default_rng(n)
    x = rng.integers(-128, 128, (3, n)).astype(np.int8)
    x[0] = -128
    got = kernel.fwht_s8_s32(x)
    assert np.array_equal(got, REF.fwht_s8_s32(x))
    assert np.array_equal(got, np.round(x @ (cq.hadamard(n) * np.sqrt(n))).astype(np.int64))


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("K,bound", [(128, 127), (200, 32767), (512, 127), (32, 32767)])
def test_cq_gather_bit_exact(kernel, bits, K, bound):
    rng = np.random.default_rng(K + bits)
    N, Kp = 9, -(-K // 128) * 128
    w = rng.integers(0, 256, (N, Kp * bits // 8)).astype(np.uint8)
    lut = rng.integers(-128, 128, 1 << bits).astype(np.int8)
    nq = rng.integers(0, 65536, (N, Kp // 128)).astype(np.uint16)
    rows = np.array([0, 8, 3, 3], np.int32)
    mult = rng.integers(1 << 30, 1 << 31, 4).astype(np.int32)
    rshift = np.array([33, 40, 50, 94], np.int32)
    got = kernel.cq_gather(w, bits, lut, nq, rows, mult, rshift, K, bound)
    want = REF.cq_gather(w, bits, lut, nq, rows, mult, rshift, K, bound)
    assert got.dtype == want.dtype and np.array_equal(got, want)


def test_cq_gather_is_the_dequantized_row():
    """With the codebook and norms of a real CQ matrix, a gathered row times its scale is
    the row cq.dequantize gives, up to the int8 codebook's rounding (4-bit: the innermost level is
    6 of 127, so up to 8 % of it) and the output's: within 5 % of the row's largest weight."""
    rng = np.random.default_rng(1)
    wf = rng.standard_normal((6, 256)) * 0.1
    packed, norms = cq.quantize(wf, 4, 128)
    levels = cq.codebook(4, 128)
    cs = np.abs(levels).max() / 127
    lut = np.round(levels / cs).astype(np.int8)
    ns = norms.astype(np.float64).max(1) / 65535
    nq = np.round(norms / ns[:, None]).astype(np.uint16)
    s_out = np.abs(wf).max() / 32767
    real = ns * cs / np.sqrt(128) / s_out
    e = np.floor(np.log2(real))
    mult, rshift = np.round(real * 2.0 ** (30 - e)).astype(np.int32), (30 - e).astype(np.int32)
    got = REF.cq_gather(packed, 4, lut, nq, np.arange(6, dtype=np.int32), mult, rshift, 256, 32767) * s_out
    want = cq.dequantize(packed, norms, 4, 256, 128)
    assert np.abs(got - want).max() < 0.05 * np.abs(want).max()
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.999


def test_refused(kernel):
    with pytest.raises(ValueError):
        kernel.fwht_s8_s32(np.zeros((1, 100), np.int8))
    w = np.zeros((2, 32), np.uint8)
    args = dict(w=w, bits=2, lut=np.zeros(4, np.int8), norm_q=np.zeros((2, 1), np.uint16),
                rows=np.array([2], np.int32), mult=np.ones(1, np.int32), rshift=np.full(1, 40, np.int32), K=128,
                bound=127)
    with pytest.raises(ValueError):
        kernel.cq_gather(**args)
    with pytest.raises(ValueError):
        kernel.cq_gather(**{**args, "rows": np.array([0], np.int32), "bound": 100})
