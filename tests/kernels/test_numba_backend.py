"""The Numba backend against the numpy reference, bit for bit.

Seeded random sweeps of every op, with odd sizes, -128/127 and -32768/32767
inputs, saturating shifts, masks and causal offsets. Every case is built by a
`_*_case(seed, ...)` function from its arguments alone, and a failure names
that call, so `_matmul_case(seed=3, M=7, K=17, N=5, kind="random")` rebuilds
the failing inputs in a Python shell.
"""
import math
import subprocess
import sys

import numpy as np
import pytest

from thimble.kernels import get_backend
from thimble.kernels.reference import rope_tables

NB = get_backend("numba")
REF = get_backend("reference")

I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1


def _same(op, repro, args, kwargs=None):
    """Run op on both backends; fail with the reproducer on any difference."""
    kwargs = kwargs or {}
    want = getattr(REF, op)(*args, **kwargs)
    got = getattr(NB, op)(*args, **kwargs)
    if got.dtype != want.dtype or got.shape != want.shape:
        pytest.fail(f"{op}: numba gives {got.dtype}{got.shape}, reference {want.dtype}"
                    f"{want.shape}; reproduce with {repro}")
    if not np.array_equal(got, want):
        at = tuple(int(i) for i in np.argwhere(got != want)[0])
        n_bad = int(np.count_nonzero(got != want))
        pytest.fail(f"{op}: {n_bad} of {want.size} values differ, first at {at}: numba "
                    f"{got[at]}, reference {want[at]}; reproduce with {repro}")


def _mults(rng, n, kind="mixed"):
    """int32 [n] multipliers: the quantizer's [2^30, 2^31) plus 0, negatives
    and INT32_MIN (requantize is defined for every int32)."""
    m = rng.integers(1 << 30, 1 << 31, n, dtype=np.int64)
    if kind == "mixed":
        pick = rng.integers(0, 6, n)
        m = np.where(pick == 0, rng.integers(I32_MIN, I32_MAX, n, endpoint=True), m)
        m = np.where(pick == 1, rng.choice([0, 1, I32_MIN, I32_MAX, -1], n), m)
    return m.astype(np.int32)


def _int8(rng, shape, kind):
    if kind == "random":
        return rng.integers(-128, 128, shape, dtype=np.int8)
    if kind == "min":
        return np.full(shape, -128, np.int8)
    if kind == "max":
        return np.full(shape, 127, np.int8)
    return rng.choice(np.array([-128, 127, -127, 0, 1, -1], np.int8), shape)   # "corners"


# --- requantize ------------------------------------------------------------------

def _requantize_case(seed, shape):
    rng = np.random.default_rng(seed)
    acc = rng.integers(I32_MIN, I32_MAX, shape, endpoint=True).astype(np.int32)
    acc.flat[::7] = rng.choice([I32_MIN, I32_MAX, 0, -1, 1, 1 << 30], acc.flat[::7].size)
    mult = _mults(rng, acc.size).reshape(shape)
    shift = rng.integers(-31, 31, shape).astype(np.int32)
    return acc, mult, shift


@pytest.mark.parametrize("seed,shape", [(1, (1,)), (2, (4097,)), (3, (3, 5, 7)), (4, (0,)),
                                        (5, (2, 0)), (6, ())])
def test_requantize_random(seed, shape):
    _same("requantize", f"_requantize_case(seed={seed}, shape={shape})",
          _requantize_case(seed, shape))


def test_requantize_every_shift_against_corner_values():
    corners = np.array([I32_MIN, I32_MIN + 1, -(1 << 30), -12345, -2, -1, 0, 1, 2, 3, 12345,
                        (1 << 30) - 1, 1 << 30, I32_MAX], np.int64)
    mults = np.array([I32_MIN, -(1 << 30), -1, 0, 1, 1 << 30, (1 << 30) + 1, I32_MAX], np.int64)
    a, m, s = np.meshgrid(corners, mults, np.arange(-31, 31), indexing="ij")
    _same("requantize", "test_requantize_every_shift_against_corner_values (no seed)",
          (a.astype(np.int32).ravel(), m.astype(np.int32).ravel(), s.astype(np.int32).ravel()))


# --- matmul -------------------------------------------------------------------------

def _matmul_case(seed, M, K, N, kind, bias=True):
    rng = np.random.default_rng(seed)
    x = _int8(rng, (M, K), kind)
    w = _int8(rng, (N, K), kind)
    mult = _mults(rng, N)
    shift = rng.integers(-31, 31, N).astype(np.int32)
    b = None
    if bias:   # full int32: pushes the sum past int32 and checks the wrap
        b = rng.integers(I32_MIN, I32_MAX, N, endpoint=True).astype(np.int32)
    return x, w, mult, shift, b


