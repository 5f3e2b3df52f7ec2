/* AVX-512 forms of the per-row kernels the model runtime spends its non-matmul
 * time in: softmax_q15 rows (no mask), rmsnorm (int8 and int16 rows), the
 * gated residual, RoPE, requantize and the P.V digit recombination. Host build
 * only: the AVX-512 VNNI ops table's entries (thm_isa.c), so the public
 * kernels run them when that ISA is selected, arguments already checked. Each
 * one gives the same bits as its portable kernel (kernels/src) for every input:
 *  - requantize is thm_avx512_rq_apply (thm_x86_simd.h, exact for all inputs);
 *  - softmax: the kept differences 0 <= top - s <= diff_max are formed in
 *    uint32 lanes (top - s < 2^32 because both are int32); lanes past diff_max
 *    are zeroed before requantize, like the reference's where(keep, diff, 0);
 *    exp's two table reads are register permutes (hi: 16 int32 entries; lo:
 *    256 entries <= 32768, held as uint16), and the product wraps in 32 bits
 *    like the scalar uint32 product;
 *    sums: each lane adds at most 2^12 terms <= 2^15 before it is flushed to
 *    64 bits; p = (e * inv + 2^30) >> 31 with e <= 2^15, inv <= 2^31 uses the
 *    exact 32x32 -> 64 unsigned product;
 *  - residual: g is clamped to [-2^16, 2^16] like the portable kernel, so
 *    the int32 sum r + g saturates to int16 exactly as the exact sum does;
 *  - rmsnorm: rows whose 2^46 / rms exceeds INT32_MAX (mean square below
 *    about 1, i.e. almost all-zero rows) go to the scalar formula; otherwise
 *    |x * inv| < 2^15 * 2^31 so n = (x * inv + 2^14) >> 15 is the exact 64-bit
 *    product shifted and already inside int32 (no clamp can apply). */
#include "thimble_kernels.h"
#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_x86_simd.h"

#define T512 THM_TARGET_AVX512VNNI

static inline T512 __mmask16 tail_mask(int32_t left)
{
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1u);
}

/* exp's tables in registers: hi (16 entries) as int32 lanes, lo (256
 * entries, all <= 32768) as 8 x 32 uint16 lanes, so lo is 4 two-register
 * word permutes and 3 blends instead of a 16-load gather (which took half
 * the softmax's time). */
typedef struct {
    __m512i hi, lo[8];
} exp_tabs;

static inline T512 void exp_tabs_load(exp_tabs *t)
{
    t->hi = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)thm_exp_hi));
    for (int i = 0; i < 8; i++) {
        const __m256i a = _mm512_cvtepi32_epi16(_mm512_loadu_si512((const void *)(thm_exp_lo + 32 * i)));
        const __m256i b = _mm512_cvtepi32_epi16(_mm512_loadu_si512((const void *)(thm_exp_lo + 32 * i + 16)));
        t->lo[i] = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
    }
}

/* The kernel's exp_q15 on 16 lanes of z >= 0. */
static inline T512 __m512i exp_q15_16(__m512i z, const exp_tabs *t)
{
    const __m512i zc = _mm512_min_epi32(z, _mm512_set1_epi32((THM_EXP_HI_LEN << THM_EXP_FRAC_BITS) - 1));
    const __m512i hi = _mm512_permutexvar_epi32(_mm512_srli_epi32(zc, THM_EXP_FRAC_BITS), t->hi);
    /* lo index (0..255) as 16-bit lanes 0..15; bits 0-5 pick inside a
     * 64-entry pair of registers, bits 6 and 7 pick the pair */
    const __m512i idx = _mm512_zextsi256_si512(
        _mm512_cvtepi32_epi16(_mm512_and_si512(zc, _mm512_set1_epi32(THM_EXP_LO_LEN - 1))));
    const __m512i q0 = _mm512_permutex2var_epi16(t->lo[0], idx, t->lo[1]);
    const __m512i q1 = _mm512_permutex2var_epi16(t->lo[2], idx, t->lo[3]);
    const __m512i q2 = _mm512_permutex2var_epi16(t->lo[4], idx, t->lo[5]);
    const __m512i q3 = _mm512_permutex2var_epi16(t->lo[6], idx, t->lo[7]);
    const __mmask32 b6 = _mm512_test_epi16_mask(idx, _mm512_set1_epi16(64));
    const __mmask32 b7 = _mm512_test_epi16_mask(idx, _mm512_set1_epi16(128));
    const __m512i w = _mm512_mask_blend_epi16(b7, _mm512_mask_blend_epi16(b6, q0, q1),
                                              _mm512_mask_blend_epi16(b6, q2, q3));
    const __m512i lo = _mm512_cvtepu16_epi32(_mm512_castsi512_si256(w));
    const __m512i e = _mm512_srli_epi32(_mm512_add_epi32(_mm512_mullo_epi32(hi, lo), _mm512_set1_epi32(1 << 14)), 15);
    /* 0 past the table */
    return _mm512_maskz_mov_epi32(_mm512_cmplt_epi32_mask(z, _mm512_set1_epi32(THM_EXP_HI_LEN << THM_EXP_FRAC_BITS)), e);
}

