/* AVX2 int8 matmul: y[M, N] = x[M, K] . w[N, K]^T (+ bias), int32 or requantized
 * int8 out. For x86 hosts without VNNI; docs/kernels-x86.md has the design and
 * the measured figures.
 *
 * Exact for every int8 input: AVX2 has no exact signed int8 x int8 dot product
 * (vpmaddubsw is u8 x s8 and saturates its int16 pair sums), so both operands
 * are widened to int16 and multiplied with vpmaddwd, whose int32 pair sums are
 * at most 2 * 128 * 128 = 2^15. A lane adds K / 16 of them, |lane| <= 2^27,
 * and |x . w| <= 2^30 for K <= 65536. Adds wrap like int32 in C, so a bias that
 * pushes past int32 wraps exactly like the reference.
 *
 * Layout: the caller's, nothing is packed. A tile of MR rows of x and NR rows
 * of w (rows run along K) keeps MR * NR vectors of 8 int32 partial sums, 16 k
 * per step, reduced horizontally once at the end of K. Rows of x are widened
 * once per row block into a stack buffer (K <= THM_AVX2_XK) and feed vpmaddwd
 * as memory operands; rows of w are widened as they are loaded. Tiles fill a
 * strip of THM_AVX2_NB columns of raw sums, which the epilogue adds the bias
 * to and requantizes (vector, exact: thm_x86_simd.h). Columns are visited in
 * chunks whose weights fit in L2, so each row block reuses them from there.
 * For K > THM_AVX2_XK both operands are widened as they are loaded. M = 1
 * (decode) is a GEMV that streams w: its rows are prefetched ahead.
 *
 * Stack: x16 [6][2048] int16 (24 KiB) + strip [6][56] int32 + 16-byte tails.
 * No other memory.
 */
#include <immintrin.h>
#include <string.h>

/* GCC 12's partial redundancy elimination makes the register allocator copy
 * every accumulator once per iteration and spill one (12 extra instructions
 * per 22 in a 4 x 2 tile, -15% measured). Off for this file only. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-pre")
#endif

#include "thm_fixedpoint.h"
#include "thm_impl.h"
#include "thm_x86_simd.h"

#define THM_AVX2_MR 6           /* most rows of x per tile */
#define THM_AVX2_NB 48          /* strip width, a multiple of every tile's NR */
#define THM_AVX2_LDT (THM_AVX2_NB + 8)  /* strip row stride: tiles store 4 or 8 lanes */
#define THM_AVX2_XK 2048        /* widen x up front when K <= this */
#define THM_AVX2_L2_BYTES (256 * 1024)  /* weight bytes per column chunk */
#define THM_AVX2_PF 12          /* M = 1: rows of w prefetched ahead, +40% on a 4 MiB GEMV */

#define THM_V128(p) ((const __m128i *)(const void *)(p))

/* out[i][j] = x[i, :] . w[j, :] for i < MR, j < NR; 4 (NR <= 4) or 8 lanes are
 * stored per out row. X16: x holds int16 rows zero-padded to a multiple of 16
 * (ldx in elements); otherwise int8 rows of length K. MR, NR, X16 are
 * constants after inlining, and every array below lives in registers. */
THM_INLINE THM_TARGET_AVX2 void thm_avx2_tile(const void *x, size_t ldx, const int8_t *w,
                                              size_t ldw, int32_t K, const int MR, const int NR,
                                              const int X16, int32_t *out)
{
    const int8_t *x8 = (const int8_t *)x;
    const int16_t *x16 = (const int16_t *)x;
    __m256i acc[THM_AVX2_MR][8], wv[8], xv;
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++)
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) acc[i][j] = _mm256_setzero_si256();

    /* K tail first, from zero-padded copies (nothing past a row is read), so
     * that the main loop runs straight into the reduction. */
    const int32_t K16 = K & ~15;
    if (K16 < K) {
        const size_t rem = (size_t)(K - K16);
        int8_t t[16];
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) {
            memset(t, 0, sizeof t);
            memcpy(t, w + j * ldw + K16, rem);
            wv[j] = _mm256_cvtepi8_epi16(_mm_loadu_si128(THM_V128(t)));
        }
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            if (X16) {
                xv = _mm256_loadu_si256(THM_V256(x16 + i * ldx + K16));
            } else {
                memset(t, 0, sizeof t);
                memcpy(t, x8 + i * ldx + K16, rem);
                xv = _mm256_cvtepi8_epi16(_mm_loadu_si128(THM_V128(t)));
            }