# M = 7 / 8 straddle the switch to the widened int16 path; N = 70 at K = 512
# and K = 1500 cross weight panels on both paths; K = 1..65 cover vector tails.
MATMUL_SHAPES = [(1, 1, 1), (1, 3, 2), (2, 17, 5), (3, 31, 33), (7, 64, 9), (8, 65, 7),
                 (9, 127, 3), (5, 512, 70), (12, 512, 70), (33, 1500, 31), (64, 40, 17)]


@pytest.mark.parametrize("M,K,N", MATMUL_SHAPES)
@pytest.mark.parametrize("kind", ["random", "corners"])
def test_matmul_sweep(M, K, N, kind):
    for seed, bias in ((M * 1000 + K + N, True), (M + 7 * K + N, False)):
        x, w, mult, shift, b = _matmul_case(seed, M, K, N, kind, bias)
        repro = f"_matmul_case(seed={seed}, M={M}, K={K}, N={N}, kind={kind!r}, bias={bias})"
        _same("matmul_s8", repro, (x, w, mult, shift, b))
        _same("matmul_s8_s32", repro, (x, w, b))


@pytest.mark.parametrize("M", [2, 9])
@pytest.mark.parametrize("kind", ["min", "max"])
def test_matmul_extremes_at_the_largest_k(M, kind):
    """K = 65536 of -128 x -128 sums to exactly 2^30; the bias then wraps."""
    x, w, mult, shift, b = _matmul_case(11, M, 65536, 3, kind)
    repro = f"_matmul_case(seed=11, M={M}, K=65536, N=3, kind={kind!r})"
    _same("matmul_s8_s32", repro, (x, w, b))
    _same("matmul_s8", repro, (x, w, mult, shift, b))


def test_matmul_empty_rows():
    x, w, mult, shift, b = _matmul_case(5, 0, 16, 4, "random")
    repro = "_matmul_case(seed=5, M=0, K=16, N=4, kind='random')"
    _same("matmul_s8", repro, (x, w, mult, shift, b))
    _same("matmul_s8_s32", repro, (x, w, b))


# --- softmax ---------------------------------------------------------------------------

