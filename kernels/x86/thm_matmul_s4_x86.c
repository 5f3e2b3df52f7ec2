/* x86 int4-weight matmul (W4A8), AVX2 and AVX-512 VNNI: the bits of
 * thm_matmul_s4_portable (and of thm_matmul_s8 on the unpacked weights).
 *
 * Two paths, by M:
 *  - M >= THM_S4_UNPACK_MIN_M (prefill): a chunk of weight rows is unpacked to
 *    int8 on the stack once and multiplied by blocks of rows of x through the
 *    ISA's own int8 matmul (its packed VNNI panels or AVX2 tiles), which then
 *    does all the work: unpacking costs one pass over the chunk, shared by
 *    every row of x.
 *  - smaller M (decode): nibbles are used where they lie (AVX-512: 4 rows of
 *    w by up to 4 of x, 128 k a step in zmm, masked loads for the K tail). A byte holds weight
 *    2j (low nibble) and 2j + 1 (high nibble), so x is split once into its
 *    even and odd elements, and 32 bytes of a weight row give 64 products
 *    with two masks and a shift. The nibbles enter the unsigned side of
 *    vpmaddubsw / vpdpbusd as u = w + 8 (w ^ 8 per nibble, in [0, 15]), so a
 *    row sums (w + 8) x and x . w = sum (w + 8) x - 8 sum x, the sum of x
 *    taken once per row of x. AVX2's vpmaddubsw pair sums are at most
 *    2 * 15 * 128 = 3840 (it never saturates) and two are added in int16
 *    before vpmaddwd widens them. K past the last whole 64 is done in scalar.
 *
 * Stack: unpack path 32 KiB of weights + 64 KiB of outputs; nibble path x
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
#define THM_S4_MB 256           /* rows of x per call of the int8 matmul (each call packs its panel) */
#define THM_S4_NB_MAX 64        /* weight rows per chunk, at most */
#define THM_S4_XK 4096          /* the nibble path's largest K */
#define THM_S4_MR 4             /* rows of x per pass over a weight row */


/* Rows [n0, n0 + nb) of w4 as int8 [nb, K]: 16 bytes at a time in SSE2
 * (mask, shift, sign by (n ^ 8) - 8, interleave), the row's rest in C. */
static void thm_s4_unpack(const uint8_t *w4, size_t row, int32_t K, int32_t nb, int8_t *w8)
{
    const __m128i m0f = _mm_set1_epi8(0x0F), m8 = _mm_set1_epi8(8);
    for (int32_t n = 0; n < nb; n++) {
        const uint8_t *b = w4 + (size_t)n * row;
        int8_t *o = w8 + (size_t)n * K;
        int32_t j = 0;
        for (; 2 * (j + 16) <= K; j += 16) {
            const __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(b + j));
            const __m128i lo = _mm_sub_epi8(_mm_xor_si128(_mm_and_si128(v, m0f), m8), m8);
            const __m128i hi = _mm_sub_epi8(_mm_xor_si128(_mm_and_si128(_mm_srli_epi16(v, 4), m0f), m8), m8);
            _mm_storeu_si128((__m128i *)(void *)(o + 2 * j), _mm_unpacklo_epi8(lo, hi));
            _mm_storeu_si128((__m128i *)(void *)(o + 2 * j + 16), _mm_unpackhi_epi8(lo, hi));
        }
        for (; 2 * j + 1 < K; j++) {
            o[2 * j] = (int8_t)thm_s4_lo(b[j]);
            o[2 * j + 1] = (int8_t)thm_s4_hi(b[j]);
        }
        if (K & 1) o[K - 1] = (int8_t)thm_s4_lo(b[j]);
    }
}

/* The prefill path over the ISA's int8 matmul entries (s8 for int8 out, s32
 * for y32, the int32 out). */
static void thm_s4_by_unpacking(thm_matmul_s8_fn s8, thm_matmul_s32_fn s32, const int8_t *x,
                                const uint8_t *w4, const int32_t *bias, const int32_t *mult,
                                const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K,
                                int32_t N)
{
    int8_t w8[THM_S4_WBUF] __attribute__((aligned(64)));
    int32_t yt[THM_S4_MB * THM_S4_NB_MAX] __attribute__((aligned(64)));     /* int8 or int32 outputs */
    const size_t row = (size_t)(K + 1) / 2;
    int32_t nb = THM_S4_WBUF / K;
    if (nb > THM_S4_NB_MAX) nb = THM_S4_NB_MAX;
    for (int32_t n0 = 0; n0 < N; n0 += nb) {
        const int32_t nc = N - n0 < nb ? N - n0 : nb;
        thm_s4_unpack(w4 + (size_t)n0 * row, row, K, nc, w8);
        for (int32_t m0 = 0; m0 < M; m0 += THM_S4_MB) {
            const int32_t mc = M - m0 < THM_S4_MB ? M - m0 : THM_S4_MB;
            const int32_t *b = bias ? bias + n0 : 0;
            if (y32) {
                s32(x + (size_t)m0 * K, w8, b, yt, mc, K, nc);
                for (int32_t m = 0; m < mc; m++)
                    memcpy(y32 + (size_t)(m0 + m) * N + n0, yt + (size_t)m * nc, 4 * (size_t)nc);
            } else {
                s8(x + (size_t)m0 * K, w8, b, mult + n0, shift + n0, (int8_t *)yt, mc, K, nc);
                for (int32_t m = 0; m < mc; m++)
                    memcpy(y + (size_t)(m0 + m) * N + n0, (int8_t *)yt + (size_t)m * nc, (size_t)nc);
            }
        }
    }
}

