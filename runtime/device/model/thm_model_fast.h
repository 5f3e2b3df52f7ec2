/* The row kernels and the one-row matmul as the model runtime calls them: on
 * the x86 host build (THM_HOST_X86, the Python extension) with AVX-512 VNNI
 * selected, the AVX-512 forms (kernels/x86/thm_rows_avx512.c and
 * thm_gemv_avx512.c, bit-exact with the portable kernels); everywhere else
 * the kernels (with a board's vector rows where thm_impl.h has them) or the
 * scalar forms of thm_model_softmax.h / thm_model_norm.h and the residual
 * table below, bit-exact too. Following thm_isa_get() lets the
 * tests run both paths on one machine. Why: after the matmuls, per-element
 * fixed-point work (softmax, norms, requantize) was most of the prefill, and
 * the matmul's dot path streamed decode's weights at half this core's DRAM
 * rate (docs/performance.md). */
#ifndef THM_MODEL_FAST_H
#define THM_MODEL_FAST_H

#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_image_format.h"   /* THM_LAYOUT_* of the image's weights */
#include "thm_model_softmax.h"
#include "thm_model_norm.h"
#if defined(__x86_64__) && defined(THM_HOST_X86)
#include "thm_x86_rows.h"
#include "thm_x86_gemv.h"
#define THM_MF_AVX512() (thm_isa_get() == THM_ISA_AVX512VNNI)
#else
#define THM_MF_AVX512() 0
#endif

/* rows unmasked rows of n scores (contiguous, p likewise); scratch:
 * thm_softmax_q15_scratch_size(n) bytes, 4-aligned. */
static inline int thm_mf_softmax_rows(const int32_t *s, int16_t *p, int32_t rows, int32_t n, int32_t mult,
                                      int32_t shift, int32_t diff_max, void *scratch)
{
#if defined(__x86_64__) && defined(THM_HOST_X86)
    if (THM_MF_AVX512())
        return thm_softmax_q15_rows_avx512(s, p, rows, n, mult, shift, diff_max, (uint32_t *)scratch);
#endif
    for (int32_t r = 0; r < rows; r++) {
        const int err = thm_ms_softmax_row(s + (size_t)r * n, p + (size_t)r * n, n, mult, shift, diff_max,
                                           (uint32_t *)scratch);
        if (err) return err;
    }
    return THM_OK;
}

/* y [M, N] = sat8(requantize(x [M, K] . w [N, K]^T)), no bias; one row (a
 * decode step) streams w through the AVX-512 one-row path. */
static inline int thm_mf_matmul(const int8_t *x, const int8_t *w, const int32_t *mult, const int32_t *shift,
                                int8_t *y, int32_t M, int32_t K, int32_t N)
{
#if defined(__x86_64__) && defined(THM_HOST_X86)
    if (M == 1 && K <= THM_GEMV_MAX_K && THM_MF_AVX512()) return thm_gemv_s8_avx512(x, w, mult, shift, y, 0, K, N);
#endif
    return thm_matmul_s8(x, w, NULL, mult, shift, y, M, K, N);
}

/* The same on a projection's weights as the image holds them: row-major
 * through thm_mf_matmul, packed (layout, THM_LAYOUT_*) through
 * thm_matmul_s8_packed: the board's fast path when the selected ISA owns
 * the layout, else its portable C (the x86 host: correct, not fast). */
static inline int thm_mf_proj(const void *w, int32_t layout, const int8_t *x, const int32_t *mult,
                              const int32_t *shift, int8_t *y, int32_t M, int32_t K, int32_t N)
{
    if (layout != THM_LAYOUT_ROW_MAJOR) return thm_matmul_s8_packed(x, w, layout, NULL, mult, shift, y, M, K, N);
    return thm_mf_matmul(x, (const int8_t *)w, mult, shift, y, M, K, N);
}

/* The same with raw int32 sums (the tied head). */
static inline int thm_mf_matmul_s32(const int8_t *x, const int8_t *w, int32_t *y, int32_t M, int32_t K, int32_t N)
{
#if defined(__x86_64__) && defined(THM_HOST_X86)
    if (M == 1 && K <= THM_GEMV_MAX_K && THM_MF_AVX512()) return thm_gemv_s8_avx512(x, w, 0, 0, 0, y, K, N);
#endif
    return thm_matmul_s8_s32(x, w, NULL, y, M, K, N);
}

