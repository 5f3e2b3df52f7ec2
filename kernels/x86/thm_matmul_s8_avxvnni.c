/* AVX-VNNI int8 matmul: y[M, N] = x[M, K] . w[N, K]^T (+ bias), int32 or
 * requantized int8 out, for x86 hosts with the VEX-encoded (256-bit) vpdpbusd
 * and no AVX-512 (Alder Lake and later client cores, Sierra Forest); it runs
 * on AVX-512 machines too, which is how it is tested. docs/kernels-x86.md has
 * the design and the figures.
 *
 * Exact for every int8 input, by the AVX-512 VNNI path's argument
 * (thm_matmul_s8_avx512vnni.c): vpdpbusd multiplies unsigned by signed bytes
 * and adds four products to an int32 lane without saturating, weights enter
 * as u = w ^ 0x80 = w + 128, activations as they are, and
 *     x . w = sum_k (w_k + 128) x_k - 128 * sum_k x_k,
 * the row sum taken once per row (vpsadbw). All int32 arithmetic wraps and
 * the true result fits, so the wrapped sum is exact.
 *
 * Layout: the caller's, nothing packed (the AVX2 path's structure: 16 ymm
 * registers leave no room for the broadcast-panel tile of the AVX-512 path,
 * and without packing M = 1 streams w once). A tile of MR rows of x by NR rows
 * of w keeps MR * NR vectors of 8 int32 partial sums, 32 k per step: NR
 * weight loads flipped by one vpxor each, then MR * NR vpdpbusd with x as the
 * memory operand; the 8 lanes are summed once at the end of K. K tails go
 * through zero-padded copies (a zero w byte flips to 128, times a zero x
 * byte). The epilogue is the AVX2 one (thm_avx2_epilogue). Columns are
 * visited in chunks whose weights fit in L2.
 *
 * Stack: a [6][56] int32 strip and 32-byte tails. No other memory.
 */
#include <immintrin.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-pre")   /* as thm_matmul_s8_avx2.c: no accumulator copies */
#endif

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_x86_simd.h"

#define THM_AVXVNNI __attribute__((target("avx2,avxvnni")))

#define THM_AVXVNNI_MR 6
#define THM_AVXVNNI_NB 48       /* strip width, a multiple of every tile's NR */
#define THM_AVXVNNI_LDT (THM_AVXVNNI_NB + 8)
#define THM_AVXVNNI_L2_BYTES (256 * 1024)
#define THM_AVXVNNI_PF 12       /* M = 1: rows of w prefetched ahead (as AVX2) */

/* 128 * sum_k x[k] of one row: vpsadbw of x ^ 0x80 sums x + 128. */
static THM_AVXVNNI int32_t thm_avxvnni_correction(const int8_t *r, int32_t K)
{
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    __m256i s = _mm256_setzero_si256();
    int32_t k = 0;
    for (; k + 32 <= K; k += 32) {
        const __m256i u = _mm256_xor_si256(_mm256_loadu_si256(THM_V256(r + k)), flip);
        s = _mm256_add_epi64(s, _mm256_sad_epu8(u, _mm256_setzero_si256()));
    }
    int64_t sum = _mm256_extract_epi64(s, 0) + _mm256_extract_epi64(s, 1) +
                  _mm256_extract_epi64(s, 2) + _mm256_extract_epi64(s, 3) - 128 * (int64_t)k;
    for (; k < K; k++) sum += r[k];
    return (int32_t)(sum * 128);   /* |sum| <= 2^23 */
}

/* out[i][j] = x[i, :] . w[j, :] - corr[i] for i < MR, j < NR (4 or 8 lanes
 * stored per out row). */
THM_INLINE THM_AVXVNNI void thm_avxvnni_tile(const int8_t *x, size_t ldx, const int8_t *w,
                                             size_t ldw, int32_t K, const int MR, const int NR,
                                             const int32_t *corr, int32_t *out)
{
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    __m256i acc[THM_AVXVNNI_MR][8], wv[8];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) acc[i][j] = _mm256_setzero_si256();

    const int32_t K32 = K & ~31;
    if (K32 < K) {   /* the tail first, from zero-padded copies: nothing past a row is read */
        const size_t rem = (size_t)(K - K32);
        int8_t t[32];
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) {
            memset(t, 0, sizeof t);
            memcpy(t, w + j * ldw + K32, rem);
            wv[j] = _mm256_xor_si256(_mm256_loadu_si256(THM_V256(t)), flip);
        }
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            memset(t, 0, sizeof t);
            memcpy(t, x + i * ldx + K32, rem);
            const __m256i xv = _mm256_loadu_si256(THM_V256(t));