T512 void thm_softmax_q15_rows_avx512(const int32_t *scores, int16_t *probs, int32_t rows, int32_t n, int32_t mult,
                                      int32_t shift, int32_t diff_max, uint32_t *e)
{
    thm_avx512_rq q;
    thm_avx512_rq_prep(&q, _mm512_set1_epi32(mult), _mm512_set1_epi32(shift));
    exp_tabs tabs;
    exp_tabs_load(&tabs);
    const __m512i dmax = _mm512_set1_epi32(diff_max);
    for (int32_t r = 0; r < rows; r++) {
        const int32_t *s = scores + (size_t)r * n;
        int16_t *p = probs + (size_t)r * n;
        __m512i vmax = _mm512_set1_epi32(INT32_MIN);
        for (int32_t j = 0; j < n; j += 16)
            vmax = _mm512_max_epi32(vmax, _mm512_mask_loadu_epi32(vmax, tail_mask(n - j), s + j));
        const __m512i top = _mm512_set1_epi32(_mm512_reduce_max_epi32(vmax));

        uint64_t total = 0;
        for (int32_t j0 = 0; j0 < n; j0 += 16 << 12) {          /* flush lanes every 2^12 vectors */
            const int32_t j1 = n - j0 > (16 << 12) ? j0 + (16 << 12) : n;
            __m512i acc = _mm512_setzero_si512();
            for (int32_t j = j0; j < j1; j += 16) {
                const __mmask16 m = tail_mask(j1 - j);
                const __m512i d = _mm512_sub_epi32(top, _mm512_maskz_loadu_epi32(m, s + j));
                const __mmask16 keep = m & _mm512_cmple_epu32_mask(d, dmax);
                if (!keep) {                                     /* far from the top: all 0 */
                    _mm512_mask_storeu_epi32(e + j, m, _mm512_setzero_si512());
                    continue;
                }
                const __m512i z = thm_avx512_rq_apply(_mm512_maskz_mov_epi32(keep, d), &q);
                const __m512i ev = _mm512_maskz_mov_epi32(keep, exp_q15_16(z, &tabs));
                _mm512_mask_storeu_epi32(e + j, m, ev);
                acc = _mm512_add_epi32(acc, ev);
            }
            const __m512i lo = _mm512_cvtepu32_epi64(_mm512_castsi512_si256(acc));
            const __m512i hi = _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(acc, 1));
            total += (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(lo, hi));
        }
        const uint64_t inv = ((uint64_t)1 << 46) / total;       /* total >= 2^15: <= 2^31 */
        const __m512i vinv = _mm512_set1_epi64((long long)inv);
        const __m512i half = _mm512_set1_epi64((int64_t)1 << 30);
        for (int32_t j = 0; j < n; j += 16) {
            const __mmask16 m = tail_mask(n - j);
            const __m512i ev = _mm512_maskz_loadu_epi32(m, e + j);
            __m512i even = _mm512_add_epi64(_mm512_mul_epu32(ev, vinv), half);
            __m512i odd = _mm512_add_epi64(_mm512_mul_epu32(_mm512_srli_epi64(ev, 32), vinv), half);
            even = _mm512_srli_epi64(even, 31);                 /* < 2^32: the low dword */
            odd = _mm512_slli_epi64(_mm512_srli_epi64(odd, 31), 32);
            const __m512i pv = _mm512_min_epu32(_mm512_mask_blend_epi32((__mmask16)0xAAAA, even, odd),
                                                _mm512_set1_epi32(32767));
            _mm512_mask_cvtepi32_storeu_epi16(p + j, m, pv);
        }
    }
}

/* floor(sqrt(v)) like thm_isqrt_u64, from the FPU's square root and an exact
 * integer correction (host only: the boards have no FPU to rely on). The
 * double estimate is within a few units of the root; the two loops end with
 * r^2 <= v < (r + 1)^2 whatever the estimate, and r <= 2^32 - 1 keeps every
 * product inside uint64. */
