"""CQ weights computed in place (Needle 2): cq_rotate_s8 and matmul_cq /
matmul_cq_s32 on every backend against the reference, bit for bit: K not a
whole group (zero padding), every field width, the int8 ends of x (a group of
all -128 needs the largest shift), the extremes of the codebook, the norms and
the requantization, int64 sums that need all their bits; and the float
meaning: the integer product tracks the float one on the same CQ weights."""
import numpy as np
import pytest

from thimble.kernels import get_backend
from thimble.kernels import reference as R
from thimble.needle2 import cq

REF = get_backend("reference")


def case(seed, M, K, N, bits, x="random", lut="random", norm="random", rq="typical"):
    rng = np.random.default_rng(seed)
    xs = {"random": lambda: rng.integers(-128, 128, (M, K)), "min": lambda: np.full((M, K), -128),
          "max": lambda: np.full((M, K), 127), "zero": lambda: np.zeros((M, K)),
          "corners": lambda: rng.choice([-128, 127, 0, 1, -1], (M, K))}
    x8 = xs[x]().astype(np.int8)
    Kp = -(-K // 128) * 128
    w = rng.integers(0, 256, (N, Kp * bits // 8)).astype(np.uint8)
    luts = {"random": lambda: rng.integers(-128, 128, 1 << bits), "min": lambda: np.full(1 << bits, -128),
            "max": lambda: np.full(1 << bits, 127)}
    lt = luts[lut]().astype(np.int8)
    norms = {"random": lambda: rng.integers(0, 65536, (N, Kp // 128)), "max": lambda: np.full((N, Kp // 128), 65535),
             "zero": lambda: np.zeros((N, Kp // 128))}
    nq = norms[norm]().astype(np.uint16)
    if rq == "typical":
        mult, rshift = rng.integers(1 << 30, 1 << 31, N), rng.integers(40, 60, N)
    elif rq == "extreme":       # the ends of both ranges, saturating either way
        mult, rshift = rng.choice([0, 1, (1 << 31) - 1], N), rng.choice([33, 34, 93, 94], N)
    return x8, w, bits, lt, nq, mult.astype(np.int32), rshift.astype(np.int32)


def check(kernel, x8, w, bits, lt, nq, mult, rshift):
    xr, sh = REF.cq_rotate_s8(x8)
    got_xr, got_sh = kernel.cq_rotate_s8(x8)
    assert np.array_equal(got_xr, xr) and np.array_equal(got_sh, sh), "cq_rotate_s8"
    for op in ("matmul_cq", "matmul_cq_s32"):
        want = getattr(REF, op)(xr, sh, w, bits, lt, nq, mult, rshift)
        got = getattr(kernel, op)(xr, sh, w, bits, lt, nq, mult, rshift)
        assert got.dtype == want.dtype and np.array_equal(got, want), op


@pytest.mark.parametrize("bits", [2, 3, 4])
@pytest.mark.parametrize("M,K,N", [(1, 128, 1), (1, 512, 9), (3, 129, 7), (2, 300, 5), (5, 1000, 3),
                                   (17, 256, 4), (0, 128, 3), (2, 128, 0)])
def test_every_width_and_shape(kernel, bits, M, K, N):
    check(kernel, *case(M * 1000 + K + N + bits, M, K, N, bits))


@pytest.mark.parametrize("x", ["min", "max", "zero", "corners"])
@pytest.mark.parametrize("lut", ["min", "max", "random"])
@pytest.mark.parametrize("norm", ["max", "zero"])
def test_int8_ends(kernel, x, lut, norm):
    """x all -128: v = -16384 needs shift 7; lut and norms at their ends: the
    largest int64 sums (2^21 << 7 times 65535, per group)."""
    check(kernel, *case(7, 2, 8192, 3, 3, x=x, lut=lut, norm=norm, rq="extreme"))


@pytest.mark.parametrize("bits", [2, 4])
def test_requantization_ends(kernel, bits):
    check(kernel, *case(bits, 3, 384, 16, bits, rq="extreme"))


def test_rotation_shift_is_the_least_that_fits():
    """Each group's shift is the least s whose rounded values are all int8."""
    x = np.zeros((4, 128), np.int8)
    x[0, 0] = 127                 # v = 127 everywhere: fits at s = 0
    x[1, :2] = 127                # v in {254, 0}: s = 1 (254 -> 127)
    x[2, :] = -128                # v[0] = -16384: s = 7 (-128)
    x[3, :] = 127                 # v[0] = 16256: s = 7 (127)
    xr, sh = REF.cq_rotate_s8(x)
    assert sh[:, 0].tolist() == [0, 1, 7, 7]
    assert xr[2, 0] == -128 and xr[3, 0] == 127 and (xr[2, 1:] == 0).all()


def test_requantize_s64_is_the_exact_rounding():
    rng = np.random.default_rng(0)
    for _ in range(5000):
        a, m, r = int(rng.integers(-2**62, 2**62)), int(rng.integers(0, 2**31)), int(rng.integers(33, 95))
        assert int(R.requantize_s64(np.int64(a), m, r)) == (a * m + (1 << (r - 1))) >> r
    for a in (-(2**63), 2**63 - 1, 0, -1):
        for m in (0, 1, 2**31 - 1):
            for r in (33, 63, 94):
                assert int(R.requantize_s64(np.int64(a), m, r)) == (a * m + (1 << (r - 1))) >> r


@pytest.mark.parametrize("bits", [2, 3, 4, cq.TERNARY])
def test_integer_product_tracks_the_float_one(bits):
    """Same CQ weights, same int8 activations: the integer product (rotated
    activations with group shifts, int8 codebook, uint16 norms) against the
    float product of the dequantized weights: correlation > 0.9999, worst
    error about 1 % of the largest output."""
    rng = np.random.default_rng(bits)
    w = rng.standard_normal((48, 320)) * 0.05
    x = rng.standard_normal((6, 320))
    sx = np.abs(x).max() / 127
    x8 = np.clip(np.round(x / sx), -128, 127).astype(np.int8)
    packed, norms = cq.quantize(w, bits, 128)
    y_float = (x8 * sx) @ cq.dequantize(packed, norms, bits, 320, 128).T
    levels = cq.codebook(bits, 128)
    lut_f = np.array([0, levels[2], 0, levels[0]]) if bits == cq.TERNARY else levels
    cs = np.abs(lut_f).max() / 127
    lut = np.round(lut_f / cs).astype(np.int8)
    ns = norms.astype(np.float64).max(1) / 65535
    nq = np.round(norms / ns[:, None]).astype(np.uint16)
    xr, sh = REF.cq_rotate_s8(x8)
    acc = R.matmul_cq_acc(xr, sh, packed, cq.stored_bits(bits), lut, nq)
    y_int = acc * (ns[None, :] * cs * sx / np.sqrt(128))
    assert np.corrcoef(y_int.ravel(), y_float.ravel())[0, 1] > 0.9999
    assert np.abs(y_int - y_float).max() < 0.02 * np.abs(y_float).max()


def test_malformed_calls_are_refused(kernel):
    x8, w, bits, lt, nq, mult, rshift = case(1, 2, 256, 3, 2)
    xr, sh = REF.cq_rotate_s8(x8)
    bad = [dict(bits=5), dict(sh=np.full_like(sh, 8)), dict(rshift=np.full(3, 32, np.int32)),
           dict(rshift=np.full(3, 95, np.int32)), dict(mult=np.full(3, -1, np.int32)), dict(w=w[:, :-1]),
           dict(lut=lt[:2]), dict(norm_q=nq[:, :1]), dict(xr=xr[:, :200])]
    for b in bad:
        args = {**dict(xr=xr, sh=sh, w=w, bits=bits, lut=lt, norm_q=nq, mult=mult, rshift=rshift), **b}
        with pytest.raises((ValueError, TypeError)):
            kernel.matmul_cq(**args)
