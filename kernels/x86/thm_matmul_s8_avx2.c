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
 * Two paths:
 *  - packed (M >= THM_AVX2_PACK_MIN_M and K <= THM_AVX2_PACK_KMAX; prefill):
 *    rows of x are widened to int16 once per row block (THM_AVX2_XBUF), and a
 *    panel of 16 output channels is packed on the stack as k pairs,
 *    [K/2][16 channels][2] int16 (pairs of int8 transposed, then widened;
 *    see thm_avx2_pack). A 6 x 16 register tile (12 accumulators of 8 channels)
 *    multiplies it with a pair of a row of x broadcast to every lane: one lane
 *    per output channel, so no horizontal sums and no widening in the loop,
 *    24 vector instructions per 192 multiply-adds (vpmaddwd + vpaddd; the
 *    dot path below needs 26 plus its row addressing, ~35 in all).
 *  - dot (small M, the decode GEMV included; long K): below.
 *
 * Dot path layout: the caller's, nothing is packed. A tile of MR rows of x and NR rows
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
 * Stack: packed path 256 KiB of widened x (the host's threads have MiBs) + a 32 KiB panel + a [6][16] int32
 * tile; dot path x16 [6][2048] int16 (24 KiB) + strip [6][56] int32 + 16-byte
 * tails. No other memory.
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

/* an int32 view of a pair of int16 of x, read as one broadcast lane */
typedef int32_t thm_i32a __attribute__((may_alias, aligned(2)));

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

/* --- packed path --------------------------------------------------------- */

#define THM_AVX2_PACK_MIN_M 8       /* smallest M for the packed path */
#define THM_AVX2_PNB 16             /* panel width: 2 vectors of 8 channels */
#define THM_AVX2_XBUF (128 * 1024)  /* int16 of widened rows of x: 256 rows of K 512 */

/* Panel P[k/2][16][2] int16 (as dwords: P[k/2 * 16 + c]) of rows
 * w[0 .. ncols) (stride K) over k < Kp (a multiple of 32); zero wherever the
 * channel or k is outside, so padded products add nothing. Nothing past a
 * row of w is read.
 *
 * The transpose moves pairs of int8 (16-bit units) before widening them,
 * which halves its shuffles: 8 rows of 32 bytes (16 pairs) go through three
 * rounds of in-lane unpacks (16-, 32-, 64-bit), leaving in d[u] the pair u
 * (low lane) and u + 8 (high lane) of the 8 channels; each lane is then
 * widened straight into its row of the panel. 40 shuffles per 256 weights
 * where a dword transpose after widening takes 64 (all on one port). */
/* Rows v * 8 .. v * 8 + 7 of w at k = kb .. kb + 31 where some are past
 * ncols or K: zero-padded copies (out of the pack's loop, which stays lean). */
static __attribute__((noinline)) void thm_avx2_pack_edge(const int8_t *w, int32_t K, int32_t ncols, int32_t v,
                                                         int32_t kb, int8_t r[8][32])
{
    memset(r, 0, 8 * 32);
    for (int i = 0; i < 8; i++) {
        const int32_t n = v * 8 + i;
        if (n < ncols && kb < K) memcpy(r[i], w + (size_t)n * K + kb, (size_t)(K - kb < 32 ? K - kb : 32));
    }
}

static THM_TARGET_AVX2 void thm_avx2_pack(const int8_t *w, int32_t K, int32_t ncols, int32_t Kp,
                                          int32_t *P, int prefetch_next)
{
    for (int32_t v = 0; v < THM_AVX2_PNB / 8; v++) {
        const int8_t *wv = w + (size_t)v * 8 * K;
        const int whole = ncols - v * 8 >= 8;
        for (int32_t kb = 0; kb < Kp; kb += 32) {
            __m256i r[8], lo[4], hi[4], c[8], d[8];
            if (whole && kb + 32 <= K) {
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_si256(THM_V256(wv + (size_t)i * K + kb));
                /* the next panel's rows into L2 while this one packs: weights
                 * stream from memory in rows of only K bytes, too short for the
                 * hardware prefetcher (a hint: never faults) */
                if (prefetch_next && (kb & 63) == 0)
#pragma GCC unroll 8
                    for (int i = 0; i < 8; i++)
                        _mm_prefetch((const char *)(wv + (size_t)(THM_AVX2_PNB + i) * K + kb), _MM_HINT_T1);
            } else {
                int8_t e[8][32] __attribute__((aligned(32)));
                thm_avx2_pack_edge(w, K, ncols, v, kb, e);
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++) r[i] = _mm256_load_si256(THM_V256(e[i]));
            }
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                lo[j] = _mm256_unpacklo_epi16(r[2 * j], r[2 * j + 1]);     /* units 0..3 of rows 2j, 2j+1 */
                hi[j] = _mm256_unpackhi_epi16(r[2 * j], r[2 * j + 1]);     /* units 4..7 */
            }
#pragma GCC unroll 2
            for (int h = 0; h < 2; h++) {                                  /* rows 0..3, then 4..7 */
                c[4 * h + 0] = _mm256_unpacklo_epi32(lo[2 * h], lo[2 * h + 1]);   /* units 0, 1 */
                c[4 * h + 1] = _mm256_unpackhi_epi32(lo[2 * h], lo[2 * h + 1]);   /* units 2, 3 */
                c[4 * h + 2] = _mm256_unpacklo_epi32(hi[2 * h], hi[2 * h + 1]);   /* units 4, 5 */
                c[4 * h + 3] = _mm256_unpackhi_epi32(hi[2 * h], hi[2 * h + 1]);   /* units 6, 7 */
            }
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++) {
                d[2 * q] = _mm256_unpacklo_epi64(c[q], c[4 + q]);
                d[2 * q + 1] = _mm256_unpackhi_epi64(c[q], c[4 + q]);
            }
            int32_t *dst = P + (size_t)(kb / 2) * THM_AVX2_PNB + v * 8;
#pragma GCC unroll 8
            for (int u = 0; u < 8; u++) {
                _mm256_store_si256((__m256i *)(void *)(dst + (size_t)u * THM_AVX2_PNB),
                                   _mm256_cvtepi8_epi16(_mm256_castsi256_si128(d[u])));
                _mm256_store_si256((__m256i *)(void *)(dst + (size_t)(u + 8) * THM_AVX2_PNB),
                                   _mm256_cvtepi8_epi16(_mm256_extracti128_si256(d[u], 1)));
            }
        }
    }
}

