"""The C kernels through cffi. Arguments arrive already checked (checks.py);
a non-zero status from C is still turned into an exception, never ignored."""
import numpy as np

from .. import _kernels
from . import isa as _isa

ffi, lib = _kernels.ffi, _kernels.lib

# The host ISAs of the ISA table (isa.py), by name -> THM_ISA_* id; the C
# header's ids must be the table's (tests/kernels/test_isa_table.py).
ISAS = {name: _isa.BY_NAME[name].id for name in _isa.HOST_ISAS}
_ERRORS = {lib.THM_E_ARG: "argument out of range", lib.THM_E_TOKEN: "token id out of range",
           lib.THM_E_ISA: "instruction set not available"}


def isa_available(isa):
    return bool(lib.thm_isa_available(ISAS[isa]))


# Why AMX is unavailable (thm_isa_amx_status), said instead of a silent fallback.
AMX_STATUS = {lib.THM_AMX_OK: "available",
              lib.THM_AMX_NO_CPU: "this CPU lacks AMX-TILE/AMX-INT8 (or AVX-512 VNNI)",
              lib.THM_AMX_NO_OS: "the OS does not enable the tile state (XCR0 bits 17, 18)",
              lib.THM_AMX_NO_PERMISSION: "the kernel refused the tile-data permission "
                                         "(arch_prctl ARCH_REQ_XCOMP_PERM, XTILEDATA)"}


def amx_status():
    """Why c:amx can or cannot run here, in words."""
    return AMX_STATUS.get(lib.thm_isa_amx_status(), "unknown")


def unavailable_reason(isa):
    if isa == "amx":
        return f"AMX: {amx_status()}"
    return f"this CPU or build cannot run the {isa} kernels"


def best_isa():
    """The fastest host ISA this CPU runs: AMX where the kernel allows tiles (else
    AVX-512 VNNI, which `thimble bench` and the backend name then show), then
    AVX-VNNI (CPUs without AVX-512), then AVX2."""
    for isa in ("amx", "avx512vnni", "avxvnni", "avx2"):
        if isa_available(isa):
            return isa
    return "portable"


def select_isa(isa):
    """Make isa the one thm_matmul_s8* use. Called before every kernel call, so
    it asks C first: thm_isa_set re-runs CPUID (~14 us), thm_isa_get is a load.
    Not cached here, because anything else in the process may switch it."""
    want = ISAS[isa]
    if lib.thm_isa_get() != want:
        _check(lib.thm_isa_set(want), f"select {isa}")


def _check(status, what):
    if status != lib.THM_OK:
        raise RuntimeError(f"{what}: C kernel returned {status} ({_ERRORS.get(status, 'unknown')})")


def _p(ctype, a):
    return ffi.NULL if a is None else ffi.cast(ctype, ffi.from_buffer(a))


def requantize(acc, mult, shift):
    out = np.empty_like(acc)
    _check(lib.thm_requantize_s32(_p("int32_t *", acc), _p("int32_t *", mult),
                                  _p("int32_t *", shift), _p("int32_t *", out), acc.size),
           "requantize")
    return out


def matmul_s8(x, w, mult, shift, bias=None):
    M, K = x.shape
    N = w.shape[0]
    y = np.empty((M, N), dtype=np.int8)
    _check(lib.thm_matmul_s8(_p("int8_t *", x), _p("int8_t *", w), _p("int32_t *", bias),
                             _p("int32_t *", mult), _p("int32_t *", shift), _p("int8_t *", y),
                             M, K, N), "matmul_s8")
    return y


def matmul_s8_s32(x, w, bias=None):
    M, K = x.shape
    N = w.shape[0]
    y = np.empty((M, N), dtype=np.int32)
    _check(lib.thm_matmul_s8_s32(_p("int8_t *", x), _p("int8_t *", w), _p("int32_t *", bias),
                                 _p("int32_t *", y), M, K, N), "matmul_s8_s32")
    return y


def matmul_s4(x, w4, mult, shift, bias=None):
    M, K = x.shape
    N = w4.shape[0]
    y = np.empty((M, N), dtype=np.int8)
    _check(lib.thm_matmul_s4(_p("int8_t *", x), _p("uint8_t *", w4), _p("int32_t *", bias),
                             _p("int32_t *", mult), _p("int32_t *", shift), _p("int8_t *", y),
                             M, K, N), "matmul_s4")
    return y


def matmul_s4_s32(x, w4, bias=None):
    M, K = x.shape
    N = w4.shape[0]
    y = np.empty((M, N), dtype=np.int32)
    _check(lib.thm_matmul_s4_s32(_p("int8_t *", x), _p("uint8_t *", w4), _p("int32_t *", bias),
                                 _p("int32_t *", y), M, K, N), "matmul_s4_s32")
    return y


