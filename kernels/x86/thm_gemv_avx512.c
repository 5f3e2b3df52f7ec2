/* One-row matmul (decode: M = 1) for AVX-512 VNNI, streaming the weights at
 * close to this core's read bandwidth: x stays in registers (K <= 1024), four
 * weight rows (contiguous, 4K bytes) per step, and a software prefetch two
 * such groups ahead that covers every line once. Bit-exact with
 * thm_matmul_s8 / thm_matmul_s8_s32 with M = 1; thm_gemv_s8 / _s32 run it for
 * K <= THM_GEMV_MAX_K when AVX-512 VNNI is selected (the entries below, in its ops table):
 *  - vpdpbusd multiplies unsigned by signed bytes, so the weights are flipped
 *    to w + 128 (xor 0x80) and 128 * sum(x) is subtracted afterwards;
 *    |sum (w + 128) x| <= 1024 * 255 * 128 < 2^25, so no lane wraps and the
 *    result is the exact int32 dot product;
 *  - past K, w loads as 0 (flipped: 128) against x = 0;
 *  - the bias adds in wrapping int32 lanes, as the portable kernel's uint32 sum;
 *  - requantize is thm_avx512_rq_apply (exact), saturation is vpmovsdb (sat8). */
#include "thimble_kernels.h"
#include "thm_impl.h"
#include "thm_x86_simd.h"

#define GEMV_ROWS 4
#define THM_GEMV_MAX_K 1024   /* x [K] is held in 16 registers */

/* x int8 [K] . w int8 [N, K]^T (+ bias): exactly one of y8 (sat8(requantize(acc,
 * mult, shift))) or y32 (the raw int32 sums) is non-NULL; K <= THM_GEMV_MAX_K. */
static THM_TARGET_AVX512VNNI void thm_gemv_rows_avx512(const int8_t *x, const int8_t *w, const int32_t *bias,
                                                       const int32_t *mult, const int32_t *shift, int8_t *y8,
                                                       int32_t *y32, int32_t K, int32_t N)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const int32_t nk = (K + 63) / 64;
    const __mmask64 tail = (K % 64) ? (__mmask64)(~0ULL >> (64 - K % 64)) : ~(__mmask64)0;
    __m512i xv[THM_GEMV_MAX_K / 64];
    int32_t xsum = 0;
    for (int32_t k = 0; k < nk; k++) {
        xv[k] = _mm512_maskz_loadu_epi8(k == nk - 1 ? tail : ~(__mmask64)0, x + 64 * k);
        xsum += _mm512_reduce_add_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(1), xv[k]));
    }
    const int32_t corr = 128 * xsum;
    const size_t group = (size_t)GEMV_ROWS * (size_t)K;   /* bytes of one step */
    int32_t raw[16];
    for (int32_t n0 = 0; n0 < N; n0 += 16) {
        const int32_t nb = N - n0 < 16 ? N - n0 : 16;
        for (int32_t n = n0; n < n0 + nb; n += GEMV_ROWS) {
            const int32_t rows = n0 + nb - n < GEMV_ROWS ? n0 + nb - n : GEMV_ROWS;
            const int8_t *wr = w + (size_t)n * K;
            __m512i acc[GEMV_ROWS];
            for (int r = 0; r < GEMV_ROWS; r++) acc[r] = _mm512_setzero_si512();
            for (int32_t k = 0; k < nk; k++) {
                const __mmask64 m = k == nk - 1 ? tail : ~(__mmask64)0;
                /* the group two steps on, 4 lines per k: a hint, never faults */
                const char *pf = (const char *)wr + 2 * group + (size_t)k * (group / nk);
                _mm_prefetch(pf, _MM_HINT_T0);
                _mm_prefetch(pf + 64, _MM_HINT_T0);
                _mm_prefetch(pf + 128, _MM_HINT_T0);
                _mm_prefetch(pf + 192, _MM_HINT_T0);
                for (int r = 0; r < GEMV_ROWS; r++)
                    if (r < rows)
                        acc[r] = _mm512_dpbusd_epi32(
                            acc[r], _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, wr + (size_t)r * K + 64 * k), flip),
                            xv[k]);
            }
            for (int r = 0; r < rows; r++) raw[n - n0 + r] = _mm512_reduce_add_epi32(acc[r]) - corr;
        }
        const __mmask16 m = (__mmask16)((1u << nb) - 1u);
        __m512i acc = _mm512_maskz_loadu_epi32(m, raw);
        if (bias) acc = _mm512_add_epi32(acc, _mm512_maskz_loadu_epi32(m, bias + n0));
        if (y32) {
            _mm512_mask_storeu_epi32(y32 + n0, m, acc);
        } else {
            const __m512i q = thm_avx512_requantize(acc, _mm512_maskz_loadu_epi32(m, mult + n0),
                                                    _mm512_maskz_loadu_epi32(m, shift + n0));
            _mm_mask_storeu_epi8(y8 + n0, m, _mm512_cvtsepi32_epi8(q));
        }
    }
}

void thm_gemv_s8_avx512(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *mult,
                        const int32_t *shift, int8_t *y, int32_t M, int32_t K, int32_t N)
{
    if (M == 1 && K <= THM_GEMV_MAX_K)
        thm_gemv_rows_avx512(x, w, bias, mult, shift, y, 0, K, N);
    else
        thm_matmul_s8_avx512vnni(x, w, bias, mult, shift, y, M, K, N);
}

void thm_gemv_s8_s32_avx512(const int8_t *x, const int8_t *w, const int32_t *bias, int32_t *y, int32_t M,
                            int32_t K, int32_t N)
{
    if (M == 1 && K <= THM_GEMV_MAX_K)
        thm_gemv_rows_avx512(x, w, bias, 0, 0, 0, y, K, N);
    else
        thm_matmul_s8_s32_avx512vnni(x, w, bias, y, M, K, N);
}
