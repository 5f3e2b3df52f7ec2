"""The C API itself, through the cffi module, below the Python checks: every
size or parameter outside the header's stated range returns THM_E_ARG (a
token outside the table THM_E_TOKEN, an unknown ISA THM_E_ISA) before any
memory is touched, and empty calls succeed without buffers."""
import subprocess
import sys
import textwrap

import pytest

from thimble._kernels import ffi, lib

NULL = ffi.NULL
OK, E_ARG, E_TOKEN, E_ISA = lib.THM_OK, lib.THM_E_ARG, lib.THM_E_TOKEN, lib.THM_E_ISA


def buf(ctype, n, value=0):
    return ffi.new(f"{ctype}[]", [value] * n)


def attn_params(**change):
    prm = dict(n_heads=4, n_kv_heads=2, head_dim=8, causal=0, q_pos0=0, score_mult=1 << 30,
               score_shift=-8, diff_max=1000, out_mult=1 << 30, out_shift=-15)
    prm.update(change)
    return ffi.new("thm_attn_params *", prm)


def matmul(M=2, K=3, N=4, x=True, w=True, y=True, shift=0):
    return lib.thm_matmul_s8(buf("int8_t", 64) if x else NULL, buf("int8_t", 64) if w else NULL, NULL,
                             buf("int32_t", 8, 1 << 30), buf("int32_t", 8, shift),
                             buf("int8_t", 64) if y else NULL, M, K, N)


def matmul_s32(M=2, K=3, N=4, x=True, y=True):
    return lib.thm_matmul_s8_s32(buf("int8_t", 64) if x else NULL, buf("int8_t", 64), NULL,
                                 buf("int32_t", 64) if y else NULL, M, K, N)


def softmax(n=6, mult=1 << 30, shift=-2, diff_max=100, scores=True, p=True, scratch=True):
    return lib.thm_softmax_q15(buf("int32_t", 8) if scores else NULL, NULL, buf("int16_t", 8) if p else NULL,
                               n, mult, shift, diff_max, buf("int32_t", 8) if scratch else NULL)


def softmax_rows(rows=2, n=3, mult=1 << 30, shift=-2, diff_max=100, scores=True, scratch=True):
    return lib.thm_softmax_q15_rows(buf("int32_t", 8) if scores else NULL, buf("int16_t", 8), rows, n, mult, shift,
                                    diff_max, buf("int32_t", 8) if scratch else NULL)


def pv_rows(bq=2, Tk=3, D=4, shift=-15, stride=None, p=True, scratch=True):
    return lib.thm_pv_rows_s8(buf("int16_t", 64, 100) if p else NULL, bq, Tk, buf("int8_t", 64), D, 1 << 30, shift,
                              buf("int8_t", 64), D if stride is None else stride,
                              buf("int32_t", 256) if scratch else NULL)


def pv_combine(n=4, shift=-3, s0=True, s2=True):
    return lib.thm_pv_combine_s8(buf("int32_t", 8) if s0 else NULL, buf("int32_t", 8),
                                 buf("int32_t", 8) if s2 else NULL, n, 1 << 30, shift, buf("int8_t", 8))


def attention(Tq=2, Tk=3, prm=None, q=True, scratch=True):
    prm = attn_params() if prm is None else prm
    return lib.thm_attention_s8(buf("int8_t", 64) if q else NULL, buf("int8_t", 64), buf("int8_t", 64),
                                NULL, buf("int8_t", 64), Tq, Tk, prm,
                                buf("int32_t", 64) if scratch else NULL)


def rmsnorm(fn="s16", rows=2, D=5, eps=0, x=True, gain=True, gain_shift=-10):
    f, xt = (lib.thm_rmsnorm_s16, "int16_t") if fn == "s16" else (lib.thm_rmsnorm_s8, "int8_t")
    g = buf("int32_t", 8, 1 << 30) if gain else NULL
    return f(buf(xt, 16) if x else NULL, g, buf("int32_t", 8, gain_shift), eps, buf("int8_t", 16), rows, D)


def rope(T=2, H=2, D=4, pos0=0, n_pos=4, x=True, table=True):
    t = buf("int16_t", 16) if table else NULL
    return lib.thm_rope_s8(buf("int8_t", 32) if x else NULL, t, buf("int16_t", 16), buf("int8_t", 32),
                           T, H, D, pos0, n_pos)


def residual(n=4, shift=0, r=True):
    return lib.thm_residual_gated_s16(buf("int16_t", 8) if r else NULL, buf("int8_t", 8), n, 1 << 30, shift)