def cq_rotate_s8(x):
    M, K = x.shape
    G = -(-K // 128)
    xr = np.empty((M, G * 128), dtype=np.int8)
    sh = np.empty((M, G), dtype=np.uint8)
    _check(lib.thm_cq_rotate_s8(_p("int8_t *", x), _p("int8_t *", xr), _p("uint8_t *", sh), M, K), "cq_rotate_s8")
    return xr, sh


def _matmul_cq(fn, ctype, dtype, xr, sh, w, bits, lut, norm_q, mult, rshift):
    M, Kp = xr.shape
    N = w.shape[0]
    y = np.empty((M, N), dtype=dtype)
    _check(fn(_p("int8_t *", xr), _p("uint8_t *", sh), _p("uint8_t *", w), bits, _p("int8_t *", lut),
              _p("uint16_t *", norm_q), _p("int32_t *", mult), _p("int32_t *", rshift), _p(ctype, y), M, Kp, N),
           "matmul_cq")
    return y


def matmul_cq(*args):
    return _matmul_cq(lib.thm_matmul_cq_s8, "int8_t *", np.int8, *args)


def matmul_cq_s32(*args):
    return _matmul_cq(lib.thm_matmul_cq_s32, "int32_t *", np.int32, *args)


def sinkhorn_q12(logits, iters):
    n = logits.shape[-1]
    flat = np.ascontiguousarray(logits.reshape(-1, n, n))
    p = np.empty(flat.shape, dtype=np.int16)
    _check(lib.thm_sinkhorn_q12(_p("int32_t *", flat), flat.shape[0], n, iters, _p("int16_t *", p)), "sinkhorn_q12")
    return p.reshape(logits.shape)


def engram_hash(history, positions, orders, heads, slots):
    out = np.empty((positions.size, len(orders) * heads), dtype=np.int32)
    o = np.asarray(orders, dtype=np.int32)
    for i, pos in enumerate(positions):
        _check(lib.thm_engram_hash(_p("int32_t *", history), history.size, int(pos), _p("int32_t *", o), o.size,
                                   heads, slots, _p("int32_t *", out[i])), "engram_hash")
    return out


def sigmoid_q15(z):
    flat = np.ascontiguousarray(z.reshape(-1))
    out = np.empty(flat.shape, dtype=np.int32)
    _check(lib.thm_sigmoid_q15(_p("int32_t *", flat), flat.size, _p("int32_t *", out)), "sigmoid_q15")
    return out.reshape(z.shape)


def fwht_s8_s32(x):
    out = np.empty(x.shape, dtype=np.int32)
    _check(lib.thm_fwht_s8_s32(_p("int8_t *", x), x.shape[0], x.shape[1], _p("int32_t *", out)), "fwht_s8_s32")
    return out


def cq_gather(w, bits, lut, norm_q, rows, mult, rshift, K, bound):
    out = np.empty((rows.size, K), dtype=np.int16 if bound > 127 else np.int8)
    _check(lib.thm_cq_gather(_p("uint8_t *", w), w.shape[0], w.shape[1] * 8 // bits, bits, _p("int8_t *", lut),
                             _p("uint16_t *", norm_q), _p("int32_t *", rows), rows.size, _p("int32_t *", mult),
                             _p("int32_t *", rshift), K, bound, _p("void *", out)), "cq_gather")
    return out


def gemv_s8(x, w, mult, shift, bias=None):
    N, K = w.shape
    y = np.empty(N, dtype=np.int8)
    _check(lib.thm_gemv_s8(_p("int8_t *", x), _p("int8_t *", w), _p("int32_t *", bias), _p("int32_t *", mult),
                           _p("int32_t *", shift), _p("int8_t *", y), K, N), "gemv_s8")
    return y


def gemv_s8_s32(x, w, bias=None):
    N, K = w.shape
    y = np.empty(N, dtype=np.int32)
    _check(lib.thm_gemv_s8_s32(_p("int8_t *", x), _p("int8_t *", w), _p("int32_t *", bias), _p("int32_t *", y),
                               K, N), "gemv_s8_s32")
    return y


def _scratch(nbytes):
    return np.empty(max(int(nbytes), 4) // 4 + 1, dtype=np.int32)   # 4-byte aligned


def softmax_q15(scores, mult, shift, diff_max, mask=None):
    n = scores.shape[0]
    p = np.empty(n, dtype=np.int16)
    scratch = _scratch(lib.thm_softmax_q15_scratch_size(n))
    _check(lib.thm_softmax_q15(_p("int32_t *", scores), _p("uint8_t *", mask), _p("int16_t *", p),
                               n, mult, shift, diff_max, _p("void *", scratch)), "softmax_q15")
    return p


def softmax_q15_rows(scores, mult, shift, diff_max):
    rows, n = scores.shape
    p = np.empty((rows, n), dtype=np.int16)
    scratch = _scratch(lib.thm_softmax_q15_scratch_size(n))
    _check(lib.thm_softmax_q15_rows(_p("int32_t *", scores), _p("int16_t *", p), rows, n, mult, shift,
                                    diff_max, _p("void *", scratch)), "softmax_q15_rows")
    return p


def pv_rows_s8(p, vt, mult, shift):
    (bq, Tk), D = p.shape, vt.shape[0]
    out = np.empty((bq, D), dtype=np.int8)
    scratch = _scratch(lib.thm_pv_rows_s8_scratch_size(bq, Tk, D))
    _check(lib.thm_pv_rows_s8(_p("int16_t *", p), bq, Tk, _p("int8_t *", vt), D, mult, shift,
                              _p("int8_t *", out), D, _p("void *", scratch)), "pv_rows_s8")
    return out


def pv_combine_s8(s0, s1, s2, mult, shift):
    out = np.empty(s0.shape[0], dtype=np.int8)
    _check(lib.thm_pv_combine_s8(_p("int32_t *", s0), _p("int32_t *", s1), _p("int32_t *", s2),
                                 s0.shape[0], mult, shift, _p("int8_t *", out)), "pv_combine_s8")
    return out


def attention_s8(q, k, v, n_heads, n_kv_heads, score_mult, score_shift, diff_max,
                 out_mult, out_shift, causal=False, q_pos0=0, kv_mask=None):
    Tq, Tk = q.shape[0], k.shape[0]
    prm = ffi.new("thm_attn_params *", dict(
        n_heads=n_heads, n_kv_heads=n_kv_heads, head_dim=q.shape[1] // n_heads,
        causal=1 if causal else 0, q_pos0=q_pos0, score_mult=score_mult,
        score_shift=score_shift, diff_max=diff_max, out_mult=out_mult, out_shift=out_shift))
    out = np.empty_like(q)
    scratch = _scratch(lib.thm_attention_s8_scratch_size(Tk))
    _check(lib.thm_attention_s8(_p("int8_t *", q), _p("int8_t *", k), _p("int8_t *", v),
                                _p("uint8_t *", kv_mask), _p("int8_t *", out), Tq, Tk, prm,
                                _p("void *", scratch)), "attention_s8")
    return out


def rmsnorm_s8(x, gain_mult, gain_shift, eps_q16):
    rows, D = x.shape
    y = np.empty((rows, D), dtype=np.int8)
    fn, ctype = ((lib.thm_rmsnorm_s16, "int16_t *") if x.dtype == np.int16
                 else (lib.thm_rmsnorm_s8, "int8_t *"))
    _check(fn(_p(ctype, x), _p("int32_t *", gain_mult), _p("int32_t *", gain_shift), eps_q16,
              _p("int8_t *", y), rows, D), "rmsnorm")
    return y


def rope_s8(x, n_heads, cos_q14, sin_q14, pos0=0):
    T = x.shape[0]
    y = np.empty_like(x)
    _check(lib.thm_rope_s8(_p("int8_t *", x), _p("int16_t *", cos_q14), _p("int16_t *", sin_q14),
                           _p("int8_t *", y), T, n_heads, x.shape[1] // n_heads, pos0,
                           cos_q14.shape[0]), "rope_s8")
    return y


def residual_gated_s16(r, y, mult, shift):
    out = r.copy()
    _check(lib.thm_residual_gated_s16(_p("int16_t *", out), _p("int8_t *", y), r.size, mult, shift),
           "residual_gated_s16")
    return out


def embed_s16(tokens, table, mult, shift):
    V, D = table.shape
    out = np.empty((tokens.shape[0], D), dtype=np.int16)
    _check(lib.thm_embed_s16(_p("int32_t *", tokens), tokens.shape[0], _p("int8_t *", table),
                             _p("int32_t *", mult), _p("int32_t *", shift), V, D,
                             _p("int16_t *", out)), "embed_s16")
    return out


def embed_s16_s4(tokens, table4, D, mult, shift):
    V = table4.shape[0]
    out = np.empty((tokens.shape[0], D), dtype=np.int16)
    _check(lib.thm_embed_s16_s4(_p("int32_t *", tokens), tokens.shape[0], _p("uint8_t *", table4),
                                _p("int32_t *", mult), _p("int32_t *", shift), V, D,
                                _p("int16_t *", out)), "embed_s16_s4")
    return out