/* Rows x16[0 .. MR) (int16, stride ldx) times the panel over k < 2 * K2 + odd
 * -> tmp[MR][16] raw sums (int32 lanes, wrapping). With odd, k = 2 * K2 is
 * read alone (nothing past a row of x is read); the panel is zero there on. */
THM_INLINE THM_TARGET_AVX2 void thm_avx2_panel_tile(const int16_t *x16, size_t ldx, int32_t K2, int odd,
                                                    const int32_t *P, const int MR, int32_t *tmp, size_t ldt)
{
    __m256i acc[THM_AVX2_MR][2];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) acc[i][0] = acc[i][1] = _mm256_setzero_si256();
    /* two k pairs a trip, each row read through a fixed base at one shared
     * index: the loop's scalar work (index, panel pointer, branch) shares the
     * vector ports, ~3 instructions a trip where recomputed row addresses
     * took ~9 a k pair. The empty asm pins each accumulator after its add, or
     * GCC adds the two pairs' products first (an extra add each) and spills. */
    const thm_i32a *xr[THM_AVX2_MR];
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) xr[i] = (const thm_i32a *)(const void *)(x16 + i * ldx);
    const int32_t *Pk = P;
#define THM_AVX2_PANEL_STEP(kp_, Pv_)                                              \
    do {                                                                           \
        const __m256i w0 = _mm256_load_si256(THM_V256(Pv_));                      \
        const __m256i w1 = _mm256_load_si256(THM_V256((Pv_) + 8));                 \
        _Pragma("GCC unroll 8") for (int i = 0; i < MR; i++) {                     \
            const __m256i xb = _mm256_set1_epi32(xr[i][kp_]); /* a pair of k */    \
            acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(xb, w0));    \
            acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(xb, w1));    \
            __asm__("" : "+x"(acc[i][0]), "+x"(acc[i][1]));                        \
        }                                                                          \
    } while (0)
    ptrdiff_t kp = 0;                           /* no sign extension in the loop */
    if (MR == THM_AVX2_MR && K2 == 32) {
        /* head size 64 (attention's QK^T): a tile is only 32 k pairs, and
         * the loop's exit, mispredicted once a tile, cost ~3 % of it */
#pragma GCC unroll 16
        for (; kp < 32; kp += 2, Pk += 2 * THM_AVX2_PNB) {
            THM_AVX2_PANEL_STEP(kp, Pk);
            THM_AVX2_PANEL_STEP(kp + 1, Pk + THM_AVX2_PNB);
        }
    }
    for (; kp + 2 <= K2; kp += 2, Pk += 2 * THM_AVX2_PNB) {
        THM_AVX2_PANEL_STEP(kp, Pk);
        THM_AVX2_PANEL_STEP(kp + 1, Pk + THM_AVX2_PNB);
    }
    if (kp < K2) THM_AVX2_PANEL_STEP(kp, Pk);