def embed(tokens=(0, 2), V=3, D=4, shift=0, table=True):
    tok = ffi.new("int32_t[]", list(tokens)) if tokens else NULL
    return lib.thm_embed_s16(tok, len(tokens), buf("int8_t", 32) if table else NULL,
                             buf("int32_t", 8, 1 << 30), buf("int32_t", 8, shift), V, D, buf("int16_t", 64))


def requantize(n=4, shift=0):
    return lib.thm_requantize_s32(buf("int32_t", 8), buf("int32_t", 8), buf("int32_t", 8, shift),
                                  buf("int32_t", 8), n)


# (what, call, expected status)
CASES = [
    ("requantize ok", lambda: requantize(), OK),
    ("requantize n<0", lambda: requantize(n=-1), E_ARG),
    ("requantize shift 31", lambda: requantize(shift=31), E_ARG),
    ("requantize shift -32", lambda: requantize(shift=-32), E_ARG),
    ("requantize n=0 no buffers", lambda: lib.thm_requantize_s32(NULL, NULL, NULL, NULL, 0), OK),
    ("matmul ok", lambda: matmul(), OK),
    ("matmul K=0", lambda: matmul(K=0), E_ARG),
    ("matmul K=THM_MAX_K+1", lambda: matmul(K=lib.THM_MAX_K + 1), E_ARG),
    ("matmul M<0", lambda: matmul(M=-1), E_ARG),
    ("matmul N<0", lambda: matmul(N=-1), E_ARG),
    ("matmul x NULL", lambda: matmul(x=False), E_ARG),
    ("matmul w NULL", lambda: matmul(w=False), E_ARG),
    ("matmul y NULL", lambda: matmul(y=False), E_ARG),
    ("matmul shift 31", lambda: matmul(shift=31), E_ARG),
    ("matmul M=0 x NULL", lambda: matmul(M=0, x=False, y=False), OK),
    ("matmul_s32 K=0", lambda: matmul_s32(K=0), E_ARG),
    ("matmul_s32 K=THM_MAX_K+1", lambda: matmul_s32(K=lib.THM_MAX_K + 1), E_ARG),
    ("matmul_s32 y NULL", lambda: matmul_s32(y=False), E_ARG),
    ("matmul_s32 x NULL", lambda: matmul_s32(x=False), E_ARG),
    ("softmax ok", lambda: softmax(), OK),
    ("softmax n<0", lambda: softmax(n=-1), E_ARG),
    ("softmax mult<0", lambda: softmax(mult=-1), E_ARG),
    ("softmax shift 31", lambda: softmax(shift=31), E_ARG),
    ("softmax shift -32", lambda: softmax(shift=-32), E_ARG),
    ("softmax diff_max<0", lambda: softmax(diff_max=-1), E_ARG),
    ("softmax diff_max wraps", lambda: softmax(shift=4, diff_max=((1 << 31) - 1 >> 4) + 1), E_ARG),
    ("softmax largest diff_max", lambda: softmax(shift=4, diff_max=(1 << 31) - 1 >> 4), OK),
    ("softmax scores NULL", lambda: softmax(scores=False), E_ARG),
    ("softmax p NULL", lambda: softmax(p=False), E_ARG),
    ("softmax scratch NULL", lambda: softmax(scratch=False), E_ARG),
    ("softmax n=0 no buffers", lambda: softmax(n=0, scores=False, p=False, scratch=False), OK),
    ("attention ok", lambda: attention(), OK),
    ("attention prm NULL", lambda: attention(prm=NULL), E_ARG),
    ("attention Tq<0", lambda: attention(Tq=-1), E_ARG),
    ("attention Tk=0", lambda: attention(Tk=0), E_ARG),
    ("attention n_heads 0", lambda: attention(prm=attn_params(n_heads=0)), E_ARG),
    ("attention n_kv_heads 0", lambda: attention(prm=attn_params(n_kv_heads=0)), E_ARG),
    ("attention heads not grouped", lambda: attention(prm=attn_params(n_heads=3)), E_ARG),
    ("attention head_dim 0", lambda: attention(prm=attn_params(head_dim=0)), E_ARG),
    ("attention head_dim 257", lambda: attention(prm=attn_params(head_dim=lib.THM_MAX_HEAD_DIM + 1)), E_ARG),
    ("attention causal q_pos0<0", lambda: attention(prm=attn_params(causal=1, q_pos0=-1)), E_ARG),
    ("attention score_mult<0", lambda: attention(prm=attn_params(score_mult=-1)), E_ARG),
    ("attention score_shift 31", lambda: attention(prm=attn_params(score_shift=31)), E_ARG),
    ("attention diff_max<0", lambda: attention(prm=attn_params(diff_max=-1)), E_ARG),
    ("attention diff_max wraps", lambda: attention(prm=attn_params(score_shift=1, diff_max=1 << 30)), E_ARG),
    ("attention out_shift -32", lambda: attention(prm=attn_params(out_shift=-32)), E_ARG),
    ("attention q NULL", lambda: attention(q=False), E_ARG),
    ("attention scratch NULL", lambda: attention(scratch=False), E_ARG),
    ("attention Tq=0 no buffers", lambda: lib.thm_attention_s8(NULL, NULL, NULL, NULL, NULL, 0, 3,
                                                                attn_params(), NULL), OK),
    ("rmsnorm_s16 ok", lambda: rmsnorm(), OK),
    ("rmsnorm_s8 ok", lambda: rmsnorm("s8"), OK),
    ("rmsnorm rows<0", lambda: rmsnorm(rows=-1), E_ARG),
    ("rmsnorm_s8 D=0", lambda: rmsnorm("s8", D=0), E_ARG),
    ("rmsnorm_s16 D=THM_MAX_NORM_DIM+1", lambda: rmsnorm(D=lib.THM_MAX_NORM_DIM + 1), E_ARG),
    ("rmsnorm eps<0", lambda: rmsnorm(eps=-1), E_ARG),
    ("rmsnorm_s8 eps 2^40+1", lambda: rmsnorm("s8", eps=(1 << 40) + 1), E_ARG),
    ("rmsnorm eps 2^40", lambda: rmsnorm(eps=1 << 40), OK),
    ("rmsnorm gain NULL", lambda: rmsnorm(gain=False), E_ARG),
    ("rmsnorm_s8 x NULL", lambda: rmsnorm("s8", x=False), E_ARG),
    ("rmsnorm gain_shift 31", lambda: rmsnorm(gain_shift=31), E_ARG),
    ("rope ok", lambda: rope(), OK),
    ("rope last rows", lambda: rope(pos0=2), OK),
    ("rope T<0", lambda: rope(T=-1), E_ARG),
    ("rope n_heads 0", lambda: rope(H=0), E_ARG),
    ("rope D odd", lambda: rope(D=3), E_ARG),
    ("rope D 258", lambda: rope(D=lib.THM_MAX_HEAD_DIM + 2), E_ARG),
    ("rope pos0<0", lambda: rope(pos0=-1), E_ARG),
    ("rope past table end", lambda: rope(pos0=3), E_ARG),
    ("rope pos0+T overflows int32", lambda: rope(pos0=(1 << 31) - 1, n_pos=(1 << 31) - 1), E_ARG),
    ("rope x NULL", lambda: rope(x=False), E_ARG),
    ("rope table NULL", lambda: rope(table=False), E_ARG),
    ("residual ok", lambda: residual(), OK),
    ("residual n<0", lambda: residual(n=-1), E_ARG),
    ("residual shift 31", lambda: residual(shift=31), E_ARG),
    ("residual r NULL", lambda: residual(r=False), E_ARG),
    ("residual n=0 no buffers", lambda: lib.thm_residual_gated_s16(NULL, NULL, 0, 1 << 30, 0), OK),
    ("softmax_rows ok", lambda: softmax_rows(), OK),
    ("softmax_rows rows<0", lambda: softmax_rows(rows=-1), E_ARG),
    ("softmax_rows n<0", lambda: softmax_rows(n=-1), E_ARG),
    ("softmax_rows mult<0", lambda: softmax_rows(mult=-1), E_ARG),
    ("softmax_rows shift 31", lambda: softmax_rows(shift=31), E_ARG),
    ("softmax_rows diff_max wraps", lambda: softmax_rows(shift=2, diff_max=1 << 30), E_ARG),
    ("softmax_rows scores NULL", lambda: softmax_rows(scores=False), E_ARG),
    ("softmax_rows scratch NULL", lambda: softmax_rows(scratch=False), E_ARG),
    ("softmax_rows rows=0 no buffers", lambda: lib.thm_softmax_q15_rows(NULL, NULL, 0, 5, 1, 0, 10, NULL), OK),
    ("pv_rows ok", lambda: pv_rows(), OK),
    ("pv_rows bq<0", lambda: pv_rows(bq=-1), E_ARG),
    ("pv_rows Tk=0", lambda: pv_rows(Tk=0), E_ARG),
    ("pv_rows Tk>THM_MAX_K", lambda: pv_rows(Tk=65537), E_ARG),
    ("pv_rows D=0", lambda: pv_rows(D=0), E_ARG),
    ("pv_rows D=257", lambda: pv_rows(D=257), E_ARG),
    ("pv_rows stride<D", lambda: pv_rows(stride=3), E_ARG),
    ("pv_rows shift -32", lambda: pv_rows(shift=-32), E_ARG),
    ("pv_rows p NULL", lambda: pv_rows(p=False), E_ARG),
    ("pv_rows scratch NULL", lambda: pv_rows(scratch=False), E_ARG),
    ("pv_rows bq=0 no buffers", lambda: lib.thm_pv_rows_s8(NULL, 0, 3, NULL, 4, 1, 0, NULL, 4, NULL), OK),
    ("pv_combine ok", lambda: pv_combine(), OK),
    ("pv_combine two digits", lambda: pv_combine(s2=False), OK),
    ("pv_combine n<0", lambda: pv_combine(n=-1), E_ARG),
    ("pv_combine shift 31", lambda: pv_combine(shift=31), E_ARG),
    ("pv_combine s0 NULL", lambda: pv_combine(s0=False), E_ARG),
    ("pv_combine n=0 no buffers", lambda: lib.thm_pv_combine_s8(NULL, NULL, NULL, 0, 1, 0, NULL), OK),
    ("embed ok", lambda: embed(), OK),
    ("embed token -1", lambda: embed(tokens=(0, -1)), E_TOKEN),
    ("embed token V", lambda: embed(tokens=(3,)), E_TOKEN),
    ("embed token INT32_MIN", lambda: embed(tokens=(-(1 << 31),)), E_TOKEN),
    ("embed V=0", lambda: embed(V=0), E_ARG),
    ("embed D=0", lambda: embed(D=0), E_ARG),
    ("embed table NULL", lambda: embed(table=False), E_ARG),
    ("embed shift 31", lambda: embed(shift=31), E_ARG),
]