static inline uint64_t isqrt_host(uint64_t v)
{
    const uint64_t rmax = 0xFFFFFFFFu;
    const double f = _mm_cvtsd_f64(_mm_sqrt_sd(_mm_setzero_pd(), _mm_set_sd((double)v)));   /* no errno path */
    uint64_t r = f >= (double)rmax ? rmax : (uint64_t)f;
    while (r * r > v) r--;
    while (r < rmax && (r + 1) * (r + 1) <= v) r++;
    return r;
}

/* thm_rms_inv (thm_fixedpoint.h) with isqrt_host: the digit-by-digit root
 * was most of the QK-norm's time (a 64-lane row per root). */
static inline int64_t rms_inv_host(int64_t ss, int32_t D, int64_t eps_q16)
{
    const uint64_t ms = ((uint64_t)ss << 16) / (uint64_t)D + (uint64_t)eps_q16; /* Q16 */
    uint64_t rms = isqrt_host(ms << 16);                                          /* Q16 */
    if (rms == 0) rms = 1;
    return (int64_t)(((uint64_t)1 << 46) / rms);
}

/* 16 input elements (int8 or int16) sign-extended to int32 lanes. */
static inline T512 __m512i load16(const void *x, int wide, int32_t i, __mmask16 m)
{
    if (wide) return _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, (const int16_t *)x + i));
    return _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, (const int8_t *)x + i));
}

/* Exact sum of squares of one row (<= 4096 * 2^30 < 2^42). */
static inline T512 int64_t sum_squares(const void *x, int wide, int32_t D)
{
    __m512i acc = _mm512_setzero_si512();
    for (int32_t i = 0; i < D; i += 16) {
        const __m512i v = load16(x, wide, i, tail_mask(D - i));
        const __m512i sq = _mm512_mullo_epi32(v, v);         /* <= 2^30 each */
        acc = _mm512_add_epi64(acc, _mm512_cvtepu32_epi64(_mm512_castsi512_si256(sq)));
        acc = _mm512_add_epi64(acc, _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(sq, 1)));
    }
    return _mm512_reduce_add_epi64(acc);
}

#define ROW_BLOCK 32

static T512 void rmsnorm_avx512(const void *x, int wide, const int32_t *gm, const int32_t *gs, int64_t eps_q16,
                                int8_t *y, int32_t rows, int32_t D)
{
    const size_t esz = wide ? 2 : 1;
    int64_t inv[ROW_BLOCK];
    for (int32_t r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
        const int32_t nr = rows - r0 < ROW_BLOCK ? rows - r0 : ROW_BLOCK;
        for (int32_t r = 0; r < nr; r++) {
            const void *xr = (const uint8_t *)x + (size_t)(r0 + r) * D * esz;
            inv[r] = rms_inv_host(sum_squares(xr, wide, D), D, eps_q16);
        }
        /* channel block outside, rows inside: one requantize set-up per 16 channels */
        for (int32_t i = 0; i < D; i += 16) {
            const __mmask16 m = tail_mask(D - i);
            thm_avx512_rq q;
            thm_avx512_rq_prep(&q, _mm512_maskz_loadu_epi32(m, gm + i), _mm512_maskz_loadu_epi32(m, gs + i));
            for (int32_t r = 0; r < nr; r++) {
                const size_t row = (size_t)(r0 + r) * D;
                if (inv[r] > INT32_MAX) continue;            /* done below, scalar */
                const void *xr = (const uint8_t *)x + row * esz;
                const __m512i v = load16(xr, wide, i, m);
                const __m512i vinv = _mm512_set1_epi64(inv[r]);
                const __m512i round = _mm512_set1_epi64(1 << 14);
                const __m512i even = _mm512_srai_epi64(_mm512_add_epi64(_mm512_mul_epi32(v, vinv), round), 15);
                const __m512i odd = _mm512_srai_epi64(
                    _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(v, 32), vinv), round), 15);
                const __m512i nv = _mm512_mask_blend_epi32((__mmask16)0xAAAA, even, _mm512_slli_epi64(odd, 32));
                const __m512i out = thm_avx512_rq_apply(nv, &q);
                _mm_mask_storeu_epi8(y + row + i, m, _mm512_cvtsepi32_epi8(out));
            }
        }
        for (int32_t r = 0; r < nr; r++) {
            if (inv[r] <= INT32_MAX) continue;
            const size_t row = (size_t)(r0 + r) * D;
            for (int32_t i = 0; i < D; i++) {
                const int32_t xi = wide ? ((const int16_t *)x)[row + i] : ((const int8_t *)x)[row + i];
                y[row + i] = thm_rms_apply(xi, inv[r], gm[i], gs[i]);
            }
        }
    }
}

T512 void thm_rmsnorm_s8_avx512(const int8_t *x, const int32_t *gm, const int32_t *gs, int64_t eps_q16,
                                int8_t *y, int32_t rows, int32_t D)
{
    rmsnorm_avx512(x, 0, gm, gs, eps_q16, y, rows, D);
}