#undef THM_AVX2_PANEL_STEP
    if (odd) {
        const __m256i w0 = _mm256_load_si256(THM_V256(P + (size_t)K2 * THM_AVX2_PNB));
        const __m256i w1 = _mm256_load_si256(THM_V256(P + (size_t)K2 * THM_AVX2_PNB + 8));
#pragma GCC unroll 8
        for (int i = 0; i < MR; i++) {
            const __m256i xb = _mm256_set1_epi32((uint16_t)x16[i * ldx + 2 * K2]);
            acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(xb, w0));
            acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(xb, w1));
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < MR; i++) {
        _mm256_storeu_si256((__m256i *)(void *)(tmp + i * ldt), acc[i][0]);
        _mm256_storeu_si256((__m256i *)(void *)(tmp + i * ldt + 8), acc[i][1]);
    }
}

#define THM_AVX2_PANEL(MR_)                                                                      \
    static THM_TARGET_AVX2 void thm_avx2_panel_##MR_(const int16_t *x16, size_t ldx, int32_t K2,  \
                                                     int odd, const int32_t *P, int32_t *tmp,    \
                                                     size_t ldt)                                 \
    {                                                                                            \
        thm_avx2_panel_tile(x16, ldx, K2, odd, P, MR_, tmp, ldt);                                \
    }
THM_AVX2_PANEL(1)
THM_AVX2_PANEL(2)
THM_AVX2_PANEL(3)
THM_AVX2_PANEL(4)
THM_AVX2_PANEL(5)
THM_AVX2_PANEL(6)

typedef void (*thm_avx2_panel_fn)(const int16_t *x16, size_t ldx, int32_t K2, int odd, const int32_t *P,
                                  int32_t *tmp, size_t ldt);
static const thm_avx2_panel_fn thm_avx2_panels[THM_AVX2_MR + 1] = {
    0, thm_avx2_panel_1, thm_avx2_panel_2, thm_avx2_panel_3,
    thm_avx2_panel_4, thm_avx2_panel_5, thm_avx2_panel_6};

/* y8[M][N] (stride ldy) = sat8(requantize(x16 . w^T, mult, shift)) for int16
 * rows x16 (stride ldx) and int8 rows w (stride K), sums mod 2^32: attention's
 * P.V (thm_rows_avx2.c), whose products p * v are at most 2^22. K <= THM_AVX2_PACK_KMAX. */
THM_TARGET_AVX2 void thm_avx2_matmul_s16s8_packed(const int16_t *x16, size_t ldx, const int8_t *w, int32_t M,
                                                  int32_t K, int32_t N, int32_t mult, int32_t shift,
                                                  int8_t *y8, size_t ldy)
{
    int32_t P[THM_AVX2_PACK_KMAX / 2 * THM_AVX2_PNB] __attribute__((aligned(32)));
    int32_t tmp[THM_AVX2_MR * THM_AVX2_PNB], m16[THM_AVX2_PNB], s16[THM_AVX2_PNB];
    for (int c = 0; c < THM_AVX2_PNB; c++) m16[c] = mult, s16[c] = shift;
    const int32_t Kp = (K + 31) & ~31;
    for (int32_t n0 = 0; n0 < N; n0 += THM_AVX2_PNB) {
        const int32_t nc = N - n0 < THM_AVX2_PNB ? N - n0 : THM_AVX2_PNB;
        thm_avx2_pack(w + (size_t)n0 * K, K, nc, Kp, P, n0 + 2 * THM_AVX2_PNB <= N);
        for (int32_t m = 0; m < M; m += THM_AVX2_MR) {
            const int32_t mr = M - m < THM_AVX2_MR ? M - m : THM_AVX2_MR;
            thm_avx2_panels[mr](x16 + (size_t)m * ldx, ldx, K / 2, K & 1, P, tmp, THM_AVX2_PNB);
            thm_avx2_epilogue(tmp, THM_AVX2_PNB, mr, nc, 0, m16, s16, y8 + (size_t)m * ldy + n0, 0, ldy);
        }
    }
}