@pytest.mark.parametrize("what,call,status", CASES, ids=[c[0] for c in CASES])
def test_status(what, call, status):
    got = call()
    assert got == status, f"{what}: C returned {got}, expected {status}"


def test_scratch_sizes_cover_the_buffers():
    assert lib.thm_softmax_q15_scratch_size(0) == 0
    assert lib.thm_softmax_q15_scratch_size(-5) == 0
    assert lib.thm_softmax_q15_scratch_size(1024) >= 1024 * 4
    assert lib.thm_attention_s8_scratch_size(0) == 0
    # scores [Tk] int32 + softmax scratch + probabilities [Tk] int16
    assert lib.thm_attention_s8_scratch_size(1024) >= 1024 * (4 + 4 + 2)
    # three int8 digits [bq, Tk] and three int32 sums [bq, D]
    assert lib.thm_pv_rows_s8_scratch_size(8, 100, 64) >= 3 * 8 * 100 + 3 * 8 * 64 * 4
    assert lib.thm_pv_rows_s8_scratch_size(2, 0, 4) == 0 and lib.thm_pv_rows_s8_scratch_size(-1, 3, 4) == 0


def test_unknown_isa_is_refused_and_changes_nothing():
    before = lib.thm_isa_get()
    for isa in (-1, 99, lib.THM_ISA_ARM_DSP, lib.THM_ISA_ARM_MVE, lib.THM_ISA_ARM_NEON_DOT):
        assert lib.thm_isa_available(isa) == 0, f"isa {isa} claims to be available on an x86 host"
        assert lib.thm_isa_set(isa) == E_ISA, f"thm_isa_set({isa})"
        assert lib.thm_isa_get() == before
    assert lib.thm_isa_available(lib.THM_ISA_PORTABLE) == 1


# NULL buffers that C reads before checking them. They crash today, so each
# runs in its own process, so a crash is a failure, not the end of the suite.
UNCHECKED_NULLS = {
    "requantize in NULL": "lib.thm_requantize_s32(NULL, b32, b32, b32, 4)",
    "matmul shift NULL": "lib.thm_matmul_s8(b8, b8, NULL, b32, NULL, b8, 2, 3, 4)",
    "matmul mult NULL": "lib.thm_matmul_s8(b8, b8, NULL, NULL, b32, b8, 2, 3, 4)",
}


@pytest.mark.parametrize("what", list(UNCHECKED_NULLS))
def test_unchecked_null_returns_e_arg(what):
    code = textwrap.dedent(f"""
        from thimble._kernels import ffi, lib
        NULL = ffi.NULL
        b8, b32 = ffi.new("int8_t[]", 64), ffi.new("int32_t[]", 64)
        print({UNCHECKED_NULLS[what]})
    """)
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and run.stdout.strip() == str(E_ARG), \
        f"{what}: exit {run.returncode}, printed {run.stdout.strip()!r}, stderr {run.stderr[-300:]!r}"