/* P.V recombined from its int8 digits' sums (thm_model_attention.c), in
 * wrapping uint32 arithmetic: acc = s2 2^14 + s1 2^7 + s0, or s1 2^8 + s0 when
 * s2 is NULL (two digits); out [n] = sat8(requantize(acc, mult, shift)). */
static inline int thm_mf_attn_combine(const int32_t *s0, const int32_t *s1, const int32_t *s2, int32_t n,
                                      int32_t mult, int32_t shift, int8_t *out)
{
#if defined(__x86_64__) && defined(THM_HOST_X86)
    if (THM_MF_AVX512()) return thm_attn_combine_avx512(s0, s1, s2, n, mult, shift, out);
#endif
    for (int32_t i = 0; i < n; i++) {
        const uint32_t hi = s2 ? ((uint32_t)s2[i] << 14) + ((uint32_t)s1[i] << 7) : (uint32_t)s1[i] << 8;
        out[i] = thm_sat8(thm_requantize((int32_t)(hi + (uint32_t)s0[i]), mult, shift));
    }
    return THM_OK;
}

static inline int thm_mf_requantize_s32(const int32_t *in, const int32_t *mult, const int32_t *shift, int32_t *out,
                                        int32_t n)
{
#if defined(__x86_64__) && defined(THM_HOST_X86)
    if (THM_MF_AVX512()) return thm_requantize_s32_avx512(in, mult, shift, out, n);
#endif
    return thm_requantize_s32(in, mult, shift, out, n);
}

static inline int thm_mf_rope(const int8_t *x, const int16_t *cos_q14, const int16_t *sin_q14, int8_t *y, int32_t T,
                              int32_t n_heads, int32_t D, int32_t pos0, int32_t n_pos)
{
#if defined(__x86_64__) && defined(THM_HOST_X86)
    if (THM_MF_AVX512()) return thm_rope_s8_avx512(x, cos_q14, sin_q14, y, T, n_heads, D, pos0, n_pos);
#endif
    return thm_rope_s8(x, cos_q14, sin_q14, y, T, n_heads, D, pos0, n_pos);
}

static inline int thm_mf_rmsnorm_s8(const int8_t *x, const int32_t *gm, const int32_t *gs, int64_t eps,
                                    int8_t *y, int32_t rows, int32_t D)
{
#if defined(__x86_64__) && defined(THM_HOST_X86)
    if (THM_MF_AVX512()) return thm_rmsnorm_s8_avx512(x, gm, gs, eps, y, rows, D);
#endif
    return thm_mn_rmsnorm_s8(x, gm, gs, eps, y, rows, D);
}

static inline int thm_mf_rmsnorm_s16(const int16_t *x, const int32_t *gm, const int32_t *gs, int64_t eps,
                                     int8_t *y, int32_t rows, int32_t D)
{
#if defined(__x86_64__) && defined(THM_HOST_X86)
    if (THM_MF_AVX512()) return thm_rmsnorm_s16_avx512(x, gm, gs, eps, y, rows, D);
#endif
    return thm_mn_rmsnorm_s16(x, gm, gs, eps, y, rows, D);
}

static inline int thm_mf_residual(int16_t *r, const int8_t *y, int32_t n, int32_t mult, int32_t shift)
{
#if defined(__x86_64__) && defined(THM_HOST_X86)
    if (THM_MF_AVX512()) return thm_residual_gated_s16_avx512(r, y, n, mult, shift);
#endif
    /* g depends on the int8 y alone: a 256-entry table of the kernel's clamped
     * g replaces a requantize per element once rows are long enough to pay
     * for it (watch_m55: 54 instructions an element before, 15 after) */
    if (n < 512 || !r || !y || shift < -31 || shift > 30) return thm_residual_gated_s16(r, y, n, mult, shift);
    int32_t g[256];
    for (int32_t v = -128; v < 128; v++) {
        const int32_t q = thm_requantize(v, mult, shift);
        g[v + 128] = q < -65536 ? -65536 : (q > 65536 ? 65536 : q);
    }
    for (int32_t i = 0; i < n; i++) r[i] = thm_sat16((int32_t)r[i] + g[y[i] + 128]);
    return THM_OK;
}

#endif /* THM_MODEL_FAST_H */