/* Row blocks of x widened once; within one, every panel of 16 channels is
 * packed and run against all its rows, 6 at a time. */
static THM_TARGET_AVX2 void thm_avx2_matmul_packed(const int8_t *x, const int8_t *w, const int32_t *bias,
                                                   const int32_t *mult, const int32_t *shift,
                                                   int8_t *y8, int32_t *y32, int32_t M, int32_t K,
                                                   int32_t N)
{
    int16_t x16[THM_AVX2_XBUF];
    int32_t P[THM_AVX2_PACK_KMAX / 2 * THM_AVX2_PNB] __attribute__((aligned(32)));
    int32_t tmp[THM_AVX2_MR * THM_AVX2_PNB];
    const int32_t Kp = (K + 31) & ~31;   /* the panel's k steps */
    /* rows per block: as many as fit (>= 128), split evenly, since each
     * block packs every panel again */
    const int32_t fit = THM_AVX2_XBUF / Kp, nblk = (M + fit - 1) / fit, mc = (M + nblk - 1) / nblk;
    for (int32_t m0 = 0; m0 < M; m0 += mc) {
        const int32_t mb = M - m0 < mc ? M - m0 : mc;
        thm_avx2_widen_rows(x + (size_t)m0 * K, mb, K, Kp, x16);
        for (int32_t n0 = 0; n0 < N; n0 += THM_AVX2_PNB) {
            const int32_t nc = N - n0 < THM_AVX2_PNB ? N - n0 : THM_AVX2_PNB;
            thm_avx2_pack(w + (size_t)n0 * K, K, nc, Kp, P, n0 + 2 * THM_AVX2_PNB <= N);
            for (int32_t m = 0; m < mb; m += THM_AVX2_MR) {
                const int32_t mr = mb - m < THM_AVX2_MR ? mb - m : THM_AVX2_MR;
                const size_t off = (size_t)(m0 + m) * N + n0;
                if (y32 && !bias && nc == THM_AVX2_PNB) {
                    /* raw sums are the result: straight into y (attention's
                     * QK^T, K = 64: the copy through tmp was ~10% of a tile) */
                    thm_avx2_panels[mr](x16 + (size_t)m * Kp, (size_t)Kp, Kp / 2, 0, P, y32 + off, (size_t)N);
                    continue;
                }
                thm_avx2_panels[mr](x16 + (size_t)m * Kp, (size_t)Kp, Kp / 2, 0, P, tmp, THM_AVX2_PNB);
                thm_avx2_epilogue(tmp, THM_AVX2_PNB, mr, nc, bias ? bias + n0 : 0, mult ? mult + n0 : 0,
                                  shift ? shift + n0 : 0, y8 ? y8 + off : 0, y32 ? y32 + off : 0,
                                  (size_t)N);
            }
        }
    }
}

/* --- dispatch -------------------------------------------------------------- */

static THM_TARGET_AVX2 void thm_avx2_matmul_any(const int8_t *x, const int8_t *w, const int32_t *bias,
                                                const int32_t *mult, const int32_t *shift,
                                                int8_t *y8, int32_t *y32, int32_t M, int32_t K,
                                                int32_t N)
{
    if (M >= THM_AVX2_PACK_MIN_M && K <= THM_AVX2_PACK_KMAX)
        thm_avx2_matmul_packed(x, w, bias, mult, shift, y8, y32, M, K, N);
    else
        thm_avx2_matmul(x, w, bias, mult, shift, y8, y32, M, K, N);
}

THM_MATMUL_ENTRIES(avx2, thm_avx2_matmul_any)
