"""The speed paths behind the public kernels (the AVX-512 rows and one-row
matmul in kernels/x86, reached through the AVX-512 VNNI ops table; the
portable rows everywhere else) == the reference kernels, bit for bit,
through the public backends (get_backend("c:<isa>")): random and edge values
(kernel_cases' int8/int16/int32 ends and parameter-range ends), odd sizes
around the 16- and 64-lane vector widths, and the same argument errors from
the C API with each ISA selected. At model level, the C runtime on every ISA
this CPU runs (portable and AVX-512 take different paths) == IntNeedle."""
import numpy as np
import pytest

import kernel_cases as kc
from kernel_check import load
from thimble.kernels import c_backend
from thimble.kernels import reference as ref

THM_OK, THM_E_ARG = 0, -1
C_BACKENDS = [f"c:{isa}" for isa in c_backend.ISAS]


@pytest.fixture(scope="module", params=C_BACKENDS)
def fast(request):
    """A C backend; its ISA is selected for the C API calls made directly."""
    k = load(request.param)
    k.lib, k.ffi = c_backend.lib, c_backend.ffi
    k.select = lambda: c_backend.select_isa(request.param[2:])
    return k


def _p(ffi, ctype, a):
    return ffi.from_buffer(ctype + "[]", a) if a is not None else ffi.NULL


# --- softmax ------------------------------------------------------------------

SOFTMAX_N = [1, 2, 15, 16, 17, 63, 256, 1001]


@pytest.mark.parametrize("rq", ["typical", "extreme"])
@pytest.mark.parametrize("scores", ["random", "equal", "extreme"])
@pytest.mark.parametrize("n", SOFTMAX_N)
def test_softmax_matches_reference(fast, n, scores, rq):
    for seed in range(4):
        a = kc.softmax(seed=seed * 1000 + n, n=n, scores=scores, rq=rq)
        want = ref.softmax_q15(a["scores"], a["mult"], a["shift"], a["diff_max"])
        p = fast.softmax_q15(a["scores"], a["mult"], a["shift"], a["diff_max"])
        assert np.array_equal(p, want), f"seed {seed}: {np.flatnonzero(p != want)[:5]}"


@pytest.mark.parametrize("rows,n", [(1, 5), (3, 17), (8, 256), (5, 1001)])
def test_softmax_rows_match_reference(fast, rows, n):
    """Several rows in one call (the fast attention's 8-row blocks), each its own softmax."""
    for rq in ("typical", "extreme"):
        a = kc.softmax(seed=rows * n, n=rows * n, scores="random", rq=rq)
        s = a["scores"].reshape(rows, n)
        s[0] = s[0].max()                                       # an all-equal row
        want = np.stack([ref.softmax_q15(row, a["mult"], a["shift"], a["diff_max"]) for row in s])
        p = fast.softmax_q15_rows(s, a["mult"], a["shift"], a["diff_max"])
        assert np.array_equal(p, want), rq


def test_softmax_every_exp_table_entry(fast):
    """Rows [0, -z] for every z in 0..4200 with requantize(diff) = diff: each
    exp table entry (and past the table) shows in the second probability."""
    z = np.arange(4201, dtype=np.int32)
    s = np.ascontiguousarray(np.stack([np.zeros_like(z), -z], axis=1))
    want = np.stack([ref.softmax_q15(row, 1 << 30, 1, 5000) for row in s])
    assert len(set(want[:4096, 1].tolist())) > 1000                  # the entries are told apart
    assert np.array_equal(fast.softmax_q15_rows(s, 1 << 30, 1, 5000), want)


def test_softmax_long_row_flushes_lane_sums(fast):
    """More than 16 * 2^12 terms: the 32-bit lane sums are flushed to 64 bits."""
    n = 16 * 4096 * 2 + 5                     # past the 32-bit row sums (n > 65535) too
    s = np.zeros(n, np.int32)                 # every term is exp(0) = 2^15
    s[::7] = -3
    want = ref.softmax_q15(s, 1 << 30, -20, 1000)
    assert np.array_equal(fast.softmax_q15(s, 1 << 30, -20, 1000), want)
    assert np.array_equal(fast.softmax_q15_rows(s.reshape(1, n), 1 << 30, -20, 1000)[0], want)