#pragma GCC unroll 8
            for (int j = 0; j < NR; j++)
                acc[i][j] = _mm256_add_epi32(_mm256_madd_epi16(xv, wv[j]), acc[i][j]);
        }
    }

    for (int32_t k = 0; k < K16; k += 16) {
#pragma GCC unroll 8
        for (int j = 0; j < NR; j++) {
            /* GEMV: the same line THM_AVX2_PF rows on (a hint: never faults) */
            if (MR == 1 && (k & 63) == 0)
                _mm_prefetch((const char *)((uintptr_t)(w + j * ldw + k) + THM_AVX2_PF * ldw),
                             _MM_HINT_T0);
            wv[j] = _mm256_cvtepi8_epi16(_mm_loadu_si128(THM_V128(w + j * ldw + k)));
        }
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            if (!X16) xv = _mm256_cvtepi8_epi16(_mm_loadu_si128(THM_V128(x8 + i * ldx + k)));
#pragma GCC unroll 8
            for (int j = 0; j < NR; j++) {
                if (X16) xv = _mm256_loadu_si256(THM_V256(x16 + i * ldx + k));
                acc[i][j] = _mm256_add_epi32(_mm256_madd_epi16(xv, wv[j]), acc[i][j]);
            }
        }
    }

    const __m256i z = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        if (NR <= 4) {
            _mm_storeu_si128((__m128i *)(void *)(out + i * THM_AVX2_LDT),
                             thm_avx2_reduce4(acc[i][0], NR > 1 ? acc[i][1] : z,
                                              NR > 2 ? acc[i][2] : z, NR > 3 ? acc[i][3] : z));
        } else {
#pragma GCC unroll 8
            for (int j = NR; j < 8; j++) acc[i][j] = z;
            _mm256_storeu_si256((__m256i *)(void *)(out + i * THM_AVX2_LDT),
                                thm_avx2_reduce8(acc[i]));
        }
    }
}

/* One strip: MR rows of x against nb <= THM_AVX2_NB rows of w, NR at a time,
 * then single rows for the last nb % NR. Registers: MR * NR accumulators, NR
 * weight vectors, one x vector (and one product) within the 16 of AVX2. */
#define THM_AVX2_STRIP(MR_, NR_, X16_, NAME)                                              \
    static THM_TARGET_AVX2 void NAME(const void *x, size_t ldx, const int8_t *w,         \
                                     int32_t K, int32_t nb, int32_t *tmp)                 \
    {                                                                                     \
        const size_t ldw = (size_t)K;                                                     \
        int32_t n = 0;                                                                    \
        for (; n + NR_ <= nb; n += NR_)                                                   \
            thm_avx2_tile(x, ldx, w + n * ldw, ldw, K, MR_, NR_, X16_, tmp + n);          \
        for (; n < nb; n++)                                                               \
            thm_avx2_tile(x, ldx, w + n * ldw, ldw, K, MR_, 1, X16_, tmp + n);            \
    }

/* x widened up front (K <= THM_AVX2_XK): x vectors are memory operands */
THM_AVX2_STRIP(6, 2, 1, thm_avx2_strip16_6)
THM_AVX2_STRIP(5, 2, 1, thm_avx2_strip16_5)
THM_AVX2_STRIP(4, 3, 1, thm_avx2_strip16_4)
THM_AVX2_STRIP(3, 3, 1, thm_avx2_strip16_3)
THM_AVX2_STRIP(2, 4, 1, thm_avx2_strip16_2)
THM_AVX2_STRIP(1, 6, 1, thm_avx2_strip16_1)
/* both widened as loaded (long K): an x vector is converted once per row */
THM_AVX2_STRIP(4, 2, 0, thm_avx2_strip8_4)
THM_AVX2_STRIP(3, 3, 0, thm_avx2_strip8_3)
THM_AVX2_STRIP(2, 4, 0, thm_avx2_strip8_2)
THM_AVX2_STRIP(1, 6, 0, thm_avx2_strip8_1)