/* The epilogue of output (m, n): + bias, then int32 out (y32) or requantized int8. */
static inline void thm_s4_store(uint32_t acc, int32_t m, int32_t n, int32_t N, const int32_t *bias,
                                const int32_t *mult, const int32_t *shift, int8_t *y, int32_t *y32)
{
    if (bias) acc += (uint32_t)bias[n];
    if (y32) y32[(size_t)m * N + n] = (int32_t)acc;
    else y[(size_t)m * N + n] = thm_sat8(thm_requantize((int32_t)acc, mult[n], shift[n]));
}

/* The nibble path, once per ISA: STEP(acc, u, xv) adds the products of 32
 * unsigned bytes u and 32 signed bytes xv to eight int32 lanes. */
#define THM_S4_NIBBLE_PATH(name, TARGET, STEP)                                                      \
    static TARGET void name(const int8_t *x, const uint8_t *w4, const int32_t *bias,                \
                            const int32_t *mult, const int32_t *shift, int8_t *y, int32_t *y32,    \
                            int32_t M, int32_t K, int32_t N)                                       \
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
                    thm_s4_store((uint32_t)v[i] - 8u * (uint32_t)sx[i]                                      \
                                 + (uint32_t)thm_s4_dot_from(x + (size_t)(m0 + i) * K, w, K64, K), m0 + i, n, N, \
                                 bias, mult, shift, y, y32);                                       \
            }                                                                                      \
        }                                                                                          \
    }

#define THM_S4_STEP_AVX2(acc, u, xv) \
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, xv), _mm256_set1_epi16(1)))
#define THM_S4_STEP_VNNI(acc, u, xv) acc = _mm256_dpbusd_epi32(acc, u, xv)

THM_S4_NIBBLE_PATH(thm_s4_nibbles_avx2, THM_TARGET_AVX2, THM_S4_STEP_AVX2)

/* The AVX-512 nibble path: MR rows of x against 4 rows of w, 128 k (64 bytes
 * of a weight row) per step in zmm, no scalar tail: the last step's weight
 * bytes are a masked load (zeros, which become nibbles 8 and weigh 0 against
 * the zero padding of the split x; an odd K's padding nibble meets x = 0 too). */