def _softmax_case(seed, n, spread, mask_kind):
    rng = np.random.default_rng(seed)
    scores = rng.integers(-spread, spread + 1, n).astype(np.int32)
    mask = {"none": None, "random": (rng.random(n) < 0.6).astype(np.uint8),
            "empty": np.zeros(n, np.uint8),
            "one": (np.arange(n) == n // 2).astype(np.uint8)}[mask_kind]
    mult = int(rng.integers(1 << 30, 1 << 31))
    shift = int(rng.integers(-16, 1))
    diff_max = int(rng.integers(0, 2 * spread + 2))
    return scores, mult, shift, diff_max, mask


@pytest.mark.parametrize("n", [1, 2, 7, 100, 1000])
@pytest.mark.parametrize("mask_kind", ["none", "random", "empty", "one"])
def test_softmax_sweep(n, mask_kind):
    for seed, spread in ((n, 50), (n + 1, 5000), (n + 2, I32_MAX // 2)):
        scores, mult, shift, diff_max, mask = _softmax_case(seed, n, spread, mask_kind)
        _same("softmax_q15", f"_softmax_case(seed={seed}, n={n}, spread={spread}, "
              f"mask_kind={mask_kind!r})", (scores, mult, shift, diff_max, mask))


def test_softmax_extreme_scores_and_parameters():
    scores = np.array([I32_MIN, I32_MAX, 0, I32_MAX, I32_MAX - 1, -1], np.int32)
    for mult in (0, 1, 1 << 30, I32_MAX):
        for shift in (-31, -8, 0, 3):
            for diff_max in (0, 1, I32_MAX >> 3, I32_MAX):
                if shift > 0 and diff_max > I32_MAX >> shift:
                    continue      # refused by the argument checks (next test)
                _same("softmax_q15", f"scores={scores.tolist()}, mult={mult}, shift={shift}, "
                      f"diff_max={diff_max}", (scores, mult, shift, diff_max))


@pytest.mark.parametrize("backend", ["reference", "numba", "c"])
def test_softmax_refuses_a_difference_that_a_left_shift_would_wrap(backend):
    """diff_max << shift must fit int32, or a wrapped difference would index the
    exp table with a negative z; every backend refuses such parameters."""
    k = get_backend(backend)
    scores = np.array([(1 << 30) + 5, 0, 7], np.int32)
    with pytest.raises(ValueError, match="overflow"):
        k.softmax_q15(scores, 1000, 1, I32_MAX)
    q = np.zeros((1, 8), np.int8)
    kv = np.zeros((3, 8), np.int8)
    with pytest.raises(ValueError, match="overflow"):
        k.attention_s8(q, kv, kv, 1, 1, 1 << 30, 2, I32_MAX >> 1, 1 << 30, 0)
    k.softmax_q15(scores, 1000, 1, I32_MAX >> 1)      # the largest accepted diff_max runs


# --- attention ------------------------------------------------------------------------

def _attention_case(seed, Tq, Tk, H, Hkv, D, kind="random", mask_kind="none"):
    rng = np.random.default_rng(seed)
    q = _int8(rng, (Tq, H * D), kind)
    k = _int8(rng, (Tk, Hkv * D), kind)
    v = _int8(rng, (Tk, Hkv * D), kind)
    kv_mask = {"none": None, "random": (rng.random(Tk) < 0.7).astype(np.uint8),
               "empty": np.zeros(Tk, np.uint8)}[mask_kind]
    score_mult = int(rng.integers(1 << 30, 1 << 31))
    score_shift = int(rng.integers(-14, -4))
    out_mult = int(_mults(rng, 1)[0])
    out_shift = int(rng.integers(-20, 3))        # > 0 saturates
    diff_max = int(rng.integers(1, 1 << 16))
    return (q, k, v, H, Hkv, score_mult, score_shift, diff_max, out_mult, out_shift), kv_mask


ATTENTION_SHAPES = [(1, 1, 1, 1, 1), (3, 5, 2, 1, 3), (4, 9, 4, 2, 8), (6, 6, 3, 3, 16),
                    (2, 17, 8, 4, 64), (1, 3, 1, 1, 256)]


@pytest.mark.parametrize("Tq,Tk,H,Hkv,D", ATTENTION_SHAPES)
@pytest.mark.parametrize("mask_kind", ["none", "random", "empty"])
def test_attention_sweep(Tq, Tk, H, Hkv, D, mask_kind):
    for seed, causal, q_pos0 in ((Tq + Tk, False, 0), (Tq * Tk, True, 0),
                                 (D + 1, True, max(0, Tk - Tq)), (D + 2, True, I32_MAX)):
        args, kv_mask = _attention_case(seed, Tq, Tk, H, Hkv, D, mask_kind=mask_kind)
        _same("attention_s8", f"_attention_case(seed={seed}, Tq={Tq}, Tk={Tk}, H={H}, Hkv={Hkv}, "
              f"D={D}, mask_kind={mask_kind!r}) with causal={causal}, q_pos0={q_pos0}",
              args, dict(causal=causal, q_pos0=q_pos0, kv_mask=kv_mask))


@pytest.mark.parametrize("kind", ["min", "max", "corners"])
def test_attention_extremes(kind):
    args, kv_mask = _attention_case(21, 5, 7, 4, 2, 32, kind=kind, mask_kind="random")
    _same("attention_s8", f"_attention_case(seed=21, Tq=5, Tk=7, H=4, Hkv=2, D=32, kind={kind!r},"
          f" mask_kind='random') with causal=True, q_pos0=2", args,
          dict(causal=True, q_pos0=2, kv_mask=kv_mask))


# --- rmsnorm --------------------------------------------------------------------------

def _rmsnorm_case(seed, rows, D, dtype, kind, eps_q16):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    if kind == "random":
        x = rng.integers(info.min, info.max, (rows, D), endpoint=True).astype(dtype)
    elif kind == "small":
        x = rng.integers(-3, 4, (rows, D)).astype(dtype)
    else:   # "corners": whole rows of min, max, 0, and mixed
        x = rng.choice(np.array([info.min, info.max, 0, 1, -1], dtype), (rows, D))
        x[0] = info.min
        if rows > 1:
            x[1] = 0
    gain_mult = _mults(rng, D)
    gain_shift = rng.integers(-16, 3, D).astype(np.int32)    # > 0 saturates
    return x, gain_mult, gain_shift, eps_q16


@pytest.mark.parametrize("dtype", [np.int8, np.int16])
@pytest.mark.parametrize("rows,D", [(1, 1), (2, 2), (3, 7), (4, 512), (2, 4096)])
@pytest.mark.parametrize("kind", ["random", "small", "corners"])
def test_rmsnorm_sweep(dtype, rows, D, kind):
    for seed, eps in ((rows * D, 0), (rows + D, 1), (D, 1 << 20), (D + 3, 1 << 40)):
        _same("rmsnorm_s8", f"_rmsnorm_case(seed={seed}, rows={rows}, D={D}, "
              f"dtype=np.{np.dtype(dtype).name}, kind={kind!r}, eps_q16={eps})",
              _rmsnorm_case(seed, rows, D, dtype, kind, eps))


def test_isqrt_at_the_edges():
    """rmsnorm's exact integer square root, below 2^63, around every perfect square
    edge that matters."""
    from thimble.kernels.numba_backend import _isqrt
    roots = [0, 1, 2, 3, 255, 256, 65535, 65536, (1 << 31) - 1, 1 << 31, 3037000499]
    values = {0, 1, 2, 3, (1 << 63) - 1, (1 << 62), (1 << 62) - 1}
    for r in roots:
        for d in (-1, 0, 1):
            if 0 <= r * r + d < (1 << 63):
                values.add(r * r + d)
    values.update(int(v) for v in np.random.default_rng(3).integers(0, 1 << 62, 2000))
    for v in sorted(values):
        assert _isqrt(v) == math.isqrt(v), f"_isqrt({v})"


# --- rope -----------------------------------------------------------------------------

def _rope_case(seed, T, H, D, pos0, table):
    rng = np.random.default_rng(seed)
    x = _int8(rng, (T, H * D), "random")
    P = pos0 + T + int(rng.integers(0, 3))
    if table == "real":
        cos_q14, sin_q14 = rope_tables(D, P)
    else:   # anything an int16 table can hold: saturates
        cos_q14 = rng.integers(-32768, 32768, (P, D // 2)).astype(np.int16)
        sin_q14 = rng.integers(-32768, 32768, (P, D // 2)).astype(np.int16)
        x[:1] = -128
    return x, H, cos_q14, sin_q14, pos0


@pytest.mark.parametrize("T,H,D,pos0", [(1, 1, 2, 0), (3, 2, 8, 5), (7, 3, 64, 100),
                                        (2, 1, 256, 0), (0, 2, 4, 3)])
@pytest.mark.parametrize("table", ["real", "random"])
def test_rope_sweep(T, H, D, pos0, table):
    seed = T * 100 + D + pos0
    _same("rope_s8", f"_rope_case(seed={seed}, T={T}, H={H}, D={D}, pos0={pos0}, "
          f"table={table!r})", _rope_case(seed, T, H, D, pos0, table))


# --- residual and embedding ---------------------------------------------------------

def _residual_case(seed, shape):
    rng = np.random.default_rng(seed)
    r = rng.integers(-32768, 32768, shape).astype(np.int16)
    r.flat[::5] = rng.choice(np.array([-32768, 32767], np.int16), r.flat[::5].size)
    y = rng.integers(-128, 128, shape, dtype=np.int8)
    mult = int(_mults(rng, 1)[0])
    shift = int(rng.integers(-31, 31))
    return r, y, mult, shift


@pytest.mark.parametrize("shape", [(1,), (257,), (3, 11), (2, 3, 4), (0, 5)])
def test_residual_sweep(shape):
    for seed in range(6):
        _same("residual_gated_s16", f"_residual_case(seed={seed}, shape={shape})",
              _residual_case(seed, shape))


def _embed_case(seed, T, V, D):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, V, T).astype(np.int32)
    if T:
        tokens[0] = V - 1
    table = _int8(rng, (V, D), "corners")
    mult = _mults(rng, V)
    shift = rng.integers(-31, 31, V).astype(np.int32)      # large shifts saturate int16
    return tokens, table, mult, shift


@pytest.mark.parametrize("T,V,D", [(1, 1, 1), (5, 3, 7), (64, 1000, 33), (0, 4, 8)])
def test_embed_sweep(T, V, D):
    for seed in range(4):
        _same("embed_s16", f"_embed_case(seed={seed}, T={T}, V={V}, D={D})",
              _embed_case(seed, T, V, D))


# --- the module itself ----------------------------------------------------------------

def test_import_compiles_nothing():
    """Importing the backend must stay cheap: kernels compile on first call."""
    code = ("import thimble.kernels.numba_backend as m\n"
            "from numba.core.registry import CPUDispatcher\n"
            "d = [v for v in vars(m).values() if isinstance(v, CPUDispatcher)]\n"
            "assert d and not any(f.signatures for f in d), [f for f in d if f.signatures]\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