typedef void (*thm_avx2_strip_fn)(const void *x, size_t ldx, const int8_t *w, int32_t K,
                                  int32_t nb, int32_t *tmp);
static const thm_avx2_strip_fn thm_avx2_strips16[THM_AVX2_MR + 1] = {
    0, thm_avx2_strip16_1, thm_avx2_strip16_2, thm_avx2_strip16_3,
    thm_avx2_strip16_4, thm_avx2_strip16_5, thm_avx2_strip16_6};
static const thm_avx2_strip_fn thm_avx2_strips8[5] = {
    0, thm_avx2_strip8_1, thm_avx2_strip8_2, thm_avx2_strip8_3, thm_avx2_strip8_4};

/* x[mr][K] int8 -> x16[mr][Kp] int16, columns K .. Kp zero. */
static THM_TARGET_AVX2 void thm_avx2_widen_rows(const int8_t *x, int32_t mr, int32_t K,
                                                int32_t Kp, int16_t *x16)
{
    for (int32_t i = 0; i < mr; i++) {
        const int8_t *r = x + (size_t)i * K;
        int16_t *d = x16 + (size_t)i * Kp;
        int32_t k = 0;
        for (; k + 16 <= K; k += 16)
            _mm256_storeu_si256((__m256i *)(void *)(d + k),
                                _mm256_cvtepi8_epi16(_mm_loadu_si128(THM_V128(r + k))));
        for (; k < K; k++) d[k] = r[k];
        for (; k < Kp; k++) d[k] = 0;
    }
}

static THM_TARGET_AVX2 void thm_avx2_matmul(const int8_t *x, const int8_t *w, const int32_t *bias,
                                            const int32_t *mult, const int32_t *shift,
                                            int8_t *y8, int32_t *y32,
                                            int32_t M, int32_t K, int32_t N)
{
    int16_t x16[THM_AVX2_MR * THM_AVX2_XK];        /* [mr][Kp] widened rows of x */
    int32_t tmp[THM_AVX2_MR * THM_AVX2_LDT];       /* [mr][NB + 8] raw sums of a strip */
    const int widen = K <= THM_AVX2_XK;
    const int32_t Kp = (K + 15) & ~15;
    const int32_t mr_max = widen ? THM_AVX2_MR : 4;
    int32_t chunk = THM_AVX2_L2_BYTES / K / THM_AVX2_NB * THM_AVX2_NB;
    if (chunk < THM_AVX2_NB) chunk = THM_AVX2_NB;

    for (int32_t c0 = 0; c0 < N; c0 += chunk) {
        const int32_t c1 = N - c0 < chunk ? N : c0 + chunk;
        for (int32_t m = 0; m < M; m += mr_max) {
            const int32_t mr = M - m < mr_max ? M - m : mr_max;
            const int8_t *xm = x + (size_t)m * K;
            if (widen) thm_avx2_widen_rows(xm, mr, K, Kp, x16);
            const thm_avx2_strip_fn strip = widen ? thm_avx2_strips16[mr] : thm_avx2_strips8[mr];
            const void *xs = widen ? (const void *)x16 : (const void *)xm;
            const size_t ldx = widen ? (size_t)Kp : (size_t)K;
            for (int32_t n = c0; n < c1; n += THM_AVX2_NB) {
                const int32_t nb = c1 - n < THM_AVX2_NB ? c1 - n : THM_AVX2_NB;
                strip(xs, ldx, w + (size_t)n * K, K, nb, tmp);
                const size_t off = (size_t)m * N + n;
                thm_avx2_epilogue(tmp, THM_AVX2_LDT, mr, nb, bias ? bias + n : 0, mult ? mult + n : 0,
                                  shift ? shift + n : 0, y8 ? y8 + off : 0,
                                  y32 ? y32 + off : 0, (size_t)N);
            }
        }
    }
}

THM_MATMUL_ENTRIES(avx2, thm_avx2_matmul)