#pragma GCC unroll 8
            for (int j = 0; j < NR; j++) acc[i][j] = _mm256_dpbusd_avx_epi32(acc[i][j], wv[j], xv);
        }
    }
    for (int32_t k = 0; k < K32; k += 32) {
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) {
            if (MR == 1 && (k & 63) == 0)   /* GEMV: a hint, never faults */
                _mm_prefetch((const char *)((uintptr_t)(w + j * ldw + k) + THM_AVXVNNI_PF * ldw),
                             _MM_HINT_T0);
            wv[j] = _mm256_xor_si256(_mm256_loadu_si256(THM_V256(w + j * ldw + k)), flip);
        }
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
            for (int j = 0; j < NR; j++)
                acc[i][j] = _mm256_dpbusd_avx_epi32(acc[i][j], wv[j],
                                                    _mm256_loadu_si256(THM_V256(x + i * ldx + k)));
    }

    const __m256i z = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        if (NR <= 4) {
            const __m128i s = thm_avx2_reduce4(acc[i][0], NR > 1 ? acc[i][1] : z,
                                               NR > 2 ? acc[i][2] : z, NR > 3 ? acc[i][3] : z);
            _mm_storeu_si128((__m128i *)(void *)(out + i * THM_AVXVNNI_LDT),
                             _mm_sub_epi32(s, _mm_set1_epi32(corr[i])));
        } else {
#pragma GCC unroll 8
            for (int j = NR; j < 8; j++) acc[i][j] = z;
            _mm256_storeu_si256((__m256i *)(void *)(out + i * THM_AVXVNNI_LDT),
                                _mm256_sub_epi32(thm_avx2_reduce8(acc[i]), _mm256_set1_epi32(corr[i])));
        }
    }
}

/* Registers: MR * NR accumulators + NR weights + the flip constant <= 16
 * (x is a memory operand). */
#define THM_AVXVNNI_STRIP(MR_, NR_)                                                          \
    static THM_AVXVNNI void thm_avxvnni_strip_##MR_(const int8_t *x, const int8_t *w,        \
                                                    int32_t K, int32_t nb,                  \
                                                    const int32_t *corr, int32_t *tmp)       \
    {                                                                                        \
        const size_t ld = (size_t)K;                                                         \
        int32_t n = 0;                                                                       \
        for (; n + NR_ <= nb; n += NR_)                                                      \
            thm_avxvnni_tile(x, ld, w + n * ld, ld, K, MR_, NR_, corr, tmp + n);             \
        for (; n < nb; n++) thm_avxvnni_tile(x, ld, w + n * ld, ld, K, MR_, 1, corr, tmp + n); \
    }
THM_AVXVNNI_STRIP(6, 2)
THM_AVXVNNI_STRIP(5, 2)
THM_AVXVNNI_STRIP(4, 3)
THM_AVXVNNI_STRIP(3, 3)
THM_AVXVNNI_STRIP(2, 4)
THM_AVXVNNI_STRIP(1, 6)

typedef void (*thm_avxvnni_strip_fn)(const int8_t *x, const int8_t *w, int32_t K, int32_t nb,
                                     const int32_t *corr, int32_t *tmp);
static const thm_avxvnni_strip_fn thm_avxvnni_strips[THM_AVXVNNI_MR + 1] = {
    0, thm_avxvnni_strip_1, thm_avxvnni_strip_2, thm_avxvnni_strip_3,
    thm_avxvnni_strip_4, thm_avxvnni_strip_5, thm_avxvnni_strip_6};

static THM_AVXVNNI void thm_avxvnni_matmul(const int8_t *x, const int8_t *w, const int32_t *bias,
                                           const int32_t *mult, const int32_t *shift, int8_t *y8,
                                           int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    int32_t tmp[THM_AVXVNNI_MR * THM_AVXVNNI_LDT];   /* [mr][NB + 8] corrected sums of a strip */
    int32_t corr[THM_AVXVNNI_MR];
    int32_t chunk = THM_AVXVNNI_L2_BYTES / K / THM_AVXVNNI_NB * THM_AVXVNNI_NB;
    if (chunk < THM_AVXVNNI_NB) chunk = THM_AVXVNNI_NB;

    for (int32_t c0 = 0; c0 < N; c0 += chunk) {
        const int32_t c1 = N - c0 < chunk ? N : c0 + chunk;
        for (int32_t m = 0; m < M; m += THM_AVXVNNI_MR) {
            const int32_t mr = M - m < THM_AVXVNNI_MR ? M - m : THM_AVXVNNI_MR;
            const int8_t *xm = x + (size_t)m * K;
            /* recomputed per column chunk: one pass over mr rows, against mr * chunk * K MACs */
            for (int32_t i = 0; i < mr; i++) corr[i] = thm_avxvnni_correction(xm + (size_t)i * K, K);
            for (int32_t n = c0; n < c1; n += THM_AVXVNNI_NB) {
                const int32_t nb = c1 - n < THM_AVXVNNI_NB ? c1 - n : THM_AVXVNNI_NB;
                thm_avxvnni_strips[mr](xm, w + (size_t)n * K, K, nb, corr, tmp);
                const size_t off = (size_t)m * N + n;
                thm_avx2_epilogue(tmp, THM_AVXVNNI_LDT, mr, nb, bias ? bias + n : 0,
                                  mult ? mult + n : 0, shift ? shift + n : 0, y8 ? y8 + off : 0,
                                  y32 ? y32 + off : 0, (size_t)N);
            }
        }
    }
}

THM_MATMUL_ENTRIES(avxvnni, thm_avxvnni_matmul)