def test_softmax_rejects_what_the_kernel_rejects(fast):
    ffi, lib = fast.ffi, fast.lib
    fast.select()
    s, p, e = np.zeros(4, np.int32), np.zeros(4, np.int16), np.zeros(4, np.uint32)
    args = (_p(ffi, "int32_t", s), _p(ffi, "int16_t", p))
    sc = _p(ffi, "uint32_t", e)
    rows = lambda *a: lib.thm_softmax_q15_rows(args[0], args[1], 1, *a)  # noqa: E731
    for f in (lambda *a: lib.thm_softmax_q15(args[0], ffi.NULL, args[1], *a), rows):
        assert f(4, -1, 0, 10, sc) == THM_E_ARG      # mult < 0
        assert f(4, 1, 31, 10, sc) == THM_E_ARG      # shift
        assert f(4, 1, 2, 1 << 30, sc) == THM_E_ARG  # diff_max << 2 wraps
        assert f(-1, 1, 0, 10, sc) == THM_E_ARG
        assert f(4, 1, 0, 10, ffi.NULL) == THM_E_ARG
    assert lib.thm_softmax_q15_rows(args[0], args[1], -1, 4, 1, 0, 10, sc) == THM_E_ARG
    assert lib.thm_softmax_q15(ffi.NULL, ffi.NULL, ffi.NULL, 0, 1, 0, 10, ffi.NULL) == THM_OK
    assert lib.thm_softmax_q15_rows(ffi.NULL, ffi.NULL, 0, 4, 1, 0, 10, ffi.NULL) == THM_OK


# --- rmsnorm ------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("x", ["random", "corners", "small", "zero", "min", "max"])
@pytest.mark.parametrize("rq", ["typical", "extreme"])
@pytest.mark.parametrize("rows,D", [(1, 1), (3, 15), (5, 16), (33, 17), (40, 64), (2, 513)])
def test_rmsnorm_matches_reference(fast, rows, D, rq, x, dtype):
    for eps in ("random", "zero", "max"):
        a = kc.rmsnorm(seed=rows * 31 + D, rows=rows, D=D, dtype=dtype, x=x, rq=rq, eps=eps)
        if x == "random" and rows > 2:
            a["x"][1] = 0                 # mean square << 1: 2^46 / rms > INT32_MAX (the scalar rows)
            a["x"][1][0], a["x"][1][-1] = 1, -1
            a["x"][2] = 0
        want = ref.rmsnorm_s8(a["x"], a["gain_mult"], a["gain_shift"], a["eps_q16"])
        y = fast.rmsnorm_s8(a["x"], a["gain_mult"], a["gain_shift"], a["eps_q16"])
        assert np.array_equal(y, want), f"eps {eps}: {np.argwhere(y != want)[:3].tolist()}"


def test_rmsnorm_rejects_what_the_kernel_rejects(fast):
    ffi, lib = fast.ffi, fast.lib
    fast.select()
    x, y = np.zeros((2, 8), np.int8), np.zeros((2, 8), np.int8)
    gm, gs = np.ones(8, np.int32), np.zeros(8, np.int32)
    px, py, pm, ps = _p(ffi, "int8_t", x), _p(ffi, "int8_t", y), _p(ffi, "int32_t", gm), _p(ffi, "int32_t", gs)
    assert lib.thm_rmsnorm_s8(px, pm, ps, -1, py, 2, 8) == THM_E_ARG
    assert lib.thm_rmsnorm_s8(px, pm, ps, (1 << 40) + 1, py, 2, 8) == THM_E_ARG
    assert lib.thm_rmsnorm_s8(px, pm, ps, 0, py, 2, 0) == THM_E_ARG
    assert lib.thm_rmsnorm_s8(px, pm, ps, 0, py, 2, 4097) == THM_E_ARG
    gs[3] = 31
    assert lib.thm_rmsnorm_s8(px, pm, ps, 0, py, 2, 8) == THM_E_ARG


# --- residual -----------------------------------------------------------------

@pytest.mark.parametrize("rq", ["typical", "extreme", "wrap"])
@pytest.mark.parametrize("r,y", [("random", "random"), ("corners", "corners"), ("max", "max"), ("min", "min")])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 257, 511, 512, 1000])
def test_residual_matches_reference(fast, n, r, y, rq):
    for seed in range(3):
        a = kc.residual(seed=seed * 7 + n, shape=(n,), r=r, y=y, rq=rq)
        want = ref.residual_gated_s16(a["r"], a["y"], a["mult"], a["shift"])
        got = fast.residual_gated_s16(a["r"], a["y"], a["mult"], a["shift"])
        assert np.array_equal(got, want), f"seed {seed}: {np.flatnonzero(got != want)[:5]}"


# --- attention digit recombination -------------------------------------------