static THM_TARGET_AVX512VNNI void thm_s4_nibbles_vnni(const int8_t *x, const uint8_t *w4, const int32_t *bias,
                                                      const int32_t *mult, const int32_t *shift, int8_t *y,
                                                      int32_t *y32, int32_t M, int32_t K, int32_t N)
{
    int8_t xs[THM_S4_MR][2][THM_S4_XK / 2] __attribute__((aligned(64)));
    int32_t sx[THM_S4_MR];
    const size_t row = (size_t)(K + 1) / 2;
    const int32_t J = (int32_t)row, Jp = (J + 63) & ~63;       /* bytes per row, padded to 64 */
    const __m512i m0f = _mm512_set1_epi8(0x0F), m88 = _mm512_set1_epi8((char)0x88);
    if (N < 4) {
        if (y32) thm_matmul_s4_s32_portable(x, w4, bias, y32, M, K, N);
        else thm_matmul_s4_portable(x, w4, bias, mult, shift, y, M, K, N);
        return;
    }
    for (int32_t m0 = 0; m0 < M; m0 += THM_S4_MR) {
        const int32_t mr = M - m0 < THM_S4_MR ? M - m0 : THM_S4_MR;
        for (int32_t i = 0; i < mr; i++) {
            const int8_t *xr = x + (size_t)(m0 + i) * K;
            memset(xs[i][0] + (J & ~15), 0, (size_t)(Jp - (J & ~15)));
            memset(xs[i][1] + (J & ~15), 0, (size_t)(Jp - (J & ~15)));
            /* even and odd bytes of 32 x: a byte shuffle within each lane, then the lanes' halves */
            const __m256i split = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15,
                                                   0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
            __m256i s16 = _mm256_setzero_si256();
            int32_t k = 0;
            for (; k + 32 <= K; k += 32) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(xr + k));
                const __m256i t = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(v, split), 0xD8);
                _mm_storeu_si128((__m128i *)(void *)&xs[i][0][k / 2], _mm256_castsi256_si128(t));
                _mm_storeu_si128((__m128i *)(void *)&xs[i][1][k / 2], _mm256_extracti128_si256(t, 1));
                s16 = _mm256_add_epi64(s16, _mm256_sad_epu8(_mm256_xor_si256(v, _mm256_set1_epi8((char)0x80)),
                                                            _mm256_setzero_si256()));
            }
            /* sad of x ^ 0x80 sums x + 128 */
            int64_t s = _mm256_extract_epi64(s16, 0) + _mm256_extract_epi64(s16, 1) + _mm256_extract_epi64(s16, 2)
                        + _mm256_extract_epi64(s16, 3) - 128 * (int64_t)k;
            for (; k < K; k++) {
                xs[i][k & 1][k >> 1] = xr[k];
                s += xr[k];
            }
            sx[i] = (int32_t)s;
        }
        for (int32_t n = 0; n < N; n += 4) {
            const int32_t n0 = n + 4 <= N ? n : N - 4;          /* ragged N: redo, store the new */
            __m512i acc[THM_S4_MR][4];
            for (int32_t i = 0; i < THM_S4_MR; i++)
                for (int j = 0; j < 4; j++) acc[i][j] = _mm512_setzero_si512();
            for (int32_t jb = 0; jb < J; jb += 64) {
                const __mmask64 km = J - jb >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << (J - jb)) - 1);
                __m512i lo[4], hi[4];
                for (int j = 0; j < 4; j++) {
                    const __m512i u = _mm512_xor_si512(
                        _mm512_maskz_loadu_epi8(km, w4 + (size_t)(n0 + j) * row + jb), m88);
                    lo[j] = _mm512_and_si512(u, m0f);
                    hi[j] = _mm512_and_si512(_mm512_srli_epi16(u, 4), m0f);
                }
                for (int32_t i = 0; i < mr; i++) {
                    const __m512i xe = _mm512_load_si512((const void *)&xs[i][0][jb]);
                    const __m512i xo = _mm512_load_si512((const void *)&xs[i][1][jb]);
                    for (int j = 0; j < 4; j++)
                        acc[i][j] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(acc[i][j], lo[j], xe), hi[j], xo);
                }
            }
            for (int32_t i = 0; i < mr; i++) {
                int32_t v[4];
#define THM_S4_HALVES(a) _mm256_add_epi32(_mm512_castsi512_si256(a), _mm512_extracti64x4_epi64(a, 1))
                _mm_storeu_si128((__m128i *)(void *)v,
                                 thm_avx2_reduce4(THM_S4_HALVES(acc[i][0]), THM_S4_HALVES(acc[i][1]),
                                                  THM_S4_HALVES(acc[i][2]), THM_S4_HALVES(acc[i][3])));
#undef THM_S4_HALVES
                for (int32_t j = n - n0; j < 4; j++)
                    thm_s4_store((uint32_t)v[j] - 8u * (uint32_t)sx[i], m0 + i, n0 + j, N, bias, mult, shift, y, y32);
            }
        }
    }
}

/* The core of one ISA: prefill through its int8 matmul, decode on nibbles. */
#define THM_S4_CORE(name, s8, s32, nibbles)                                                         \
    static void name(const int8_t *x, const uint8_t *w4, const int32_t *bias, const int32_t *mult,  \
                     const int32_t *shift, int8_t *y, int32_t *y32, int32_t M, int32_t K, int32_t N) \
    {                                                                                              \
        if (M >= THM_S4_UNPACK_MIN_M && K <= THM_S4_WBUF)                                          \
            thm_s4_by_unpacking(s8, s32, x, w4, bias, mult, shift, y, y32, M, K, N);               \
        else if (K <= THM_S4_XK)                                                                   \
            nibbles(x, w4, bias, mult, shift, y, y32, M, K, N);                                    \
        else if (y32)                                                                              \
            thm_matmul_s4_s32_portable(x, w4, bias, y32, M, K, N);                                 \
        else                                                                                       \
            thm_matmul_s4_portable(x, w4, bias, mult, shift, y, M, K, N);                          \
    }

THM_S4_CORE(thm_s4_avx2, thm_matmul_s8_avx2, thm_matmul_s8_s32_avx2, thm_s4_nibbles_avx2)
THM_S4_CORE(thm_s4_avx512vnni, thm_matmul_s8_avx512vnni, thm_matmul_s8_s32_avx512vnni, thm_s4_nibbles_vnni)
THM_MATMUL_S4_ENTRIES(avx2, thm_s4_avx2)
THM_MATMUL_S4_ENTRIES(avx512vnni, thm_s4_avx512vnni)
