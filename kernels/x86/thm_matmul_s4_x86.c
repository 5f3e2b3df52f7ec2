/* x86 int4-weight matmul (W4A8), AVX2 and AVX-512 VNNI: the bits of
 * thm_matmul_s4_portable (and of thm_matmul_s8 on the unpacked weights).
 *
 * Two paths, by M:
 *  - M >= THM_S4_UNPACK_MIN_M (prefill): a chunk of weight rows is unpacked to
 *    int8 on the stack once and multiplied by blocks of rows of x through the
 *    ISA's own int8 matmul (its packed VNNI panels or AVX2 tiles), which then
 *    does all the work: unpacking costs one pass over the chunk, shared by
 *    every row of x.
 *  - smaller M (decode): nibbles are used where they lie. A byte holds weight
 *    2j (low nibble) and 2j + 1 (high nibble), so x is split once into its
 *    even and odd elements, and 32 bytes of a weight row give 64 products
 *    with two masks and a shift. The nibbles enter the unsigned side of
 *    vpmaddubsw / vpdpbusd as u = w + 8 (w ^ 8 per nibble, in [0, 15]), so a
 *    row sums (w + 8) x and x . w = sum (w + 8) x - 8 sum x, the sum of x
 *    taken once per row of x. AVX2's vpmaddubsw pair sums are at most
 *    2 * 15 * 128 = 3840 (it never saturates) and two are added in int16
 *    before vpmaddwd widens them. K past the last whole 64 is done in scalar.
 *
 * Stack: unpack path 32 KiB of weights + 4 KiB of outputs; nibble path x
 * split [4][2][THM_S4_XK / 2] (16 KiB). K > THM_S4_XK takes the portable C.
 */
#include <immintrin.h>
#include <string.h>

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_s4.h"
#include "thm_x86_simd.h"

#define THM_S4_UNPACK_MIN_M 16
#define THM_S4_WBUF 32768       /* bytes of unpacked weights per chunk */
#define THM_S4_MB 64            /* rows of x per call of the int8 matmul */
#define THM_S4_NB_MAX 64        /* weight rows per chunk, at most */
#define THM_S4_XK 4096          /* the nibble path's largest K */
#define THM_S4_MR 4             /* rows of x per pass over a weight row */


/* Rows [n0, n0 + nb) of w4 as int8 [nb, K]. */
static void thm_s4_unpack(const uint8_t *w4, size_t row, int32_t K, int32_t nb, int8_t *w8)
{
    for (int32_t n = 0; n < nb; n++) {
        const uint8_t *b = w4 + (size_t)n * row;
        int8_t *o = w8 + (size_t)n * K;
        int32_t j = 0;
        for (; 2 * j + 1 < K; j++) {
            o[2 * j] = (int8_t)thm_s4_lo(b[j]);
            o[2 * j + 1] = (int8_t)thm_s4_hi(b[j]);
        }
        if (K & 1) o[K - 1] = (int8_t)thm_s4_lo(b[j]);
    }
}

/* The prefill path over an int8 matmul entry s8. */
static void thm_s4_by_unpacking(thm_matmul_s8_fn s8, const int8_t *x, const uint8_t *w4,
                                const int32_t *bias, const int32_t *mult, const int32_t *shift,
                                int8_t *y, int32_t M, int32_t K, int32_t N)
{
    int8_t w8[THM_S4_WBUF] __attribute__((aligned(64)));
    int8_t yt[THM_S4_MB * THM_S4_NB_MAX] __attribute__((aligned(64)));
    const size_t row = (size_t)(K + 1) / 2;
    int32_t nb = THM_S4_WBUF / K;
    if (nb > THM_S4_NB_MAX) nb = THM_S4_NB_MAX;
    for (int32_t n0 = 0; n0 < N; n0 += nb) {
        const int32_t nc = N - n0 < nb ? N - n0 : nb;
        thm_s4_unpack(w4 + (size_t)n0 * row, row, K, nc, w8);
        for (int32_t m0 = 0; m0 < M; m0 += THM_S4_MB) {
            const int32_t mc = M - m0 < THM_S4_MB ? M - m0 : THM_S4_MB;
            s8(x + (size_t)m0 * K, w8, bias ? bias + n0 : 0, mult + n0, shift + n0, yt, mc, K, nc);
            for (int32_t m = 0; m < mc; m++)
                memcpy(y + (size_t)(m0 + m) * N + n0, yt + (size_t)m * nc, (size_t)nc);
        }
    }
}

/* The scalar rest of a row past K64 (weights k >= K64) and the epilogue. */
static inline int8_t thm_s4_finish(int32_t vec, int32_t sum_x, const int8_t *x, const uint8_t *w,
                                   int32_t K64, int32_t K, const int32_t *bias, int32_t mult,
                                   int32_t shift, int32_t n)
{
    uint32_t acc = (uint32_t)vec - 8u * (uint32_t)sum_x + (uint32_t)thm_s4_dot_from(x, w, K64, K);
    if (bias) acc += (uint32_t)bias[n];
    return thm_sat8(thm_requantize((int32_t)acc, mult, shift));
}