@pytest.mark.parametrize("digits", [2, 3])
@pytest.mark.parametrize("rq", ["typical", "extreme", "wrap"])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 64, 200])
def test_pv_combine_matches_reference(fast, n, rq, digits):
    """P.V from its digit sums == the exact int32 (wrapping) sum, requantized."""
    ffi, lib = fast.ffi, fast.lib
    rng = np.random.default_rng(n * digits)
    s = [kc.ints(rng, n, np.int32, "random") for _ in range(3)]
    s[0][::3] = kc.I32_MAX
    s[1][1::4] = kc.I32_MIN
    s[2][2::4] = kc.I32_MIN
    mult, shift = kc.requant(rng, 1, rq)
    if digits == 3:
        acc = (s[2].astype(np.int64) << 14) + (s[1].astype(np.int64) << 7) + s[0]
    else:
        acc = (s[1].astype(np.int64) << 8) + s[0]
    acc = ((acc + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)        # int32 wrap
    want = np.clip(ref.requantize(acc, int(mult[0]), int(shift[0])), -128, 127).astype(np.int8)
    out = fast.pv_combine_s8(s[0], s[1], s[2] if digits == 3 else None, int(mult[0]), int(shift[0]))
    assert np.array_equal(out, want)
    fast.select()
    ps = [_p(ffi, "int32_t", v) for v in s]
    if digits == 2:
        ps[2] = ffi.NULL
    assert lib.thm_pv_combine_s8(*ps, n, 1, 31, _p(ffi, "int8_t", out)) == THM_E_ARG


# --- requantize (the logits) ---------------------------------------------------

@pytest.mark.parametrize("kind", ["typical", "extreme", "wrap", "zero"])
@pytest.mark.parametrize("n", [1, 15, 16, 17, 1000])
def test_requantize_s32_matches_reference(fast, n, kind):
    ffi, lib = fast.ffi, fast.lib
    a = kc.requantize(seed=n, shape=(n,), kind=kind)
    want = ref.requantize(a["acc"], a["mult"], a["shift"]).astype(np.int32)
    assert np.array_equal(fast.requantize(a["acc"], a["mult"], a["shift"]), want)
    fast.select()
    out = np.zeros(n, np.int32)
    pm, ps = _p(ffi, "int32_t", a["mult"]), _p(ffi, "int32_t", a["shift"])
    a["shift"][n // 2] = -32
    assert lib.thm_requantize_s32(_p(ffi, "int32_t", a["acc"]), pm, ps, _p(ffi, "int32_t", out), n) == THM_E_ARG


# --- RoPE ------------------------------------------------------------------------

@pytest.mark.parametrize("table", ["real", "random", "corners"])
@pytest.mark.parametrize("x", ["random", "corners", "min", "max"])
@pytest.mark.parametrize("T,H,D,pos0", [(1, 1, 2, 0), (3, 2, 20, 5), (5, 3, 34, 0), (4, 8, 64, 9), (2, 1, 256, 1)])
def test_rope_matches_reference(fast, T, H, D, pos0, x, table):
    ffi, lib = fast.ffi, fast.lib
    n_pos = pos0 + T + 3
    a = kc.rope(seed=T * D + H, T=T, H=H, D=D, n_pos=n_pos, pos0=pos0, x=x, table=table)
    want = ref.rope_s8(a["x"], H, a["cos_q14"], a["sin_q14"], pos0=pos0)
    assert np.array_equal(fast.rope_s8(a["x"], H, a["cos_q14"], a["sin_q14"], pos0=pos0), want)
    fast.select()
    pc, ps = _p(ffi, "int16_t", a["cos_q14"]), _p(ffi, "int16_t", a["sin_q14"])
    inplace = a["x"].copy()                                   # the model runs it in place
    px = _p(ffi, "int8_t", inplace)
    assert lib.thm_rope_s8(px, pc, ps, px, T, H, D, pos0, n_pos) == THM_OK
    assert np.array_equal(inplace, want)
    assert lib.thm_rope_s8(px, pc, ps, px, T, H, D, n_pos - T + 1, n_pos) == THM_E_ARG   # past the table
    assert lib.thm_rope_s8(px, pc, ps, px, T, H, D + 1, pos0, n_pos) == THM_E_ARG         # odd D


# --- one-row matmul (a decode step: M == 1) -------------------------------------

@pytest.mark.parametrize("rq", ["typical", "extreme", "wrap"])
@pytest.mark.parametrize("vals", ["random", "corners", "min", "max"])
@pytest.mark.parametrize("K,N", [(1, 1), (17, 3), (63, 5), (64, 16), (65, 17), (512, 100), (1024, 37), (1025, 9)])
@pytest.mark.parametrize("bias", ["none", "extreme"])
def test_gemv_matches_reference(fast, K, N, vals, rq, bias):
    """K 1025: past the AVX-512 gemv's registers, the tiled matmul takes it.
    The one-row forms (gemv_*) and the matmul with M = 1 (each ISA's tiled
    path) give the reference's bits."""
    a = kc.matmul(seed=K * 13 + N, M=1, K=K, N=N, x=vals, w=vals, bias=bias, rq=rq)
    b = a.get("bias")
    want8 = ref.matmul_s8(a["x"], a["w"], a["mult"], a["shift"], b)
    want32 = ref.matmul_s8_s32(a["x"], a["w"], b)
    assert np.array_equal(fast.matmul_s8(a["x"], a["w"], a["mult"], a["shift"], b), want8)
    assert np.array_equal(fast.matmul_s8_s32(a["x"], a["w"], b), want32)
    assert np.array_equal(fast.gemv_s8(a["x"][0], a["w"], a["mult"], a["shift"], b), want8[0])
    assert np.array_equal(fast.gemv_s8_s32(a["x"][0], a["w"], b), want32[0])


def test_gemv_rejects_bad_arguments(fast):
    ffi, lib = fast.ffi, fast.lib
    fast.select()
    x, w = np.zeros(1025, np.int8), np.zeros(1025 * 2, np.int8)
    m, s = np.ones(2, np.int32), np.zeros(2, np.int32)
    y8, y32 = np.zeros(2, np.int8), np.zeros(2, np.int32)
    px, pw, pm, ps = _p(ffi, "int8_t", x), _p(ffi, "int8_t", w), _p(ffi, "int32_t", m), _p(ffi, "int32_t", s)
    p8, p32 = _p(ffi, "int8_t", y8), _p(ffi, "int32_t", y32)
    assert lib.thm_matmul_s8(px, pw, ffi.NULL, pm, ps, p8, 1, 0, 2) == THM_E_ARG
    assert lib.thm_matmul_s8_s32(px, pw, ffi.NULL, p32, 1, 0, 2) == THM_E_ARG
    assert lib.thm_matmul_s8(px, pw, ffi.NULL, pm, ps, ffi.NULL, 1, 8, 2) == THM_E_ARG      # no output
    assert lib.thm_matmul_s8_s32(px, pw, ffi.NULL, ffi.NULL, 1, 8, 2) == THM_E_ARG
    assert lib.thm_matmul_s8(px, pw, ffi.NULL, ffi.NULL, ps, p8, 1, 8, 2) == THM_E_ARG
    assert lib.thm_gemv_s8(px, pw, ffi.NULL, pm, ps, p8, 0, 2) == THM_E_ARG
    assert lib.thm_gemv_s8_s32(px, pw, ffi.NULL, p32, 0, 2) == THM_E_ARG
    assert lib.thm_gemv_s8(px, pw, ffi.NULL, pm, ps, ffi.NULL, 8, 2) == THM_E_ARG
    assert lib.thm_gemv_s8_s32(px, pw, ffi.NULL, ffi.NULL, 8, 2) == THM_E_ARG
    assert lib.thm_gemv_s8(px, pw, ffi.NULL, ffi.NULL, ps, p8, 8, 2) == THM_E_ARG
    assert lib.thm_gemv_s8(px, pw, ffi.NULL, pm, ps, p8, 8, 2) == THM_OK
    s[1] = -32
    assert lib.thm_matmul_s8(px, pw, ffi.NULL, pm, ps, p8, 1, 8, 2) == THM_E_ARG
    assert lib.thm_gemv_s8(px, pw, ffi.NULL, pm, ps, p8, 8, 2) == THM_E_ARG


# --- model level: every ISA == IntNeedle ----------------------------------------

def test_model_every_isa_matches_reference(gqa_quant_speed):
    qm = gqa_quant_speed
    isas = [i for i in c_backend.ISAS if c_backend.isa_available(i)]
    assert "portable" in isas
    # 33 tokens: mostly the two-digit P.V; 1 token: p = 32767, the three-digit one
    for n in (33, 1):
        _model_matches(qm, n, isas)


def _model_matches(qm, n, isas):
    from thimble.quant import to_image
    from thimble.sim import IntNeedle
    from thimble.kernels import get_backend
    from thimble.sim.c_model import CModel
    toks = np.random.default_rng(3).integers(6, qm.config.vocab_size, n).astype(np.int32)
    im = IntNeedle(qm, get_backend("reference"))
    enc = im.encode(toks)
    st = im.start_decoder(enc)
    want, tok = [], 1
    for _ in range(5):
        lg = im.decode_step(st, tok)
        want.append(lg)
        tok = int(np.argmax(lg))
    for isa in isas:
        cm = CModel(to_image(qm), isa=isa)
        cm.encode(toks)
        assert np.array_equal(cm.encoder_out, enc), isa
        got, tok = [], 1
        for _ in range(5):
            got.append(cm.decode_step(tok))
            tok = int(np.argmax(got[-1]))
        assert np.array_equal(np.array(got), np.array(want)), isa
        assert cm.crc == st.crc, isa


@pytest.fixture(scope="module")
def gqa_quant_speed():
    from thimble.model.synth import random_model, tiny_config
    from thimble.quant import calibrate, quantize, random_prompts
    # d_model 80: rows of 80 and head size 20 exercise the 16/64-lane tails
    cfg = tiny_config(vocab_size=211, d_model=80, num_heads=4, num_kv_heads=2, num_encoder_layers=2,
                      num_decoder_layers=2, max_seq_len=40)
    fm = random_model(cfg, seed=11, weight_scale=4)
    return quantize(fm, calibrate(fm, random_prompts(cfg, n=3, length=12, seed=11), decode_tokens=6))


# --- the AVX2 rows' lanes and tails (kernels/x86/thm_rows_avx2.c) ---------------

def test_softmax_every_exp_table_entry_in_vector_lanes(fast):
    """test_softmax_every_exp_table_entry with rows of 8 (one AVX2 vector, no
    scalar tail): the top at lane 0, -z at a lane that moves with z, the rest
    past diff_max, so each z's hi and lo table reads show in its own row."""
    z = np.arange(4201, dtype=np.int32)
    s = np.full((z.size, 8), -10000, np.int32)
    s[:, 0] = 0
    s[np.arange(z.size), 1 + z % 7] = -z
    want = np.stack([ref.softmax_q15(row, 1 << 30, 1, 5000) for row in s])
    assert np.array_equal(fast.softmax_q15_rows(s, 1 << 30, 1, 5000), want)


@pytest.mark.parametrize("bq,Tk,D", [(2, 1100, 5), (3, 700, 8), (1, 2049, 3)])
def test_pv_rows_sums_that_wrap_int32(fast, bq, Tk, D):
    """p = 32767 against v = -128 over > 512 keys: the exact sum leaves int32
    and wraps (the portable digit sums wrap the same way in uint32)."""
    p = np.full((bq, Tk), 32767, np.int16)
    vt = np.full((D, Tk), -128, np.int8)
    vt[:, ::3] = 127
    for mult, shift in [(1 << 30, -20), (-(1 << 31), 0), (12345, 30)]:
        want = ref.pv_rows_s8(p, vt, mult, shift)
        assert np.array_equal(fast.pv_rows_s8(p, vt, mult, shift), want), (mult, shift)


@pytest.mark.parametrize("D", [80, 97, 113, 128, 129])
def test_attention_head_dims_past_one_64_block(fast, D):
    """P.V of one query row in 64-channel passes, then 16-channel blocks, then
    single channels; an odd number of keys (the last one unpaired)."""
    a = kc.attention(seed=D, Tq=3, Tk=37, H=2, Hkv=1, D=D, causal=True, q_pos0=30, mask="random")
    assert np.array_equal(fast.attention_s8(**a), ref.attention_s8(**a))


@pytest.mark.parametrize("dtype", ["int8", "int16"])
def test_rmsnorm_zero_rows_among_vector_rows(fast, dtype):
    """All-zero rows (2^46 / rms past INT32_MAX: the scalar formula) between
    ordinary rows of one 32-row block, with a channel tail (D = 8k + 5)."""
    a = kc.rmsnorm(seed=8, rows=37, D=45, dtype=dtype, x="random", rq="extreme")
    a["x"][::3] = 0
    a["x"][1::5, ::2] = 1                      # tiny rows: also past INT32_MAX
    want = ref.rmsnorm_s8(a["x"], a["gain_mult"], a["gain_shift"], a["eps_q16"])
    assert np.array_equal(fast.rmsnorm_s8(a["x"], a["gain_mult"], a["gain_shift"], a["eps_q16"]), want)