T512 void thm_rmsnorm_s16_avx512(const int16_t *x, const int32_t *gm, const int32_t *gs, int64_t eps_q16,
                                 int8_t *y, int32_t rows, int32_t D)
{
    rmsnorm_avx512(x, 1, gm, gs, eps_q16, y, rows, D);
}

T512 void thm_residual_gated_s16_avx512(int16_t *r, const int8_t *y, int32_t n, int32_t mult, int32_t shift)
{
    thm_avx512_rq q;
    thm_avx512_rq_prep(&q, _mm512_set1_epi32(mult), _mm512_set1_epi32(shift));
    for (int32_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        __m512i g = thm_avx512_rq_apply(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, y + i)), &q);
        g = _mm512_min_epi32(_mm512_max_epi32(g, _mm512_set1_epi32(-65536)), _mm512_set1_epi32(65536));
        const __m512i sum = _mm512_add_epi32(_mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, r + i)), g);
        _mm256_mask_storeu_epi16(r + i, m, _mm512_cvtsepi32_epi16(sum));   /* sat16 */
    }
}

T512 void thm_pv_combine_s8_avx512(const int32_t *s0, const int32_t *s1, const int32_t *s2, int32_t n,
                                   int32_t mult, int32_t shift, int8_t *out)
{
    thm_avx512_rq q;
    thm_avx512_rq_prep(&q, _mm512_set1_epi32(mult), _mm512_set1_epi32(shift));
    for (int32_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        /* the digit sums in wrapping 32-bit lanes, as the scalar uint32 form */
        const __m512i v1 = _mm512_maskz_loadu_epi32(m, s1 + i);
        const __m512i hi = s2 ? _mm512_add_epi32(_mm512_slli_epi32(_mm512_maskz_loadu_epi32(m, s2 + i), 14),
                                                 _mm512_slli_epi32(v1, 7))
                              : _mm512_slli_epi32(v1, 8);
        const __m512i acc = _mm512_add_epi32(hi, _mm512_maskz_loadu_epi32(m, s0 + i));
        _mm_mask_storeu_epi8(out + i, m, _mm512_cvtsepi32_epi8(thm_avx512_rq_apply(acc, &q)));
    }
}

T512 void thm_requantize_s32_avx512(const int32_t *in, const int32_t *mult, const int32_t *shift, int32_t *out,
                                    int32_t n)
{
    for (int32_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512i r = thm_avx512_requantize(_mm512_maskz_loadu_epi32(m, in + i), _mm512_maskz_loadu_epi32(m, mult + i),
                                                _mm512_maskz_loadu_epi32(m, shift + i));
        _mm512_mask_storeu_epi32(out + i, m, r);
    }
}

T512 void thm_rope_s8_avx512(const int8_t *x, const int16_t *cos_q14, const int16_t *sin_q14, int8_t *y, int32_t T,
                             int32_t n_heads, int32_t D, int32_t pos0)
{
    const int32_t half = D / 2;
    const __m512i round = _mm512_set1_epi32(1 << 13);
    for (int32_t t = 0; t < T; t++) {
        const int16_t *c = cos_q14 + (size_t)(pos0 + t) * half;
        const int16_t *sn = sin_q14 + (size_t)(pos0 + t) * half;
        for (int32_t i = 0; i < half; i += 16) {
            const __mmask16 m = tail_mask(half - i);
            const __m512i cv = _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, c + i));
            const __m512i sv = _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(m, sn + i));
            for (int32_t h = 0; h < n_heads; h++) {
                const size_t base = ((size_t)t * n_heads + h) * D + i;
                /* both halves read before either is written: y may alias x */
                const __m512i x1 = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, x + base));
                const __m512i x2 = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, x + base + half));
                /* |x| <= 128, |c|, |s| <= 2^15: every sum < 2^24, exact in int32 */
                const __m512i o1 = _mm512_srai_epi32(
                    _mm512_add_epi32(_mm512_sub_epi32(_mm512_mullo_epi32(x1, cv), _mm512_mullo_epi32(x2, sv)), round), 14);
                const __m512i o2 = _mm512_srai_epi32(
                    _mm512_add_epi32(_mm512_add_epi32(_mm512_mullo_epi32(x2, cv), _mm512_mullo_epi32(x1, sv)), round), 14);
                _mm_mask_storeu_epi8(y + base, m, _mm512_cvtsepi32_epi8(o1));
                _mm_mask_storeu_epi8(y + base + half, m, _mm512_cvtsepi32_epi8(o2));
            }
        }
    }
}