/* The nibble path, once per ISA: STEP(acc, u, xv) adds the products of 32
 * unsigned bytes u and 32 signed bytes xv to eight int32 lanes. */
#define THM_S4_NIBBLE_PATH(name, TARGET, STEP)                                                      \
    static TARGET void name(const int8_t *x, const uint8_t *w4, const int32_t *bias,                \
                            const int32_t *mult, const int32_t *shift, int8_t *y, int32_t M,       \
                            int32_t K, int32_t N)                                                  \
    {                                                                                              \
        int8_t xs[THM_S4_MR][2][THM_S4_XK / 2] __attribute__((aligned(32)));                       \
        int32_t sx[THM_S4_MR];                                                                     \
        const size_t row = (size_t)(K + 1) / 2;                                                    \
        const int32_t K64 = K & ~63, J = K64 / 2;                                                  \
        const __m256i m0f = _mm256_set1_epi8(0x0F), m88 = _mm256_set1_epi8((char)0x88);            \
        for (int32_t m0 = 0; m0 < M; m0 += THM_S4_MR) {                                            \
            const int32_t mr = M - m0 < THM_S4_MR ? M - m0 : THM_S4_MR;                            \
            for (int32_t i = 0; i < mr; i++) {                                                     \
                const int8_t *xr = x + (size_t)(m0 + i) * K;                                       \
                int32_t s = 0;                                                                     \
                for (int32_t j = 0; j < J; j++) {                                                  \
                    xs[i][0][j] = xr[2 * j];                                                       \
                    xs[i][1][j] = xr[2 * j + 1];                                                   \
                    s += xr[2 * j] + xr[2 * j + 1];                                                \
                }                                                                                  \
                sx[i] = s;                                                                         \
            }                                                                                      \
            for (int32_t n = 0; n < N; n++) {                                                      \
                const uint8_t *w = w4 + (size_t)n * row;                                           \
                __m256i acc[THM_S4_MR];                                                            \
                for (int32_t i = 0; i < THM_S4_MR; i++) acc[i] = _mm256_setzero_si256();          \
                for (int32_t j = 0; j < J; j += 32) {                                              \
                    const __m256i u = _mm256_xor_si256(                                            \
                        _mm256_loadu_si256((const __m256i *)(const void *)(w + j)), m88);          \
                    const __m256i lo = _mm256_and_si256(u, m0f);                                   \
                    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(u, 4), m0f);             \
                    for (int32_t i = 0; i < mr; i++) {                                             \
                        STEP(acc[i], lo, _mm256_load_si256((const __m256i *)(const void *)&xs[i][0][j])); \
                        STEP(acc[i], hi, _mm256_load_si256((const __m256i *)(const void *)&xs[i][1][j])); \
                    }                                                                              \
                }                                                                                  \
                const __m128i t = thm_avx2_reduce4(acc[0], acc[1], acc[2], acc[3]);                \
                int32_t v[4];                                                                      \
                _mm_storeu_si128((__m128i *)(void *)v, t);                                         \
                for (int32_t i = 0; i < mr; i++)                                                   \
                    y[(size_t)(m0 + i) * N + n] = thm_s4_finish(v[i], sx[i], x + (size_t)(m0 + i) * K, \
                                                                w, K64, K, bias, mult[n], shift[n], n); \
            }                                                                                      \
        }                                                                                          \
    }

#define THM_S4_STEP_AVX2(acc, u, xv) \
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, xv), _mm256_set1_epi16(1)))
#define THM_S4_STEP_VNNI(acc, u, xv) acc = _mm256_dpbusd_epi32(acc, u, xv)

THM_S4_NIBBLE_PATH(thm_s4_nibbles_avx2, THM_TARGET_AVX2, THM_S4_STEP_AVX2)
THM_S4_NIBBLE_PATH(thm_s4_nibbles_vnni, THM_TARGET_AVX512VNNI, THM_S4_STEP_VNNI)

/* The entry of one ISA: prefill through its int8 matmul, decode on nibbles. */
#define THM_S4_ENTRY(name, s8, nibbles)                                                             \
    void name(const int8_t *x, const uint8_t *w4, const int32_t *bias, const int32_t *mult,         \
              const int32_t *shift, int8_t *y, int32_t M, int32_t K, int32_t N)                    \
    {                                                                                              \
        if (M >= THM_S4_UNPACK_MIN_M && K <= THM_S4_WBUF)                                          \
            thm_s4_by_unpacking(s8, x, w4, bias, mult, shift, y, M, K, N);                         \
        else if (K <= THM_S4_XK)                                                                   \
            nibbles(x, w4, bias, mult, shift, y, M, K, N);                                         \
        else                                                                                       \
            thm_matmul_s4_portable(x, w4, bias, mult, shift, y, M, K, N);                          \
    }

THM_S4_ENTRY(thm_matmul_s4_avx2, thm_matmul_s8_avx2, thm_s4_nibbles_avx2)
THM_S4_ENTRY(thm_matmul_s4_avx512vnni, thm_matmul_s8_avx512vnni, thm_s4_nibbles_vnni)
